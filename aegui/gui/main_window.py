"""The main window, built in named steps: actions, menus, toolbar, docks, status bar.

It owns the app's plain-Python state (the ``DrawingDocument``, the ``LatentEdit``, the
``Interpolation``) and the inference thread, and wires them to the widgets: the canvas
forwards pointer events to the document; every change of the drawing posts the raster
to the thread; results come back as signals and are shown in place. Nothing here
computes more than a copy or a 2-D projection; the UI thread never waits for the model.
The latent traversal and the manifold grid are computed only while their docks show.

Exports live in ``exporting.ExportMixin``; collect mode, fine-tuning and the user's own
models in ``handwriting.HandwritingMixin``; the sweeps' requests in ``sweeps.SweepMixin``. The user's data (drawings/, models/) is under
``data_dir``, by default ``QStandardPaths.AppDataLocation``.

Dialogs go through ``ask_open_path``, ``ask_save_path`` and ``show_error``, which tests
replace so that nothing ever blocks on a modal dialog.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (QApplication, QComboBox, QDockWidget, QFileDialog, QLabel, QMainWindow,
                               QMessageBox, QSpinBox, QWidget)

from .canvas import Canvas, ImageFileError, picture_from_file, save_png
from .collect import DrawingsPanel
from aegui.document import DrawingDocument
from .exporting import ExportMixin
from .handwriting import HandwritingMixin, default_data_dir
from .icon import app_icon
from .interpolation import InterpolationPanel
from .latent import Interpolation, LatentEdit
from .panels import LatentPanel, MapPanel
from .settings import Settings
from .sweeps import ManifoldPanel, SweepMixin, TraversalPanel
from .views import NetworkPanel, TextLine
from .worker import DecodeResult, DrawingResult, InferenceThread, ModelInfo, StripResult

__all__ = ["MainWindow", "create_window"]

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp);;All files (*)"
CHECKPOINT_FILTER = "aegui checkpoints (*.pt);;All files (*)"
# The latent bars, map marker and verdict follow the pen at most this often (ms): the
# model input and reconstruction follow every result.
SECONDARY_INTERVAL_MS = 33


class MainWindow(ExportMixin, HandwritingMixin, SweepMixin, QMainWindow):
    """Draw a digit; see it framed, encoded, decoded, placed on the latent map."""

    modelChanged = Signal(object)   # ModelInfo, once the window shows the new model

    def __init__(self, model=None, settings: Settings | None = None, device: str = "cpu",
                 parent: QWidget | None = None, data_dir: str | os.PathLike | None = None):
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle("aegui: see what an autoencoder learns")
        self.setWindowIcon(app_icon())     # About shows it too
        self.settings = settings if settings is not None else Settings()
        self.data_dir = Path(data_dir if data_dir is not None else default_data_dir())
        self.drawings_dir = self.data_dir / "drawings"
        self.models_dir = self.data_dir / "models"
        self.document = DrawingDocument()
        self.latent = LatentEdit(0)
        self.interpolation = Interpolation()
        self.info: ModelInfo | None = None
        self.device = device
        self.last_drawing: DrawingResult | None = None
        self.strip_images: np.ndarray | None = None
        self.latency_ms: float | None = None
        self._output_seq = 0        # sequence number of what the reconstruction shows
        self._input_seq = 0
        self._interp_seq = 0
        self._explicit_model = model is not None
        self._pending_secondary: DrawingResult | None = None
        self._secondary = QTimer(self)
        self._secondary.setSingleShot(True)
        self._secondary.setInterval(SECONDARY_INTERVAL_MS)
        self._secondary.timeout.connect(self._update_secondary)
        self.worker = InferenceThread(self)

        self.create_central()
        self.create_actions()
        self.create_menus()
        self.create_toolbar()
        self.create_docks()
        self.create_status_bar()
        self.connect_signals()
        self.read_settings()

        self.worker.start()
        source = model if model is not None else self.settings.last_model
        self.worker.load_model(source, device, fallback=True)

    # ------------------------------------------------------------------ building

    def create_central(self) -> None:
        self.canvas = Canvas(self.document)
        self.setCentralWidget(self.canvas)
        self.canvas.setFocus()

    def create_actions(self) -> None:
        def action(text, slot, shortcuts=(), tip="", checkable=False):
            act = QAction(text, self)
            act.setShortcuts([QKeySequence(s) for s in shortcuts])
            act.setStatusTip(tip)
            act.setToolTip(f"{text.rstrip('…')} ({QKeySequence(shortcuts[0]).toString()})"
                           if shortcuts else text.rstrip("…"))
            act.setCheckable(checkable)
            act.triggered.connect(slot)
            return act

        undo_keys = [QKeySequence.StandardKey.Undo]
        redo_keys = [*QKeySequence.keyBindings(QKeySequence.StandardKey.Redo), "Ctrl+Shift+Z", "Ctrl+Y"]
        redo_keys = list(dict.fromkeys(QKeySequence(k).toString() for k in redo_keys))
        self.undo_action = action("Undo", self.document.undo, undo_keys, "Take back the last stroke")
        self.redo_action = action("Redo", self.document.redo, redo_keys, "Bring back an undone stroke")
        self.clear_action = action("Clear", self.document.clear, ["Delete", "Backspace"],
                                   "Clear the drawing (undoable)")
        self.pen_action = action("Pen", lambda: self.set_eraser(False), ["B"], "Draw", checkable=True)
        self.eraser_action = action("Eraser", lambda: self.set_eraser(True), ["E"], "Erase", checkable=True)
        tools = QActionGroup(self)
        tools.addAction(self.pen_action)
        tools.addAction(self.eraser_action)
        self.pen_action.setChecked(True)
        self.thinner_action = action("Thinner Pen", lambda: self.set_pen_width(self.canvas.pen_width - 4), ["["])
        self.thicker_action = action("Thicker Pen", lambda: self.set_pen_width(self.canvas.pen_width + 4), ["]"])
        self.open_image_action = action("Open Image…", lambda: self.open_image(),
                                        [QKeySequence.StandardKey.Open], "Put a PNG, JPEG or BMP on the canvas")
        self.save_drawing_action = action("Save Drawing…", lambda: self.save_drawing(),
                                          [QKeySequence.StandardKey.Save], "Save the drawing as PNG")
        self.open_checkpoint_action = action("Open Checkpoint…", lambda: self.choose_checkpoint(),
                                             ["Ctrl+Shift+O"], "Load a model from a checkpoint file")
        self.quit_action = action("Quit", self.close, [QKeySequence.StandardKey.Quit])
        self.reset_latent_action = action("Reset to Drawing", self.reset_latent, ["Ctrl+R"],
                                          "Forget edits of the code: show the drawing's own code")
        self.pin_a_action = action("Pin as A", lambda: self.pin("a"), ["Ctrl+1"], "Pin the drawing as A")
        self.pin_b_action = action("Pin as B", lambda: self.pin("b"), ["Ctrl+2"], "Pin the drawing as B")
        self.export_png_action = action("Export Strip as PNG…", lambda: self.export_strip("png"))
        self.export_gif_action = action("Export Strip as GIF…", lambda: self.export_strip("gif"))
        self.export_images_action = action("Export Drawing and Reconstruction…", lambda: self.export_images(),
                                           ["Ctrl+E"], "The model input beside its reconstruction, as PNG")
        self.export_csv_action = action("Export Latent Vector as CSV…", lambda: self.export_latent("csv"))
        self.export_json_action = action("Export Latent Vector as JSON…", lambda: self.export_latent("json"))
        self.export_map_action = action("Export Latent Map as PNG…", lambda: self.export_map())
        self.export_manifold_action = action("Export Manifold Grid as PNG…", lambda: self.export_manifold())
        self.collect_action = action("Collect Mode", self.set_collect_mode, ["Ctrl+K"],
                                     "Save drawings of your own with the digit keys", checkable=True)
        self.collect_actions = [action(f"Save Drawing as {d}", lambda _=False, d=d: self.collect(d), [str(d)],
                                       f"Save the drawing as a {d} and clear the canvas") for d in range(10)]
        for act in self.collect_actions:
            act.setEnabled(False)      # until collect mode is on
        self.addActions(self.collect_actions)
        self.fine_tune_action = action("Fine-tune on My Drawings…", lambda: self.open_fine_tune(), [],
                                       "Teach the model your handwriting")
        self.about_action = action("About aegui", self.about)
        self.device_group = QActionGroup(self)
        self.device_actions = {}
        for device in ("cpu", "cuda"):
            act = action(device.upper(), lambda _=False, d=device: self.set_device(d), checkable=True)
            self.device_group.addAction(act)
            self.device_actions[device] = act
        self.device_actions[self.device if self.device in self.device_actions else "cpu"].setChecked(True)
        self.device_actions["cuda"].setEnabled(False)   # until torch says otherwise
        self.model_group = QActionGroup(self)

    def create_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addActions([self.open_image_action, self.save_drawing_action])
        export_menu = file_menu.addMenu("&Export")
        export_menu.addActions([self.export_images_action, self.export_csv_action, self.export_json_action,
                                self.export_map_action, self.export_manifold_action, self.export_png_action,
                                self.export_gif_action])
        file_menu.addSeparator()
        file_menu.addAction(self.open_checkpoint_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = bar.addMenu("&Edit")
        edit_menu.addActions([self.undo_action, self.redo_action, self.clear_action])
        edit_menu.addSeparator()
        edit_menu.addActions([self.pen_action, self.eraser_action, self.thinner_action, self.thicker_action])
        self.model_menu = bar.addMenu("&Model")
        self._model_separator = self.model_menu.addSeparator()
        self.model_menu.addAction(self.open_checkpoint_action)
        device_menu = self.model_menu.addMenu("&Device")
        device_menu.addActions(list(self.device_actions.values()))
        latent_menu = bar.addMenu("&Latent")
        latent_menu.addAction(self.reset_latent_action)
        latent_menu.addSeparator()
        latent_menu.addActions([self.pin_a_action, self.pin_b_action, self.export_png_action,
                                self.export_gif_action])
        handwriting_menu = bar.addMenu("&Handwriting")
        handwriting_menu.addAction(self.collect_action)
        handwriting_menu.addMenu("&Save Drawing as").addActions(self.collect_actions)
        handwriting_menu.addSeparator()
        handwriting_menu.addAction(self.fine_tune_action)
        self.view_menu = bar.addMenu("&View")
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.about_action)

    def create_toolbar(self) -> None:
        tools = self.addToolBar("Tools")
        tools.setObjectName("toolsToolBar")
        tools.setMovable(False)
        tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        tools.addActions([self.undo_action, self.redo_action, self.clear_action])
        tools.addSeparator()
        tools.addActions([self.pen_action, self.eraser_action])
        self.width_spin = QSpinBox()
        self.width_spin.setObjectName("penWidth")
        self.width_spin.setRange(2, 120)
        self.width_spin.setSuffix(" px")
        self.width_spin.setToolTip("Pen width, in pixels of the 512x512 drawing")
        self.width_spin.setValue(int(self.canvas.pen_width))
        self.width_spin.valueChanged.connect(self.set_pen_width)
        tools.addWidget(QLabel(" Width "))
        tools.addWidget(self.width_spin)
        tools.addSeparator()
        tools.addActions([self.open_image_action, self.save_drawing_action])
        tools.addSeparator()
        tools.addWidget(QLabel(" Model "))
        self.model_combo = QComboBox()
        self.model_combo.setObjectName("modelChoice")
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.model_combo.setToolTip("Shipped models; File > Open Checkpoint for others")
        self.model_combo.activated.connect(self._model_chosen)
        tools.addWidget(self.model_combo)

    def create_docks(self) -> None:
        self.network = NetworkPanel()
        latent_panel = LatentPanel()
        self.bars, self.dim_spin, self.value_spin = latent_panel.bars, latent_panel.dim_spin, latent_panel.value_spin
        latent_panel.reset.clicked.connect(self.reset_latent)
        map_panel = MapPanel()
        self.map, self.guess_label = map_panel.map, map_panel.guess_label
        self.interpolation_panel = InterpolationPanel()
        self.traversal_panel = TraversalPanel()
        self.manifold_panel = ManifoldPanel()
        self.drawings_panel = DrawingsPanel(self.drawings_dir)
        self.drawings_panel.set_collect_action(self.collect_action)

        self.network_dock = self._dock("What the network sees", "networkDock", self.network)
        self.bars_dock = self._dock("Latent code z", "latentBarsDock", latent_panel)
        self.map_dock = self._dock("Latent map", "latentMapDock", map_panel)
        self.interpolation_dock = self._dock("Interpolation", "interpolationDock", self.interpolation_panel)
        right = Qt.DockWidgetArea.RightDockWidgetArea
        self.addDockWidget(right, self.network_dock)
        self.splitDockWidget(self.network_dock, self.map_dock, Qt.Orientation.Horizontal)
        self.splitDockWidget(self.network_dock, self.bars_dock, Qt.Orientation.Vertical)
        self.splitDockWidget(self.map_dock, self.interpolation_dock, Qt.Orientation.Vertical)
        self.resizeDocks([self.network_dock, self.map_dock], [330, 420], Qt.Orientation.Horizontal)
        self.traversal_dock = self._dock("Traversals", "traversalDock", self.traversal_panel)
        self.manifold_dock = self._dock("Manifold", "manifoldDock", self.manifold_panel)
        self.drawings_dock = self._dock("My drawings", "drawingsDock", self.drawings_panel)
        # Tabs beside the interpolation: one shows at a time, and only a showing sweep is computed.
        for dock in (self.traversal_dock, self.manifold_dock, self.drawings_dock):
            self.tabifyDockWidget(self.interpolation_dock, dock)
        self.interpolation_dock.raise_()
        for dock in (self.network_dock, self.bars_dock, self.map_dock, self.interpolation_dock,
                     self.traversal_dock, self.manifold_dock, self.drawings_dock):
            self.view_menu.addAction(dock.toggleViewAction())

    def create_status_bar(self) -> None:
        status = self.statusBar()
        self.model_label = QLabel("Loading model…")
        self.latent_label = QLabel()
        self.backend_label = QLabel()
        self.device_label = QLabel()
        self.latency_label = TextLine("", "update 000.0 ms")
        self.collect_label = QLabel("Collect mode: press 0–9 to save")
        self.collect_label.setVisible(False)
        for name, label in (("statusCollect", self.collect_label), ("statusModel", self.model_label),
                            ("statusLatent", self.latent_label), ("statusBackend", self.backend_label), ("statusDevice", self.device_label),
                            ("statusLatency", self.latency_label)):
            label.setObjectName(name)
            status.addPermanentWidget(label)

    def _dock(self, title: str, name: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        return dock

    def connect_signals(self) -> None:
        self.document.observe(self._document_changed)
        self.canvas.drawingChanged.connect(self.submit_drawing)
        self.worker.modelReady.connect(self.on_model_ready)
        self.worker.modelFailed.connect(self.on_model_failed)
        self.worker.drawingDone.connect(self.on_drawing_result)
        self.worker.decodeDone.connect(self.on_decode_result)
        self.worker.stripDone.connect(self.on_strip_result)
        self.worker.failed.connect(lambda message: self.statusBar().showMessage(message, 10000))
        self.bars.valueEdited.connect(self.edit_latent)
        self.bars.dimensionSelected.connect(self.dim_spin.setValue)
        self.dim_spin.valueChanged.connect(self._sync_value_spin)
        self.value_spin.valueChanged.connect(lambda v: self.edit_latent(self.dim_spin.value(), v))
        self.map.pointPicked.connect(self.pick_map_point)
        panel = self.interpolation_panel
        panel.pinRequested.connect(self.pin)
        panel.mixChanged.connect(self.set_mix)
        panel.exportRequested.connect(self.export_strip)
        self.connect_sweeps()
        self.drawings_panel.fineTuneRequested.connect(lambda: self.open_fine_tune())
        self.drawings_panel.changed.connect(self._drawings_deleted)
        self._document_changed(None)

    # ------------------------------------------------------------------ settings

    def read_settings(self) -> None:
        geometry = self.settings.geometry
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1360, 860)
        state = self.settings.window_state
        if state is not None:
            self.restoreState(state)
        self.set_pen_width(self.settings.pen_width)

    def write_settings(self) -> None:
        self.settings.geometry = self.saveGeometry()
        self.settings.window_state = self.saveState()
        self.settings.pen_width = int(self.canvas.pen_width)
        self.settings.sync()

    def closeEvent(self, event) -> None:
        self.write_settings()
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Cancel fine-tuning and stop the inference thread (idempotent)."""
        self.stop_fine_tuning()
        self.worker.stop()

    # ------------------------------------------------------------------ dialogs

    def show_error(self, title: str, text: str) -> None:
        QMessageBox.critical(self, title, text)

    def ask_open_path(self, title: str, filter_: str) -> str:
        return QFileDialog.getOpenFileName(self, title, self.settings.last_folder, filter_)[0]

    def ask_save_path(self, title: str, filter_: str, suggestion: str = "") -> str:
        return QFileDialog.getSaveFileName(self, title, suggestion, filter_)[0]

    def about(self) -> None:
        QMessageBox.about(self, "About aegui",
                          "<b>aegui</b>: draw a digit and watch an autoencoder frame, encode and "
                          "reconstruct it, live.")

    # ------------------------------------------------------------------ drawing

    def set_eraser(self, on: bool) -> None:
        self.canvas.eraser = on
        (self.eraser_action if on else self.pen_action).setChecked(True)

    def set_pen_width(self, width: float) -> None:
        width = int(min(max(width, self.width_spin.minimum()), self.width_spin.maximum()))
        self.canvas.pen_width = float(width)
        if self.width_spin.value() != width:
            self.width_spin.setValue(width)

    def open_image(self, path: str | None = None) -> bool:
        path = path or self.ask_file_to_open("Open Image", IMAGE_FILTER)
        if not path:
            return False
        try:
            pixels = picture_from_file(path, self.document.size)
        except ImageFileError as err:
            self.show_error("Cannot open the image", str(err))
            return False
        self.document.place_picture(pixels)
        self.statusBar().showMessage(f"Opened {os.path.basename(path)}", 5000)
        return True

    def save_drawing(self, path: str | None = None) -> bool:
        path = path or self.ask_file_to_save("Save Drawing", "PNG image (*.png)", "drawing.png")
        if not path:
            return False
        try:
            save_png(self.canvas.raster_image(), path)
        except OSError as err:
            self.show_error("Cannot save the drawing", str(err))
            return False
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def submit_drawing(self) -> None:
        self.worker.submit_drawing(self.canvas.raster())

    def _document_changed(self, _segments) -> None:
        self.undo_action.setEnabled(self.document.can_undo)
        self.redo_action.setEnabled(self.document.can_redo)

    # ------------------------------------------------------------------ results

    def on_drawing_result(self, result: DrawingResult) -> None:
        if self.info is None or result.generation != self.info.generation or result.seq <= self._input_seq:
            return
        self._input_seq = result.seq
        self.last_drawing = result
        self.network.model_input.set_image(result.frame, result.seq)
        z = result.z if result.z is not None else np.zeros(self.info.latent_dim, np.float32)
        if result.seq > self._output_seq:
            self._output_seq = result.seq
            self.latent.set_drawing(z)
            self.network.reconstruction.set_image(result.reconstruction, result.seq)
            self.network.set_error(result.error)
        else:
            self.latent.update_drawing(z)   # an edit made since stays; "reset" comes back here
        self._show_latency(result.posted)
        self._pending_secondary = result
        if not self._secondary.isActive():
            self._secondary.start()

    def _update_secondary(self) -> None:
        """Bars, map marker and verdict for the newest drawing result (throttled)."""
        result, self._pending_secondary = self._pending_secondary, None
        if result is None or self.info is None or result.generation != self.info.generation:
            return
        self.bars.set_values(self.latent.current, self.latent.edited, self.latent.drawing)
        self.map.set_marker(result.xy)
        if not self.latent.is_edited:
            self.map.set_edit_marker(None)
        self._sync_value_spin()
        if result.guess is not None:
            self.guess_label.setText(result.guess.describe().capitalize())
        elif result.z is None:
            self.guess_label.setText("Draw a digit")
        else:
            self.guess_label.setText("No reference digits for this model")
        self.request_traversal()

    def on_decode_result(self, result: DecodeResult) -> None:
        if self.info is None or result.generation != self.info.generation:
            return
        if result.purpose == "edit":
            if result.seq <= self._output_seq or not self.latent.is_edited:
                return    # older than what is shown, or the edits were reset since
            self._output_seq = result.seq
            self.network.reconstruction.set_image(result.image, result.seq)
            drawing = self.last_drawing
            self.network.set_error(drawing.error if drawing is not None else None, edited=True)
            self.map.set_edit_marker(result.xy)
            self._show_latency(result.posted)
        elif result.seq > self._interp_seq:
            self._interp_seq = result.seq
            self.interpolation_panel.mixed.set_image(result.image, result.seq)

    def on_strip_result(self, result: StripResult) -> None:
        if self.info is None or result.generation != self.info.generation or not self.interpolation.ready:
            return
        self.strip_images = result.images
        self.interpolation_panel.set_strip(result.images)

    def _show_latency(self, posted: float) -> None:
        self.latency_ms = (time.perf_counter() - posted) * 1e3
        self.latency_label.setText(f"update {self.latency_ms:.1f} ms")

    # ------------------------------------------------------------------ latent edits

    def edit_latent(self, dim: int, value: float) -> None:
        """Set one dimension of the code shown and decode it."""
        if self.info is None or not 0 <= dim < self.info.latent_dim:
            return
        self.latent.set_value(dim, value)
        self.dim_spin.setValue(dim)     # the editor row shows the dimension being edited
        self._decode_edit()

    def pick_map_point(self, x: float, y: float) -> None:
        """Decode the code at a point of the latent map (through the inverse projection)."""
        if self.info is None:
            return
        self.latent.replace(self.info.projection.inverse([x, y]))
        self._decode_edit()

    def reset_latent(self) -> None:
        """Back to the drawing's own code and reconstruction."""
        if self.info is None:
            return
        self.latent.reset()
        self.bars.set_values(self.latent.current)
        self.map.set_edit_marker(None)
        self.traversal_panel.clear_choice()
        drawing = self.last_drawing
        if drawing is not None:
            self._output_seq = drawing.seq     # newer drawings may show again, edits may not
            self.network.reconstruction.set_image(drawing.reconstruction, drawing.seq)
            self.network.set_error(drawing.error)
        self._sync_value_spin()

    def _decode_edit(self) -> None:
        self.bars.set_values(self.latent.current, self.latent.edited, self.latent.drawing)
        self._sync_value_spin()
        self.worker.submit_decode(self.latent.current, "edit", self.info.generation)

    def _sync_value_spin(self, *_args) -> None:
        dim = self.dim_spin.value()
        if 0 <= dim < self.latent.latent_dim:
            value = round(float(self.latent.current[dim]), self.value_spin.decimals())
            if self.value_spin.value() != value:
                self.value_spin.blockSignals(True)
                self.value_spin.setValue(value)
                self.value_spin.blockSignals(False)

    # ------------------------------------------------------------------ interpolation

    def pin(self, which: str) -> bool:
        """Pin the code shown (with the drawing's frame) as A or B."""
        drawing = self.last_drawing
        if self.info is None or drawing is None or drawing.z is None:
            self.statusBar().showMessage("Draw a digit first, then pin it", 5000)
            return False
        self.interpolation.pin(which, self.latent.current, drawing.frame)
        self.interpolation_panel.set_pin(which, drawing.frame)
        if self.interpolation.ready:
            self.interpolation_panel.set_ready(True)
            self.worker.submit_strip(self.interpolation.steps(), self.info.generation)
            self.set_mix(self.interpolation_panel.t)
        return True

    def set_mix(self, t: float) -> None:
        self.interpolation.t = t
        if self.info is not None and self.interpolation.ready:
            self.worker.submit_decode(self.interpolation.mix(), "interp", self.info.generation)

    # ------------------------------------------------------------------ models

    def open_model(self, source) -> None:
        """Load a shipped model by name, or a checkpoint by path; errors keep the model."""
        self.statusBar().showMessage(f"Loading {source}…")
        self.worker.load_model(source, self.device, fallback=False)

    def choose_checkpoint(self) -> None:
        path = self.ask_file_to_open("Open Checkpoint", CHECKPOINT_FILTER)
        if path:
            self.open_model(path)

    def set_device(self, device: str) -> None:
        if device == self.device:
            return
        self.device = device
        if self.info is not None:
            self.worker.load_model(self.info.source or self.info.name, device, fallback=False)

    def _model_chosen(self, index: int) -> None:
        name = self.model_combo.itemData(index)
        if name and (self.info is None or name != self.info.source):
            self.open_model(name)

    def on_model_failed(self, what: str, why: str) -> None:
        self.statusBar().showMessage(f"Could not open {what}", 10000)
        self._refresh_model_choices()
        if self.info is not None:
            self.device = self.info.device
            self.device_actions.get(self.device, self.device_actions["cpu"]).setChecked(True)
        self.show_error("Cannot open the model", f"{what}\n\n{why}\n\nThe current model stays loaded.")

    def on_model_ready(self, info: ModelInfo) -> None:
        explicit_failed = self.info is None and self._explicit_model and info.problem
        self.info = info
        self.device = info.device
        self.latent.reset_model(info.latent_dim)
        self.bars.set_dimensions(info.latent_dim, info.z_limit)
        self.dim_spin.setRange(0, info.latent_dim - 1)
        self.map.set_reference(info.reference_xy, info.labels, info.map_range, info.projection.axis_names)
        self.interpolation.unpin()
        self.strip_images = None
        for which in ("a", "b"):
            self.interpolation_panel.set_pin(which, None)
        self.interpolation_panel.set_ready(False)
        self.traversal_panel.set_traversal(None)
        self.manifold_panel.set_axes(info.projection.axis_names)
        self.manifold_panel.set_grid(None, None)
        self.bars.set_highlight(None)
        self.last_drawing = None
        self._refresh_model_choices()
        self.device_actions["cuda"].setEnabled(info.cuda_available)
        self.device_actions.get(info.device, self.device_actions["cpu"]).setChecked(True)
        note = info.problem or ("untrained: no shipped model is installed" if info.untrained else "")
        self.model_label.setText(f"Model {info.name}" + (" (untrained)" if info.untrained else ""))
        self.model_label.setToolTip("\n".join(filter(None, [info.description, _describe_metrics(info.metrics), note])))
        sse = info.metrics.get("sse")
        self.network.typical_error = float(sse) / 784 if isinstance(sse, int | float) else None
        self.latent_label.setText(f"z: {info.latent_dim}")
        self.backend_label.setText(f"backend {info.backend}")
        self.device_label.setText(f"device {info.device}")
        self.statusBar().showMessage(note or f"Loaded {info.name}", 10000)
        if not info.untrained and (info.source or info.name in info.shipped):
            self.settings.last_model = info.source or info.name
        self.submit_drawing()
        self.request_manifold()
        self.modelChanged.emit(info)
        if explicit_failed:
            self.show_error("Cannot open the model", f"{info.problem}\n\nOpened {info.name} instead.")

    def _refresh_model_choices(self) -> None:
        info = self.info
        choices = self.model_choices()
        sources = [source for _, source in choices]
        current = (info.source or info.name) if info else None
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for label, source in choices:
            self.model_combo.addItem(label, source)
        if current and current not in sources:
            untrained = " (untrained)" if info.untrained else ""
            self.model_combo.addItem(os.path.basename(current) + untrained, info.source)
        index = self.model_combo.findData(current) if current in sources else self.model_combo.count() - 1
        self.model_combo.setCurrentIndex(max(index, 0))
        self.model_combo.blockSignals(False)
        for act in self.model_group.actions():
            self.model_group.removeAction(act)
            self.model_menu.removeAction(act)
            act.deleteLater()
        for label, source in choices:
            act = QAction(label, self, checkable=True, checked=(source == current))
            act.triggered.connect(lambda _=False, n=source: self.open_model(n))
            self.model_group.addAction(act)
            self.model_menu.insertAction(self._model_separator, act)


def _describe_metrics(metrics: dict) -> str:
    """One line of the model's test-set metrics, as ``aegui eval`` stored them."""
    names = {"sse": "squared error per digit", "bce": "BCE per pixel", "nats": "nats per digit"}
    parts = [f"{label} {metrics[key]:.4g}" for key, label in names.items()
             if isinstance(metrics.get(key), int | float)]
    parts += [f"{key.removesuffix('_accuracy')} accuracy {value:.1%}" for key, value in metrics.items()
              if key.endswith("_accuracy") and isinstance(value, int | float)]
    return ("MNIST test: " + ", ".join(parts)) if parts else ""


def create_window(model=None, **kwargs) -> MainWindow:
    """The main window on ``model``, built (not shown); a QApplication is made if none exists."""
    if QApplication.instance() is None:
        from .app import ensure_app

        ensure_app()
    return MainWindow(model, **kwargs)
