"""The "My drawings" dock: the drawings collected so far, per digit, with their counts.

The folder (``aegui.drawings`` documents it) is the state; this panel shows it and
deletes from it, after asking; Undo Delete (or Ctrl+Z in the list) brings back what was
deleted, from the folder's trash, which is emptied when the panel starts and closes. Collecting itself is the window's: in collect mode a digit key saves the
canvas under that label and the window asks the panel to ``refresh``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QKeySequence, QPalette, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QHBoxLayout, QLabel, QListView, QListWidget,
                               QListWidgetItem, QPushButton, QToolButton, QVBoxLayout, QWidget)

from aegui import drawings
from aegui.drawings import DrawingsError, Sample

from .canvas import gray_table
from .views import hint_label

__all__ = ["DrawingsPanel"]

THUMB = 56     # 28x28 framings shown twice their size, square pixels


class _DrawingList(QListWidget):
    """Thumbnails; the Delete and Backspace keys ask to delete the selected ones, Ctrl+Z
    to undo a deletion: while the list has focus these take precedence over the window's
    shortcuts on those keys (Clear, Undo)."""

    deleteRequested = Signal()
    undoRequested = Signal()

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and (self._is_delete(event) or self._is_undo(event)):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        if self._is_delete(event) or self._is_undo(event):
            (self.deleteRequested if self._is_delete(event) else self.undoRequested).emit()
            event.accept()
            return
        super().keyPressEvent(event)

    @staticmethod
    def _is_undo(event) -> bool:
        return event.matches(QKeySequence.StandardKey.Undo)

    @staticmethod
    def _is_delete(event) -> bool:
        return (event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace)
                and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier)


class DrawingsPanel(QWidget):
    """Digit buttons with counts, the chosen digit's drawings as thumbnails, delete, undo
    and fine-tune buttons. ``confirm(title, text)`` asks before deleting (None: no one to
    ask, nothing is deleted). ``changed(what)`` after a deletion or an undo, saying what
    happened; ``fineTuneRequested`` from its button."""

    changed = Signal(str)
    fineTuneRequested = Signal()

    def __init__(self, root: str | Path, confirm=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("drawings")
        self.root = Path(root)
        self.confirm = confirm
        self.trashed: list[drawings.Trashed] = []     # what Undo Delete brings back, newest last
        drawings.empty_trash(self.root)                # a trash left by a run that ended abruptly
        self.digit = 0
        self.counts = dict.fromkeys(drawings.LABELS, 0)
        self.digit_buttons: list[QToolButton] = []
        self.buttons = QButtonGroup(self)
        self.buttons.setExclusive(True)
        digits = QHBoxLayout()
        digits.setSpacing(2)
        for d in drawings.LABELS:
            button = QToolButton()
            button.setObjectName(f"digit{d}")
            button.setCheckable(True)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            self.buttons.addButton(button, d)
            self.digit_buttons.append(button)
            digits.addWidget(button)
        self.digit_buttons[0].setChecked(True)
        self.buttons.idClicked.connect(self.show_digit)
        self.list = _DrawingList()
        self.list.setObjectName("drawingsList")
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setUniformItemSizes(True)
        self.list.setSpacing(2)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.deleteRequested.connect(self.delete_selected)
        self.list.undoRequested.connect(self.undo_delete)
        self.list.itemSelectionChanged.connect(self._selection_changed)
        self.total = QLabel()
        self.total.setObjectName("drawingsTotal")
        buttons = self._create_buttons()
        hint = hint_label("Collect mode: draw a digit, then press its key (0–9) to save it here.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(digits)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.total)
        layout.addLayout(buttons)
        layout.addWidget(hint)
        self.refresh()

    def _create_buttons(self) -> QHBoxLayout:
        """Collect mode, delete, undo delete and fine-tune, in a row."""
        self.collect_button = QToolButton()
        self.delete_button = QPushButton("Delete")
        self.delete_button.setObjectName("deleteDrawings")
        self.delete_button.setToolTip(f"Delete the selected drawings ({QKeySequence('Delete').toString()})")
        self.delete_button.clicked.connect(self.delete_selected)
        self.undo_button = QPushButton("Undo Delete")
        self.undo_button.setObjectName("undoDeleteDrawings")
        self.undo_button.setToolTip("Bring back the drawings deleted last (Ctrl+Z in the list)")
        self.undo_button.setEnabled(False)
        self.undo_button.clicked.connect(self.undo_delete)
        self.fine_tune_button = QPushButton("Fine-tune on my drawings…")
        self.fine_tune_button.setObjectName("fineTuneButton")
        self.fine_tune_button.clicked.connect(self.fineTuneRequested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.collect_button)
        buttons.addStretch(1)
        for button in (self.delete_button, self.undo_button, self.fine_tune_button):
            buttons.addWidget(button)
        return buttons

    def set_collect_action(self, action) -> None:
        self.collect_button.setDefaultAction(action)

    # ------------------------------------------------------------------ showing

    def refresh(self, digit: int | None = None) -> None:
        """Read the folder again; show ``digit`` (default: the one shown)."""
        if digit is not None:
            self.digit = int(digit)
            self.digit_buttons[self.digit].setChecked(True)
        try:
            self.counts, problem = drawings.counts(self.root), ""
        except DrawingsError as err:          # a digit's folder cannot be read: say so
            self.counts, problem = dict.fromkeys(drawings.LABELS, 0), str(err)
        for d, button in enumerate(self.digit_buttons):
            button.setText(f"{d}\n{self.counts[d]}")
            button.setToolTip(f"{self.counts[d]} drawings of a {d}")
        total = sum(self.counts.values())
        self.total.setText(problem or f"{total} drawing{'s' if total != 1 else ''} in all · "
                                      f"{self.counts[self.digit]} of a {self.digit}")
        self.total.setToolTip(str(self.root))
        self.fine_tune_button.setEnabled(total > 0)
        self._fill()

    def show_digit(self, digit: int) -> None:
        self.refresh(digit)

    def samples(self) -> list[Sample]:
        """The drawings listed, in order."""
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]

    def selected_samples(self) -> list[Sample]:
        return [item.data(Qt.ItemDataRole.UserRole) for item in self.list.selectedItems()]

    def _fill(self) -> None:
        self.list.clear()
        table = gray_table(self.palette().color(QPalette.ColorRole.Base),
                           self.palette().color(QPalette.ColorRole.Text))
        try:
            samples = drawings.list_drawings(self.root, self.digit)
        except DrawingsError as err:
            samples = []
            self.total.setText(str(err))
        for sample in samples:
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, sample)
            try:
                item.setIcon(QIcon(_thumbnail(sample.frame(), table)))
                item.setToolTip(f"A {sample.label}, saved {_when(sample.id)}")
            except DrawingsError as err:
                item.setText("?")
                item.setToolTip(str(err))
            self.list.addItem(item)
        self._selection_changed()

    def _selection_changed(self) -> None:
        self.delete_button.setEnabled(bool(self.list.selectedItems()))

    def changeEvent(self, event) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange) \
                and hasattr(self, "list"):
            self._fill()
        super().changeEvent(event)

    # ------------------------------------------------------------------ deleting

    def delete_selected(self) -> int:
        """Delete the selected drawings, once confirmed (Undo Delete brings them back);
        returns how many."""
        chosen = self.selected_samples()
        if not chosen or self.confirm is None:
            return 0
        what = f"{len(chosen)} drawing{'s' if len(chosen) != 1 else ''} of a {chosen[0].label}"
        if not self.confirm("Delete drawings", f"Delete {what}? Undo Delete brings them back."):
            return 0
        try:
            self.trashed.append(drawings.move_to_trash(chosen, self.root))
        except OSError as err:
            self.total.setText(f"Cannot delete: {err}")
            return 0
        self.undo_button.setEnabled(True)
        self.refresh()
        self.changed.emit(f"Deleted {what} (Undo Delete brings them back)")
        return len(chosen)

    def undo_delete(self) -> int:
        """Bring back the drawings deleted last; returns how many."""
        if not self.trashed:
            return 0
        batch = self.trashed[-1]
        try:
            restored = batch.restore()
        except OSError as err:
            self.total.setText(f"Cannot bring the drawings back: {err}")
            return 0
        self.trashed.pop()
        self.undo_button.setEnabled(bool(self.trashed))
        self.refresh(restored[0].label if restored else None)
        self.changed.emit(f"Brought back {len(restored)} drawing{'s' if len(restored) != 1 else ''}")
        return len(restored)

    def close_trash(self) -> None:
        """Empty the trash: what was deleted is gone for good (the window is closing)."""
        self.trashed.clear()
        self.undo_button.setEnabled(False)
        drawings.empty_trash(self.root)


def _thumbnail(frame: np.ndarray, table: list[int]) -> QPixmap:
    frame = np.ascontiguousarray(frame, np.uint8)
    image = QImage(frame.data, 28, 28, 28, QImage.Format.Format_Indexed8)
    image.setColorTable(table)
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    return QPixmap.fromImage(image.scaled(THUMB, THUMB, Qt.AspectRatioMode.IgnoreAspectRatio,
                                          Qt.TransformationMode.FastTransformation))


def _when(sample_id: str) -> str:
    """``20250102-134501-123456`` -> ``2025-01-02 13:45 UTC``; other names as they are."""
    parts = sample_id.split("-")
    if len(parts) >= 2 and len(parts[0]) == 8 and len(parts[1]) == 6 and (parts[0] + parts[1]).isdigit():
        d, t = parts[0], parts[1]
        return f"{d[:4]}-{d[4:6]}-{d[6:]} {t[:2]}:{t[2:4]} UTC"
    return sample_id
