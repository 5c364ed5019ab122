"""Choosing the model: the list of models (the toolbar's chooser and the Model menu: the
shipped models, then the user's fine-tuned ones), File ▸ Open Checkpoint, the device, and
the status bar's labels naming the model, its code size, the backend and the device.
It sends the session what the user picks and shows what the session has loaded."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QComboBox, QLabel, QMenu

from aegui import user_models

from .actions import make_action

__all__ = ["ModelChooser", "describe_metrics"]

CHECKPOINT_FILTER = "aegui checkpoints (*.pt);;All files (*)"
DEVICES = ("cpu", "cuda")


class ModelChooser(QObject):
    """Model actions for ``session``; ``menu`` is the Model menu it fills. ``explicit``:
    the window was asked for a model (if it cannot be opened, say so, not just note it)."""

    def __init__(self, parent: QObject, session, settings, models_dir: Path, dialogs,
                 tell: Callable[[str, int], None], menu: QMenu, explicit: bool):
        super().__init__(parent)
        self.session, self.settings, self.models_dir = session, settings, Path(models_dir)
        self.dialogs, self.tell, self.menu, self._explicit = dialogs, tell, menu, explicit
        self.open_checkpoint_action = make_action(self, "Open Checkpoint…", lambda: self.choose_checkpoint(),
                                                  ["Ctrl+Shift+O"], "Load a model from a checkpoint file")
        self.combo = QComboBox()
        self.combo.setObjectName("modelChoice")
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.combo.setToolTip("Shipped models; File > Open Checkpoint for others")
        self.combo.activated.connect(self._chosen)
        self.group = QActionGroup(self)
        self.device_group = QActionGroup(self)
        self.device_actions = {d: make_action(self, d.upper(), lambda _=False, d=d: session.set_device(d),
                                              checkable=True) for d in DEVICES}
        for act in self.device_actions.values():
            self.device_group.addAction(act)
        self._check_device(session.device)
        self.device_actions["cuda"].setEnabled(False)   # until torch says otherwise
        self._separator = menu.addSeparator()
        menu.addAction(self.open_checkpoint_action)
        menu.addMenu("&Device").addActions(list(self.device_actions.values()))
        self.labels = {name: QLabel(text) for name, text in (("statusModel", "Loading model…"), ("statusLatent", ""),
                                                              ("statusBackend", ""), ("statusDevice", ""))}
        for name, label in self.labels.items():
            label.setObjectName(name)
        session.model_changed.connect(self._model_ready)
        session.model_failed.connect(self._model_failed)

    # ------------------------------------------------------------------ intents

    def open_model(self, source) -> None:
        """Load a shipped model by name, or a checkpoint by path; errors keep the model."""
        self.tell(f"Loading {source}…", 0)
        self.session.open_model(source)

    def choose_checkpoint(self) -> None:
        path = self.dialogs.file_to_open("Open Checkpoint", CHECKPOINT_FILTER)
        if path:
            self.open_model(path)

    def choices(self) -> list[tuple[str, str]]:
        """(label, source) of every model to choose from: the shipped ones, then the user's."""
        info = self.session.info
        shipped = [(name, name) for name in (info.shipped if info else ())]
        mine = [(path.stem, str(path)) for path in user_models.list_models(self.models_dir)]
        return shipped + mine

    def _chosen(self, index: int) -> None:
        source, info = self.combo.itemData(index), self.session.info
        if source and (info is None or source != info.source):
            self.open_model(source)

    # ------------------------------------------------------------------ what the session says

    def _model_ready(self, info) -> None:
        first = self._explicit
        self._explicit = False
        self.refresh()
        self.device_actions["cuda"].setEnabled(info.cuda_available)
        self._check_device(info.device)
        note = info.problem or ("untrained: no shipped model is installed" if info.untrained else "")
        self.labels["statusModel"].setText(f"Model {info.name}" + (" (untrained)" if info.untrained else ""))
        self.labels["statusModel"].setToolTip("\n".join(filter(None, [info.description,
                                                                       describe_metrics(info.metrics), note])))
        self.labels["statusLatent"].setText(f"z: {info.latent_dim}")
        self.labels["statusBackend"].setText(f"backend {info.backend}")
        self.labels["statusDevice"].setText(f"device {info.device}")
        self.tell(note or f"Loaded {info.name}", 10000)
        if not info.untrained and (info.source or info.name in info.shipped):
            self.settings.last_model = info.source or info.name
        if first and info.problem:
            self.dialogs.show_error("Cannot open the model", f"{info.problem}\n\nOpened {info.name} instead.")

    def _model_failed(self, what: str, why: str) -> None:
        self.tell(f"Could not open {what}", 10000)
        why = why.removeprefix(f"{what}: ")        # the file is named once, above
        self.refresh()
        self._check_device(self.session.device)
        self.dialogs.show_error("Cannot open the model", f"{what}\n\n{why}\n\nThe current model stays loaded.")

    def _check_device(self, device: str) -> None:
        self.device_actions.get(device, self.device_actions["cpu"]).setChecked(True)

    def refresh(self) -> None:
        """List the models again (the user's folder may have changed); mark the current one."""
        info = self.session.info
        choices = self.choices()
        sources = [source for _, source in choices]
        current = (info.source or info.name) if info else None
        self.combo.blockSignals(True)
        self.combo.clear()
        for label, source in choices:
            self.combo.addItem(label, source)
        if current and current not in sources:
            untrained = " (untrained)" if info.untrained else ""
            self.combo.addItem(os.path.basename(current) + untrained, info.source)
        index = self.combo.findData(current) if current in sources else self.combo.count() - 1
        self.combo.setCurrentIndex(max(index, 0))
        self.combo.blockSignals(False)
        for act in self.group.actions():
            self.group.removeAction(act)
            self.menu.removeAction(act)
            act.deleteLater()
        for label, source in choices:
            act = QAction(label, self, checkable=True, checked=(source == current))
            act.triggered.connect(lambda _=False, n=source: self.open_model(n))
            self.group.addAction(act)
            self.menu.insertAction(self._separator, act)


def describe_metrics(metrics: dict) -> str:
    """One line of the model's test-set metrics, as ``aegui eval`` stored them."""
    names = {"sse": "squared error per digit", "bce": "BCE per pixel", "nats": "nats per digit"}
    parts = [f"{label} {metrics[key]:.4g}" for key, label in names.items()
             if isinstance(metrics.get(key), int | float)]
    parts += [f"{key.removesuffix('_accuracy')} accuracy {value:.1%}" for key, value in metrics.items()
              if key.endswith("_accuracy") and isinstance(value, int | float)]
    return ("MNIST test: " + ", ".join(parts)) if parts else ""
