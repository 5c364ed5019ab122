"""The monkey of ``test_monkey.py``: what a user does to the window, at random but from a
seed, and what must hold after each thing done.

``Monkey.act()`` does one thing, chosen by weight from ``Monkey.ACTIONS``, through real
mouse and key events where a user would use them (strokes, bar drags, map clicks,
splitters, typed values) and through the window's own actions for menu commands; it
returns a line saying exactly what it did, so that a failure can be read and replayed.
``Monkey.check_followed()`` waits (a bounded time) for the window to catch up and checks
that every view shows the newest drawing and the code shown, and agrees with the others.
"""

from __future__ import annotations

import time

import numpy as np
from gui_helpers import page_to_widget
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QPalette, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDockWidget

from aegui.preprocess import frame_page, to_uint8

__all__ = ["Monkey", "MonkeyFailure"]

MIN_SIZE, MAX_SIZE = (640, 480), (2560, 1600)
FOLLOW_TIMEOUT_S = 30.0        # the views follow the newest drawing within this time


class MonkeyFailure(AssertionError):
    pass


def mouse(widget, kind: QEvent.Type, pos: QPointF, held=Qt.MouseButton.LeftButton,
          button=Qt.MouseButton.LeftButton, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    """One real mouse event sent to ``widget`` at ``pos`` (widget coordinates)."""
    if kind == QEvent.Type.MouseMove:
        button = Qt.MouseButton.NoButton
    if kind == QEvent.Type.MouseButtonRelease:
        held = Qt.MouseButton.NoButton
    QApplication.sendEvent(widget, QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, held, modifiers))


def drag_events(widget, points, button=Qt.MouseButton.LeftButton, pace: bool = False) -> None:
    """Press, move with the button held, release; ``pace``: let the event loop run between
    moves, as it does while a hand drags (a main window's splitter moves on a timer)."""
    mouse(widget, QEvent.Type.MouseButtonPress, points[0], button, button)
    for p in points[1:]:
        mouse(widget, QEvent.Type.MouseMove, p, button)
        if pace:
            QApplication.processEvents()
    mouse(widget, QEvent.Type.MouseButtonRelease, points[-1], button, button)


class Monkey:
    """Drives ``window`` (a MainWindow, shown) with ``rng``; ``models`` are checkpoint
    paths to switch between; exports and drawings go under ``folder``."""

    def __init__(self, window, rng: np.random.Generator, models: list[str], folder):
        self.window, self.rng, self.models, self.folder = window, rng, models, folder
        self.docks = window.findChildren(QDockWidget)
        self.exported = 0
        self.actions = [(getattr(self, name), weight) for name, weight in self.ACTIONS]
        weights = np.array([w for _, w in self.actions], np.float64)
        self.p = weights / weights.sum()
        window.dialogs.confirm = lambda *args: bool(self.rng.random() < 0.7)

    ACTIONS = (("stroke", 30), ("pen", 3), ("undo_redo_clear", 8), ("resize", 3), ("splitter", 4),
               ("dock", 3), ("tab", 5), ("switch_model", 1.5), ("bar_drag", 5), ("typed_value", 4),
               ("map_click", 4), ("map_view", 2), ("pin", 3), ("slider", 3), ("reset_edit", 2), ("collect", 2),
               ("delete_drawings", 1), ("export", 2), ("open_image", 1), ("traversal_pointer", 2), ("manifold", 1),
               ("bars_pointer", 2), ("palette", 0.5), ("reset_layout", 0.5), ("dialogs", 0.5))

    def act(self) -> str:
        action = self.actions[self.rng.choice(len(self.actions), p=self.p)][0]
        return action()

    # ------------------------------------------------------------------ drawing

    def stroke(self) -> str:
        canvas, rng = self.window.canvas, self.rng
        kind = rng.choice(["dot", "short", "long", "wild"], p=[0.15, 0.4, 0.35, 0.1])
        count = {"dot": 1, "short": int(rng.integers(2, 8)), "long": int(rng.integers(8, 50)),
                 "wild": int(rng.integers(3, 20))}[kind]
        start = rng.uniform(40, 470, 2)
        step = {"dot": 0, "short": 12, "long": 18, "wild": 160}[kind]
        points = start + np.cumsum(rng.normal(0, step, (count, 2)), axis=0) if count > 1 else start[None]
        if kind == "wild":                 # off the page and off the canvas too
            points = np.clip(points, -200, 700)
        else:
            points = np.clip(points, 4, 508)
        widget_points = [page_to_widget(canvas, x, y) for x, y in points]
        drag_events(canvas, widget_points if len(widget_points) > 1 else widget_points * 2)
        return f"stroke {kind}: {len(points)} points from ({points[0][0]:.0f}, {points[0][1]:.0f})"

    def pen(self) -> str:
        tools = self.window.tools
        choice = self.rng.integers(3)
        if choice == 0:
            width = int(self.rng.integers(2, 121))
            tools.width_spin.setValue(width)
            return f"pen width {width}"
        if choice == 1:
            tools.eraser_action.trigger()
            return "eraser"
        tools.pen_action.trigger()
        return "pen"

    def undo_redo_clear(self) -> str:
        tools = self.window.tools
        action = self.rng.choice(["undo", "undo", "redo", "clear"])
        getattr(tools, f"{action}_action").trigger()
        return action

    # ------------------------------------------------------------------ the window's layout

    def resize(self) -> str:
        w = int(self.rng.integers(MIN_SIZE[0], MAX_SIZE[0] + 1))
        h = int(self.rng.integers(MIN_SIZE[1], MAX_SIZE[1] + 1))
        self.window.resize(w, h)
        return f"resize to {w}x{h}"

    def splitter(self) -> str:
        """Drag the separator beside a docked dock with the mouse, as a user would."""
        window = self.window
        docked = [d for d in self.docks if d.isVisible() and not d.isFloating() and not d.visibleRegion().isEmpty()]
        if not docked:
            return "splitter: no docked dock"
        dock = docked[int(self.rng.integers(len(docked)))]
        rect = dock.geometry()
        vertical = bool(self.rng.integers(2))
        if vertical:
            start = QPointF(rect.center().x(), rect.top() - 3)
            end = start + QPointF(0, float(self.rng.normal(0, 120)))
        else:
            start = QPointF(rect.left() - 3, rect.center().y())
            end = start + QPointF(float(self.rng.normal(0, 160)), 0)
        if window.childAt(start.toPoint()) is not None:
            return f"splitter: none beside {dock.objectName()}"
        path = [start + (end - start) * t for t in np.linspace(0, 1, 6)]
        before = dock.geometry()
        drag_events(window, path, pace=True)
        moved = "moved it" if dock.geometry() != before else "it stayed"
        return f"splitter beside {dock.objectName()} dragged by ({end.x() - start.x():.0f}, " \
               f"{end.y() - start.y():.0f}): {moved}"

    def dock(self) -> str:
        dock = self.docks[int(self.rng.integers(len(self.docks)))]
        what = self.rng.choice(["close", "show", "float", "unfloat"])
        if what == "close":
            dock.close()
        elif what == "show":
            dock.show()
            dock.raise_()
        elif what == "float":
            dock.setFloating(True)
        else:
            dock.setFloating(False)
        return f"dock {dock.objectName()}: {what}"

    def tab(self) -> str:
        window = self.window
        tabs = [window.interpolation_dock, window.traversal_dock, window.manifold_dock, window.drawings_dock]
        dock = tabs[int(self.rng.integers(len(tabs)))]
        dock.raise_()
        return f"tab {dock.objectName()}"

    def reset_layout(self) -> str:
        self.window.reset_layout_action.trigger()
        return "View > Reset Layout"

    def palette(self) -> str:
        app = QApplication.instance()
        dark = bool(self.rng.integers(2))
        palette = app.style().standardPalette()
        if dark:
            for role, colour in ((QPalette.ColorRole.Window, "#2b2b2b"), (QPalette.ColorRole.Base, "#1e1e1e"),
                                 (QPalette.ColorRole.Text, "#e8e8e8"), (QPalette.ColorRole.WindowText, "#e8e8e8")):
                palette.setColor(role, colour)
        app.setPalette(palette)
        return f"palette {'dark' if dark else 'light'}"

    # ------------------------------------------------------------------ models and the code

    def switch_model(self) -> str:
        path = self.models[int(self.rng.integers(len(self.models)))]
        self.window.models.open_model(path)
        return f"model {path.rsplit('/', 1)[-1]}"

    def _bars_point(self, index: float, value: float) -> QPointF:
        bars = self.window.latent_panel.bars
        box = bars.getPlotItem().getViewBox()
        return QPointF(bars.mapFromScene(box.mapViewToScene(QPointF(index, value))))

    def bar_drag(self) -> str:
        bars, info = self.window.latent_panel.bars, self.window.session.info
        if info is None or not bars.isVisible():
            return "bar drag: no bars"
        dim = int(self.rng.integers(info.latent_dim))
        start, end = (float(v) for v in self.rng.uniform(-1.2, 1.2, 2) * bars.limit)
        points = [self._bars_point(dim, start + (end - start) * t) for t in np.linspace(0, 1, 7)]
        drag_events(bars.viewport(), points)
        return f"bar {dim} dragged {start:+.2f} -> {end:+.2f}"

    def bars_pointer(self) -> str:
        bars, info = self.window.latent_panel.bars, self.window.session.info
        if info is None or not bars.isVisible():
            return "bars pointer: no bars"
        if self.rng.random() < 0.3:
            QApplication.sendEvent(bars.viewport(), QEvent(QEvent.Type.Leave))
            QApplication.sendEvent(bars, QEvent(QEvent.Type.Leave))
            return "pointer left the bars"
        dim = int(self.rng.integers(info.latent_dim))
        mouse(bars.viewport(), QEvent.Type.MouseMove, self._bars_point(dim, 0.0), Qt.MouseButton.NoButton)
        return f"pointer over bar {dim}"

    def typed_value(self) -> str:
        panel, info = self.window.latent_panel, self.window.session.info
        if info is None:
            return "typed value: no model"
        dim = int(self.rng.integers(info.latent_dim))
        value = float(self.rng.choice([self.rng.normal(0, 1), self.rng.normal(0, 4), -4.0, 1000.0]))
        panel.dim_spin.setValue(dim)
        spin = panel.value_spin
        spin.selectAll()
        QTest.keyClicks(spin, f"{value:.3f}")
        QTest.keyClick(spin, Qt.Key.Key_Return)
        return f"typed z[{dim}] = {value:.3f}"

    def map_click(self) -> str:
        latent_map = self.window.map_panel.map
        if not latent_map.isVisible():
            return "map click: map hidden"
        w, h = latent_map.viewport().width(), latent_map.viewport().height()
        p = QPoint(int(self.rng.integers(max(w, 1))), int(self.rng.integers(max(h, 1))))
        QTest.mouseClick(latent_map.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, p)
        return f"map clicked at ({p.x()}, {p.y()}) of {w}x{h}"

    def map_view(self) -> str:
        """Zoom with the wheel, pan with a drag, reset, or choose the other view."""
        panel = self.window.map_panel
        latent_map, what = panel.map, self.rng.choice(["wheel", "pan", "reset", "view"])
        viewport = latent_map.viewport()
        if not latent_map.isVisible():
            return "map view: map hidden"
        centre = QPointF(self.rng.uniform(0, viewport.width()), self.rng.uniform(0, viewport.height()))
        if what == "wheel":
            steps = int(self.rng.choice([-3, -1, 1, 3]))
            QApplication.sendEvent(viewport, QWheelEvent(centre, viewport.mapToGlobal(centre), QPoint(0, 0),
                                                         QPoint(0, 120 * steps), Qt.MouseButton.NoButton,
                                                         Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                                                         False))
            return f"map wheel {steps:+d} at ({centre.x():.0f}, {centre.y():.0f})"
        if what == "pan":
            end = centre + QPointF(*self.rng.normal(0, 60, 2))
            drag_events(viewport, [centre + (end - centre) * t for t in np.linspace(0, 1, 6)], pace=True)
            return f"map panned by ({end.x() - centre.x():.0f}, {end.y() - centre.y():.0f})"
        if what == "reset":
            panel.reset_view.click()
            return "map view reset"
        choice = panel.view_choice
        if not choice.isEnabled() or choice.count() < 2:
            return "map view: one view only"
        index = int(self.rng.integers(choice.count()))
        choice.setCurrentIndex(index)
        choice.activated.emit(index)
        return f"map view {choice.itemData(index)}"

    def reset_edit(self) -> str:
        self.window.latent_views.reset_action.trigger()
        return "reset to drawing"

    # ------------------------------------------------------------------ interpolation and sweeps

    def pin(self) -> str:
        which = str(self.rng.choice(["a", "b"]))
        (self.window.interpolation.pin_a_action if which == "a" else self.window.interpolation.pin_b_action).trigger()
        return f"pin {which}"

    def slider(self) -> str:
        slider = self.window.interpolation_panel.slider
        value = int(self.rng.integers(slider.minimum(), slider.maximum() + 1))
        slider.setValue(value)
        return f"slider to {value}"

    def traversal_pointer(self) -> str:
        grid = self.window.traversal_dock.widget().grid
        if not grid.isVisible() or not grid.shape[0]:
            return "traversal: not shown"
        row, col = int(self.rng.integers(grid.shape[0])), int(self.rng.integers(grid.shape[1]))
        centre = grid.cell_rect(row, col).center()
        if self.rng.random() < 0.5:
            mouse(grid, QEvent.Type.MouseMove, centre, Qt.MouseButton.NoButton)
            return f"pointer over traversal cell {row}, {col}"
        QTest.mouseClick(grid, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, centre.toPoint())
        return f"traversal cell {row}, {col} clicked"

    def manifold(self) -> str:
        panel = self.window.manifold_dock.widget()
        if self.rng.random() < 0.5 and panel.grid.isVisible() and panel.grid.shape[0]:
            row, col = (int(self.rng.integers(n)) for n in panel.grid.shape)
            QTest.mouseClick(panel.grid, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                             panel.grid.cell_rect(row, col).center().toPoint())
            return f"manifold cell {row}, {col} clicked"
        size = int(self.rng.integers(2, 16))
        panel.size_spin.setValue(size)
        return f"manifold size {size}"

    # ------------------------------------------------------------------ files

    def collect(self) -> str:
        hand = self.window.handwriting
        if not hand.collect_action.isChecked() or self.rng.random() < 0.2:
            hand.collect_action.trigger()
            return f"collect mode {'on' if hand.collect_action.isChecked() else 'off'}"
        digit = int(self.rng.integers(10))
        hand.digit_actions[digit].trigger()
        return f"saved as {digit}"

    def delete_drawings(self) -> str:
        panel = self.window.handwriting.panel
        if self.rng.random() < 0.3:
            return f"undo delete: {panel.undo_delete()} back"
        panel.show_digit(int(self.rng.integers(10)))
        items = [panel.list.item(i) for i in range(panel.list.count())]
        if not items:
            return f"delete: no drawings of a {panel.digit}"
        for item in items:
            item.setSelected(bool(self.rng.random() < 0.5))
        return f"delete drawings of a {panel.digit}: {panel.delete_selected()} deleted"

    def open_image(self) -> str:
        saved = sorted(self.folder.glob("*.png"))
        if not saved:
            return "open image: none saved yet"
        path = saved[int(self.rng.integers(len(saved)))]
        opened = self.window.tools.open_image(str(path))
        return f"open image {path.name}: {'opened' if opened else 'refused'}"

    def dialogs(self) -> str:
        window = self.window
        if self.rng.random() < 0.5:
            dialog = window.about(int(self.rng.integers(2)))
            dialog.close()
            return "About opened and closed"
        dialog = window.handwriting.open_fine_tune()
        dialog.close()
        return "fine-tune dialog opened and closed"

    def export(self) -> str:
        exports = self.window.exports
        self.exported += 1
        what = self.rng.choice(["images", "csv", "json", "map", "manifold", "strip png", "strip gif", "drawing"])
        path = str(self.folder / f"export-{self.exported}")   # no extension: the app adds it
        if what == "images":
            exports.export_images(path)
        elif what in ("csv", "json"):
            exports.export_latent(str(what), path)
        elif what == "map":
            exports.export_map(path)
        elif what == "manifold":
            exports.export_manifold(path)
        elif what == "drawing":
            self.window.tools.save_drawing(path)
        else:
            exports.export_strip(str(what).split()[1], path)
        return f"export {what} to {path}"

    # ------------------------------------------------------------------ invariants

    def check_followed(self) -> float:
        """Wait until the window has caught up, then check that every view follows the
        newest drawing and the code shown; returns how long catching up took."""
        window = self.window
        started = time.perf_counter()
        if not _settled(window, FOLLOW_TIMEOUT_S):
            raise MonkeyFailure(f"the window did not catch up within {FOLLOW_TIMEOUT_S:.0f} s")
        took = time.perf_counter() - started
        session = window.session
        info, drawing = session.info, session.drawing
        if info is None:
            raise MonkeyFailure("no model loaded")
        # Framed as the app frames it (preprocess.frame_page: mnist_style's C++ twin once the
        # op's library is loaded, within 1e-6 of it, tests/test_preprocess.py), so that the
        # view's grey levels compare exactly.
        frame = frame_page(window.document.raster())
        _same("the model input (session) vs the drawing framed now", drawing.frame, frame, 1e-6)
        _same("the model input view", window.network.model_input.pixels(), to_uint8(frame))
        output = session.output
        _same("the reconstruction view", window.network.reconstruction.pixels(), to_uint8(output.image))
        if not session.edit.is_edited:
            _same("the reconstruction shown vs the drawing's", output.image, drawing.reconstruction, 0)
        _same("the bars vs the code shown", window.latent_panel.bars.values, session.edit.current, 1e-6)
        self._check_map_and_verdict()
        self._check_traversal()
        self._check_pins()
        self._check_hover()
        return took

    def _check_map_and_verdict(self) -> None:
        window, session = self.window, self.window.session
        drawing, layout, latent_map = session.drawing, session.map, window.map_panel.map
        verdict = window.map_panel.guess_label.text()
        if drawing.z is None:
            if latent_map.marker_xy is not None:
                raise MonkeyFailure(f"a star for an empty drawing at {latent_map.marker_xy}")
            if verdict not in ("Draw a digit", "Not a digit: the page is empty"):
                raise MonkeyFailure(f"verdict {verdict!r} for an empty drawing")
            return
        output = session.output
        engine = window.worker._engine
        if output.edited:      # the code in the reconstruction view, judged without a drawing
            want = f"Edited code: {engine.verdict(session.info, output.code).describe()}"
        else:
            want = engine.verdict(session.info, drawing.z, drawing.error * drawing.frame.size).describe()
        if verdict != want:
            raise MonkeyFailure(f"verdict {verdict!r}, but the code shown says {want!r}")
        if layout is not None:
            star = layout.forward(drawing.z)
            if latent_map.marker_xy is None or not np.allclose(latent_map.marker_xy, star, atol=1e-4):
                raise MonkeyFailure(f"the star is at {latent_map.marker_xy}, the drawing's code at {tuple(star)}")
            output = session.output
            if session.edit.is_edited and output.edited:
                ring = layout.forward(output.code)
                if latent_map.edit_xy is None or not np.allclose(latent_map.edit_xy, ring, atol=1e-4):
                    raise MonkeyFailure(f"the ring is at {latent_map.edit_xy}, the code shown at {tuple(ring)}")
            elif not session.edit.is_edited and latent_map.edit_xy is not None:
                raise MonkeyFailure(f"a ring at {latent_map.edit_xy} with no edit")

    def _check_traversal(self) -> None:
        window, session = self.window, self.window.session
        panel = window.traversal_dock.widget()
        if not panel.isVisible() or window.traversal_dock.visibleRegion().isEmpty():
            return
        z = session.drawing.z
        shown = panel.traversal
        if z is None:
            if shown is not None:
                raise MonkeyFailure("a traversal is shown for an empty drawing")
            return
        if shown is None or shown is not session.traversal:
            raise MonkeyFailure("the traversal shown is not the session's")
        middle = shown.values[:, shown.values.shape[1] // 2]
        if not np.allclose(middle, z[shown.order], atol=1e-5):
            raise MonkeyFailure("the traversal is of another code than the drawing's")
        if panel.status.text().startswith("Draw a digit"):
            raise MonkeyFailure(f"the traversal says {panel.status.text()!r} while it shows a traversal")

    def _check_pins(self) -> None:
        session, panel = self.window.session, self.window.interpolation_panel
        mix = session.interpolation
        for which, pin, view, end in (("A", mix.a, panel.view_a, 0), ("B", mix.b, panel.view_b, -1)):
            if pin is None:
                _same(f"the empty pin {which}", view.pixels(), np.zeros((28, 28), np.uint8))
                continue
            if pin.frame is None:
                raise MonkeyFailure(f"the edited pin {which} never got its thumbnail")
            _same(f"pin {which}'s thumbnail", view.pixels(), to_uint8(pin.frame))
            if pin.edited and session.strip is not None:
                _same(f"the strip's end at the edited pin {which}", session.strip[end], pin.frame, 2e-3)
        if mix.ready and session.strip is not None:
            for i, step in enumerate(panel.strip):
                _same(f"step {i} of the strip", step.pixels(), to_uint8(session.strip[i]))

    def _check_hover(self) -> None:
        bars = self.window.latent_panel.bars
        text = bars.hover_text
        if not text:
            return
        dim = int(text[2:text.index("]")])
        value = float(text.split("=")[1].split()[0])
        if dim >= bars.values.size or abs(value - bars.values[dim]) > 1e-3:
            raise MonkeyFailure(f"the bars' hover text {text!r} is stale: z[{dim}] is shown as "
                                f"{bars.values[dim] if dim < bars.values.size else 'gone'}")


def _settled(window, timeout: float) -> bool:
    from aegui.gui.app import settle

    end = time.perf_counter() + timeout
    if not settle(window, timeout):
        return False
    QTest.qWait(80)          # the throttled views (bars, star, verdict, traversal)
    return settle(window, max(end - time.perf_counter(), 0.1))


def _same(what: str, got, want, atol: float = 0) -> None:
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape or not np.allclose(got.astype(np.float64), want.astype(np.float64), atol=atol):
        worst = (np.abs(got.astype(np.float64) - want.astype(np.float64)).max()
                 if got.shape == want.shape else f"shape {got.shape} vs {want.shape}")
        raise MonkeyFailure(f"{what} does not follow: worst difference {worst}")
