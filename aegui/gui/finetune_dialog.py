"""Fine-tuning in the app: the training thread and the dialog that drives it.

``FineTuneThread`` runs ``aegui.finetune.fine_tune`` (a generator) on a thread of its own,
on a copy of the model's weights that the inference thread hands out, with a torch thread
count of its own; it asks the run to stop between batches once ``cancel`` is called, and
reports progress at most every ``PROGRESS_INTERVAL_S`` so the UI thread is never flooded. The dialog is not modal:
the app stays usable while it trains. When done, the dialog shows each drawing beside its
reconstructions before and after, with their errors; the new model is already saved in the
user's models folder, and one click opens it. Closing the dialog cancels a run.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import numpy as np
from PySide6.QtCore import QThread, Signal
from PySide6.QtWidgets import (QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QProgressBar,
                               QPushButton, QScrollArea, QSpinBox, QVBoxLayout, QWidget)

from aegui import drawings
from aegui.drawings import DrawingsError

from .grid import ImageGrid
from .views import TextLine

__all__ = ["FineTuneDialog", "FineTuneThread"]

PROGRESS_INTERVAL_S = 0.05
COPY_TIMEOUT_S = 60.0      # for the inference thread to hand out a copy of the model
BAR_STEPS = 1000


def training_threads() -> int:
    """torch threads for fine-tuning: all cores but one, which stays with the UI (an
    oversubscribed core would make every batch many times slower)."""
    return max(1, (os.cpu_count() or 2) - 1)


class FineTuneThread(QThread):
    """Fine-tune the model that ``model`` (a future of a copy of it) gives, on ``samples``;
    see ``aegui.finetune.fine_tune``."""

    progress = Signal(object)      # aegui.finetune.Status
    succeeded = Signal(object)     # FineTuneResult
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, model: Future, samples, steps: int | None = None, mnist=None, models_dir=None,
                 device: str = "cpu", threads: int | None = None, parent=None):
        super().__init__(parent)
        self.setObjectName("fine-tune")
        self.threads = threads or training_threads()
        self._args = (model, list(samples), steps, mnist, models_dir, device)
        self._stop = threading.Event()

    def cancel(self) -> None:
        """Ask the run to stop at the next batch (it saves nothing)."""
        self._stop.set()

    @property
    def cancelling(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        # Imported here, on this thread: torch never loads on the UI thread. torch's
        # intra-op thread count belongs to each thread: this one sets its own.
        import torch

        from aegui.finetune import FineTuneConfig, fine_tune

        copy, samples, steps, mnist, models_dir, device = self._args
        self._args = None    # the thread object may outlive the run: drop the model copy
        config = FineTuneConfig() if steps is None else FineTuneConfig(steps=steps)
        last = 0.0
        try:
            torch.set_num_threads(self.threads)
            model = copy.result(timeout=COPY_TIMEOUT_S)
            if model is None:
                raise RuntimeError("no model is loaded yet")
            for status in fine_tune(model, samples, config, mnist=mnist,
                                    models_dir=models_dir, device=device, should_stop=self._stop.is_set):
                if status.event == "done":
                    self.progress.emit(status)
                    self.succeeded.emit(status.result)
                    return
                if status.event == "stopped":
                    self.cancelled.emit()
                    return
                now = time.perf_counter()
                if now - last >= PROGRESS_INTERVAL_S:
                    last = now
                    self.progress.emit(status)
        except Exception as err:  # noqa: BLE001 - shown to the user, the app goes on
            # The dialog shows the message; the app's log keeps the traceback.
            logging.getLogger(__name__).info("fine-tuning failed", exc_info=True)
            self.failed.emit(f"{type(err).__name__}: {err}")


class FineTuneDialog(QDialog):
    """Start, follow and cancel a fine-tuning run; see the results. At the start,
    ``model_name()`` says which model runs now (None: none is loaded) and ``copy_model()``
    gives a future of a copy of it to train."""

    modelSaved = Signal(str)        # path of the new model file
    useRequested = Signal(str)      # the user asks to switch to it

    def __init__(self, parent: QWidget | None, drawings_root: str | Path, models_dir: str | Path,
                 settings, model_name: Callable[[], str | None], copy_model: Callable[[], Future],
                 device: str = "cpu"):
        super().__init__(parent)
        self.setObjectName("fineTuneDialog")
        self.setWindowTitle("Fine-tune on my drawings")
        self.drawings_root, self.models_dir = Path(drawings_root), Path(models_dir)
        self.settings = settings
        self.model_name, self.copy_model = model_name, copy_model
        self.device = device
        self.thread: FineTuneThread | None = None
        self.result = None
        self.last_status = None
        self.error = ""
        self._create_widgets()
        self._lay_out()
        self.resize(520, 640)
        self._set_running(False)
        self.use_button.setEnabled(False)
        self.refresh()

    def _create_widgets(self) -> None:
        self.summary = QLabel()
        self.summary.setObjectName("fineTuneSummary")
        self.summary.setWordWrap(True)
        self.mnist_edit = QLineEdit(self.settings.data_path)
        self.mnist_edit.setObjectName("mnistPath")
        self.mnist_edit.setPlaceholderText(os.environ.get("AEGUI_DATA") or "mnist.npz or a folder of IDX files")
        self.mnist_edit.textChanged.connect(self._describe)
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self._browse)
        self.steps_spin = QSpinBox()
        self.steps_spin.setObjectName("fineTuneSteps")
        self.steps_spin.setRange(10, 20000)
        self.steps_spin.setSingleStep(50)
        self.steps_spin.setValue(300)
        self.steps_spin.setSuffix(" batches")
        self.mode = QLabel()
        self.mode.setWordWrap(True)
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("startFineTune")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelFineTune")
        self.cancel_button.clicked.connect(self.cancel)
        self.use_button = QPushButton("Use the new model")
        self.use_button.setObjectName("useFineTuned")
        self.use_button.clicked.connect(lambda: self.useRequested.emit(str(self.result.path)))
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        self.bar = QProgressBar()
        self.bar.setObjectName("fineTuneProgress")
        self.bar.setRange(0, BAR_STEPS)
        self.status = TextLine("", "Training on 50 drawings × 21 + 1050 MNIST digits: batch 300 of 300")
        self.status.setObjectName("fineTuneStatus")
        self.numbers = TextLine("", "loss 000.00 · 0:00 left")
        self.numbers.setObjectName("fineTuneNumbers")
        self.results = ImageGrid("fineTuneResults", min_cell=28, preferred_cell=42, max_cell=56)
        self.outcome = QLabel()
        self.outcome.setObjectName("fineTuneOutcome")
        self.outcome.setWordWrap(True)

    def _lay_out(self) -> None:
        form = QFormLayout()
        mnist_row = QHBoxLayout()
        mnist_row.addWidget(self.mnist_edit, 1)
        mnist_row.addWidget(self.browse_button)
        form.addRow("MNIST (optional)", mnist_row)
        form.addRow("Length", self.steps_spin)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        buttons.addWidget(self.use_button)
        buttons.addWidget(self.close_button)
        area = QScrollArea()
        area.setWidget(self.results)
        area.setWidgetResizable(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addLayout(form)
        layout.addWidget(self.mode)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addWidget(self.numbers)
        layout.addWidget(area, 1)
        layout.addWidget(self.outcome)
        layout.addLayout(buttons)

    # ------------------------------------------------------------------ state

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.isRunning()

    def refresh(self) -> None:
        """Count the drawings again (they may have changed since the dialog was made)."""
        try:
            counts = drawings.counts(self.drawings_root)
        except DrawingsError as err:
            self.summary.setText(str(err))
            self.start_button.setEnabled(False)
            return
        total = sum(counts.values())
        per_digit = ", ".join(f"{d}: {n}" for d, n in counts.items() if n)
        self.summary.setText(f"{total} drawing{'s' if total != 1 else ''}" + (f" ({per_digit})" if total else
                             " — collect some first: turn on collect mode, draw, press the digit's key"))
        self.start_button.setEnabled(total > 0 and not self.running)
        self._describe()

    def mnist_path(self) -> str:
        """The MNIST the run will mix in: the field, else $AEGUI_DATA; "" for none."""
        return self.mnist_edit.text().strip() or os.environ.get("AEGUI_DATA", "")

    def _describe(self, *_args) -> None:
        path = self.mnist_path()
        self.mode.setText(f"Your drawings mixed with MNIST from {path}, so the model keeps reading "
                          "everyone else's digits." if path else
                          "Your drawings alone, with augmented copies (small shifts, rotations, "
                          "stroke widths). Give MNIST to mix it in.")

    def _browse(self) -> None:
        path = QFileDialog.getOpenFileName(self, "MNIST data", self.mnist_edit.text(),
                                           "MNIST (*.npz);;All files (*)")[0]
        if path:
            self.mnist_edit.setText(path)

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.mnist_edit.setEnabled(not running)
        self.steps_spin.setEnabled(not running)

    # ------------------------------------------------------------------ running

    def start(self) -> bool:
        """Start a run on the model shown now; False (with the reason shown) if it cannot."""
        if self.running:
            return False
        try:
            samples = drawings.list_drawings(self.drawings_root)
        except DrawingsError as err:
            self.status.setText(str(err))
            return False
        name = self.model_name()
        if not samples or name is None:
            self.status.setText("Collect some drawings first" if not samples else "No model is loaded yet")
            return False
        self.settings.data_path = self.mnist_edit.text().strip()
        self.result, self.error, self.last_status = None, "", None
        self.results.set_images(np.zeros((0, 0, 28, 28)))
        self.outcome.setText("")
        self.use_button.setEnabled(False)
        self.bar.setValue(0)
        self.thread = FineTuneThread(self.copy_model(), samples, self.steps_spin.value(),
                                     self.mnist_path() or None, self.models_dir, self.device, parent=self)
        self.thread.progress.connect(self._progress)
        self.thread.succeeded.connect(self._succeeded)
        self.thread.failed.connect(self._failed)
        self.thread.cancelled.connect(self._cancelled)
        self.thread.finished.connect(lambda: self._set_running(False))
        self._set_running(True)
        self.status.setText(f"Starting from {name}…")
        self.thread.start()
        return True

    def cancel(self) -> None:
        if self.running:
            self.thread.cancel()
            self.status.setText("Cancelling…")

    def shutdown(self, timeout_ms: int = 10000) -> None:
        """Cancel a run and wait for its thread (the window is closing)."""
        if self.thread is not None:
            self.thread.cancel()
            self.thread.wait(timeout_ms)

    def reject(self) -> None:
        # Closing the dialog (its Close button, Esc, the title bar) cancels its run: no
        # training goes on unseen, and nothing half-trained is left behind.
        self.cancel()
        super().reject()

    def _progress(self, status) -> None:
        self.last_status = status
        self.bar.setValue(round(status.fraction * BAR_STEPS))
        self.status.setText(status.message)
        parts = []
        if status.loss is not None:
            parts.append(f"loss {status.loss:.2f}")
        if status.eta_s is not None and status.event != "done":
            parts.append(f"{_clock(status.eta_s)} left")
        self.numbers.setText(" · ".join(parts))

    def _succeeded(self, result) -> None:
        self.result = result
        self.bar.setValue(BAR_STEPS)
        rows = np.stack([result.frames, result.before, result.after], axis=1)
        labels = [f"{d}: {b:.4f} → {a:.4f}" for d, b, a in zip(result.labels, result.error_before,
                                                                 result.error_after)]
        self.results.set_images(rows, labels, ["drawing", "before", "after"])
        where = f" Saved as {result.path.stem} in {result.path.parent}." if result.path else ""
        self.outcome.setText(f"Your drawings' mean error (MSE per pixel): {result.error_before.mean():.4f} "
                             f"before, {result.error_after.mean():.4f} after.{where}")
        self.use_button.setEnabled(result.path is not None)
        if result.path is not None:
            self.modelSaved.emit(str(result.path))

    def _failed(self, message: str) -> None:
        self.error = message
        self.status.setText("Fine-tuning failed")
        self.outcome.setText(message)

    def _cancelled(self) -> None:
        self.status.setText("Cancelled: nothing was saved")
        self.numbers.setText("")
        self.bar.setValue(0)


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"
