"""The main window: it builds the app from its parts, in named steps, and owns nothing else.

What the app knows lives in the ``Session`` (``aegui.session``), which the inference
thread (``worker``) answers; the drawing lives in the ``DrawingDocument``. Each concern
of the window is a small controller with its dependencies passed in: ``DrawingTools``
(undo, pen, open and save), ``ModelChooser`` (models, device, their status labels),
``LatentViews`` (what follows the drawing), ``InterpolationView``, ``Sweeps`` (traversal
and manifold), ``ParadigmViews`` (learned vs linear, code sizes, noise), ``ExportMenu``
and ``Handwriting`` (collect mode, fine-tuning). The window lays out their widgets, fills
the menus with their actions and saves the layout.

The user's data (drawings/, models/) is under ``data_dir``, by default
``QStandardPaths.AppDataLocation``. Dialogs go through ``dialogs`` (``Dialogs``), which
tests replace so that nothing ever blocks on a modal dialog.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QLabel, QMainWindow, QWidget

from aegui.document import DrawingDocument
from aegui.session import Session

from .about import AboutDialog
from .actions import make_action
from .canvas import HINT, Canvas
from .dialogs import Dialogs
from .drawing_tools import DrawingTools
from .export_menu import ExportMenu
from .handwriting import Handwriting, default_data_dir
from .icon import app_icon
from .incident_view import IncidentView
from .incidents import ErrorReporter, log_path_in
from .interpolation import InterpolationPanel, InterpolationView
from .latent_views import SECONDARY_INTERVAL_MS, LatentViews
from .layout import arrange, default_geometry
from .model_chooser import ModelChooser
from .panels import LatentPanel, MapPanel
from .paradigm_views import LinearPanel, NoisePanel, ParadigmViews, SizesPanel
from .settings import Settings
from .sweeps import ManifoldPanel, Sweeps, TraversalPanel
from .views import NetworkPanel
from .worker import InferenceThread

__all__ = ["MainWindow", "create_window"]

DEFAULT_SIZE = (1360, 860)


class MainWindow(QMainWindow):
    """Draw a digit; see it framed, encoded, decoded, placed on the latent map."""

    modelChanged = Signal(object)   # ModelInfo, once the window shows the new model

    def __init__(self, model=None, settings: Settings | None = None, device: str = "cpu",
                 parent: QWidget | None = None, data_dir: str | Path | None = None,
                 reporter: ErrorReporter | None = None):
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle("aegui: see what an autoencoder learns")
        self.setWindowIcon(app_icon())     # About shows it too
        self.settings = settings if settings is not None else Settings()
        self.data_dir = Path(data_dir if data_dir is not None else default_data_dir())
        self.reporter = reporter if reporter is not None else ErrorReporter(log_path_in(self.data_dir), self)
        self.incident_view = IncidentView(self, self.reporter, self.tell)
        self.about_dialog: AboutDialog | None = None
        self.dialogs = Dialogs(self, self.settings)
        self.document = DrawingDocument()
        self.canvas = Canvas(self.document)
        self.worker = InferenceThread(self)
        self.session = Session(self.worker.post, self.document.inked, device=device)
        self.worker.answered.connect(self.session.receive)
        self.worker.failed.connect(self.reporter.report)
        self.canvas.drawingChanged.connect(self.session.drawing_edited)
        self.session.model_changed.connect(self.modelChanged.emit)

        self.create_central()
        self.create_menus()
        self.create_controllers(explicit_model=model is not None)
        self.create_docks()
        self.fill_menus()
        self.create_toolbar()
        self.create_status_bar()
        self.read_settings()

        self.worker.start()
        self.session.open_model(model if model is not None else self.settings.last_model, device, fallback=True)

    def tell(self, text: str, ms: int = 5000) -> None:
        """A message in the status bar for ``ms`` milliseconds (0: until the next)."""
        self.statusBar().showMessage(text, ms)

    # ------------------------------------------------------------------ building

    def create_central(self) -> None:
        self.setCentralWidget(self.canvas)
        self.canvas.setFocus()

    def create_menus(self) -> None:
        bar = self.menuBar()
        self.file_menu = bar.addMenu("&File")
        self.edit_menu = bar.addMenu("&Edit")
        self.model_menu = bar.addMenu("&Model")
        self.latent_menu = bar.addMenu("&Latent")
        self.handwriting_menu = bar.addMenu("&Handwriting")
        self.view_menu = bar.addMenu("&View")
        self.help_menu = bar.addMenu("&Help")

    def create_controllers(self, explicit_model: bool) -> None:
        session, dialogs, tell = self.session, self.dialogs, self.tell
        self.network, self.latent_panel, self.map_panel = NetworkPanel(), LatentPanel(), MapPanel()
        self.interpolation_panel = InterpolationPanel()
        self.tools = DrawingTools(self, self.document, self.canvas, dialogs, tell)
        self.models = ModelChooser(self, session, self.settings, self.data_dir / "models", dialogs, tell,
                                   self.model_menu, explicit_model)
        self.latent_views = LatentViews(self, session, self.network, self.latent_panel, self.map_panel)
        self.interpolation = InterpolationView(self, session, self.interpolation_panel, tell)
        self.exports = ExportMenu(self, session, self.map_panel.map, dialogs, tell)
        self.interpolation_panel.exportRequested.connect(self.exports.export_strip)
        self.handwriting = Handwriting(self, session, self.canvas, self.document, self.document.raster, self.data_dir,
                                       self.settings, dialogs, tell, self.models, self.worker.request_copy)

    def create_docks(self) -> None:
        docks = [("What the network sees", "networkDock", self.network),
                 ("Latent code z", "latentBarsDock", self.latent_panel),
                 ("Latent map", "latentMapDock", self.map_panel),
                 ("Interpolation", "interpolationDock", self.interpolation_panel),
                 ("Traversals", "traversalDock", TraversalPanel()),
                 ("Manifold", "manifoldDock", ManifoldPanel()),
                 ("My drawings", "drawingsDock", self.handwriting.panel),
                 ("vs PCA", "linearDock", LinearPanel()),
                 ("Sizes", "sizesDock", SizesPanel()),
                 ("Noise", "noiseDock", NoisePanel())]
        (self.network_dock, self.bars_dock, self.map_dock, self.interpolation_dock, self.traversal_dock,
         self.manifold_dock, self.drawings_dock, self.linear_dock, self.sizes_dock,
         self.noise_dock) = built = [self._dock(*spec) for spec in docks]
        self.handwriting.dock = self.drawings_dock
        self.bars_dock.visibilityChanged.connect(self.latent_views.panel_shown)
        arrange(self, QSize(*DEFAULT_SIZE))     # read_settings lays them out for the screen
        self.view_menu.addActions([dock.toggleViewAction() for dock in built])
        self.view_menu.addSeparator()
        self.reset_layout_action = make_action(self, "Reset Layout", self.reset_layout, [],
                                               "Size the window for this screen and put every panel back")
        self.view_menu.addAction(self.reset_layout_action)
        self.sweeps = Sweeps(self, self.session, self.traversal_dock, self.manifold_dock, self.latent_panel.bars,
                             self.exports.export_manifold, SECONDARY_INTERVAL_MS)
        self.paradigm = ParadigmViews(self, self.session, self.linear_dock, self.sizes_dock, self.noise_dock)

    def _dock(self, title: str, name: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        return dock

    def fill_menus(self) -> None:
        tools, models, hand = self.tools, self.models, self.handwriting
        strip = [self.exports.strip_png_action, self.exports.strip_gif_action]
        self.file_menu.addActions([tools.open_image_action, tools.save_drawing_action])
        self.file_menu.addMenu("&Export").addActions(self.exports.actions)
        self.file_menu.addSeparator()
        self.file_menu.addAction(models.open_checkpoint_action)
        self.file_menu.addSeparator()
        self.file_menu.addAction(make_action(self, "Quit", self.close, [QKeySequence.StandardKey.Quit]))
        self.edit_menu.addActions(tools.edit_actions)
        self.edit_menu.addSeparator()
        self.edit_menu.addActions([*tools.tool_actions, tools.thinner_action, tools.thicker_action])
        self.latent_menu.addAction(self.latent_views.reset_action)
        self.latent_menu.addSeparator()
        self.latent_menu.addActions([self.interpolation.pin_a_action, self.interpolation.pin_b_action, *strip])
        self.handwriting_menu.addAction(hand.collect_action)
        self.handwriting_menu.addMenu("&Save Drawing as").addActions(hand.digit_actions)
        self.handwriting_menu.addSeparator()
        self.handwriting_menu.addAction(hand.fine_tune_action)
        self.shortcuts_action = make_action(self, "Keyboard Shortcuts", lambda: self.about(1), ["Ctrl+/", "F1"],
                                            "Every keyboard shortcut of the app")
        self.help_menu.addActions([self.shortcuts_action, make_action(self, "About aegui", lambda: self.about(0))])

    def create_toolbar(self) -> None:
        bar = self.addToolBar("Tools")
        bar.setObjectName("toolsToolBar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        bar.addActions(self.tools.edit_actions)
        bar.addSeparator()
        bar.addActions(self.tools.tool_actions)
        bar.addWidget(QLabel(" Width "))
        bar.addWidget(self.tools.width_spin)
        bar.addSeparator()
        bar.addActions([self.tools.open_image_action, self.tools.save_drawing_action])
        bar.addSeparator()
        bar.addWidget(QLabel(" Model "))
        bar.addWidget(self.models.combo)

    def create_status_bar(self) -> None:
        status = self.statusBar()
        status.addPermanentWidget(self.incident_view.button)
        for label in (self.handwriting.collect_label, *self.models.labels.values(), self.latent_views.latency_label):
            status.addPermanentWidget(label)

    def about(self, tab: int = 0) -> AboutDialog:
        """Help ▸ About (``tab`` 0) or its keyboard-shortcut sheet (1), non-modal."""
        if self.about_dialog is None:
            self.about_dialog = AboutDialog(self)
        self.about_dialog.open_at(tab)
        return self.about_dialog

    # ------------------------------------------------------------------ settings and closing

    def read_settings(self) -> None:
        if not self._restore_layout():
            self.reset_layout()
        self.tools.set_pen_width(self.settings.pen_width)
        if not self.settings.drawn_before:
            self.canvas.set_hint(HINT)
            self.canvas.drawingChanged.connect(self._first_drawing)

    def _first_drawing(self) -> None:
        """The first-run hint goes once something is drawn, for good."""
        if not self.document.is_empty():
            self.settings.drawn_before = True
            self.canvas.set_hint("")
            self.canvas.drawingChanged.disconnect(self._first_drawing)

    def _restore_layout(self) -> bool:
        geometry, state = self.settings.geometry, self.settings.window_state
        if state is None or geometry is None or not self.restoreState(state):
            return False
        # The docks first, laid out: the window's minimum size is their arrangement's.
        self.layout().activate()
        return self.restoreGeometry(geometry)

    def reset_layout(self) -> None:
        """The default size for the screen the window is on, and every dock back in place
        (``aegui.gui.layout``)."""
        if self.isMaximized() or self.isFullScreen():
            self.showNormal()
        frame = default_geometry(self.screen().availableGeometry())
        self.move(frame.topLeft())
        self.lay_out(frame.size())

    def lay_out(self, size: QSize) -> None:
        """Resize the window to ``size`` and put the docks where they go at that size."""
        arrange(self, size)

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
        """Cancel fine-tuning, stop the inference thread, empty the drawings' trash (idempotent)."""
        self.handwriting.shutdown()
        self.worker.stop()
        self.reporter.close()


def create_window(model=None, **kwargs) -> MainWindow:
    """The main window on ``model``, built (not shown); a QApplication is made if none exists."""
    if QApplication.instance() is None:
        from .app import ensure_app

        ensure_app()
    return MainWindow(model, **kwargs)
