"""The drawing's tools: undo, redo, clear, pen and eraser, the pen width, opening an
image onto the canvas and saving the drawing as PNG. Actions and the width field, wired
to the document (what is drawn) and the canvas (the tool in hand)."""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtGui import QActionGroup, QKeySequence
from PySide6.QtWidgets import QSpinBox

from aegui import exports

from .actions import make_action
from .canvas import ImageFileError, paper_and_ink, picture_from_file

__all__ = ["DrawingTools"]

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp);;All files (*)"
WIDTH_RANGE = (2, 120)
WIDTH_STEP = 4


class DrawingTools(QObject):
    """Actions on ``document`` and ``canvas``; ``dialogs`` asks for files and shows
    errors, ``tell(text, ms)`` puts a message in the status bar."""

    def __init__(self, parent: QObject, document, canvas, dialogs, tell: Callable[[str, int], None]):
        super().__init__(parent)
        self.document, self.canvas, self.dialogs, self.tell = document, canvas, dialogs, tell
        undo_keys = [QKeySequence.StandardKey.Undo]
        redo_keys = [*QKeySequence.keyBindings(QKeySequence.StandardKey.Redo), "Ctrl+Shift+Z", "Ctrl+Y"]
        redo_keys = list(dict.fromkeys(QKeySequence(k).toString() for k in redo_keys))
        self.undo_action = make_action(self, "Undo", document.undo, undo_keys, "Take back the last stroke")
        self.redo_action = make_action(self, "Redo", document.redo, redo_keys, "Bring back an undone stroke")
        self.clear_action = make_action(self, "Clear", document.clear, ["Delete", "Backspace"],
                                        "Clear the drawing (undoable)")
        self.pen_action = make_action(self, "Pen", lambda: self.set_eraser(False), ["B"], "Draw", checkable=True)
        self.eraser_action = make_action(self, "Eraser", lambda: self.set_eraser(True), ["E"], "Erase",
                                         checkable=True)
        tools = QActionGroup(self)
        tools.addAction(self.pen_action)
        tools.addAction(self.eraser_action)
        self.pen_action.setChecked(True)
        self.thinner_action = make_action(self, "Thinner Pen", lambda: self.set_pen_width(canvas.pen_width - WIDTH_STEP),
                                          ["["])
        self.thicker_action = make_action(self, "Thicker Pen", lambda: self.set_pen_width(canvas.pen_width + WIDTH_STEP),
                                          ["]"])
        self.open_image_action = make_action(self, "Open Image…", lambda: self.open_image(),
                                             [QKeySequence.StandardKey.Open], "Put a PNG, JPEG or BMP on the canvas")
        self.save_drawing_action = make_action(self, "Save Drawing…", lambda: self.save_drawing(),
                                               [QKeySequence.StandardKey.Save], "Save the drawing as PNG")
        self.width_spin = QSpinBox()
        self.width_spin.setObjectName("penWidth")
        self.width_spin.setRange(*WIDTH_RANGE)
        self.width_spin.setSuffix(" px")
        self.width_spin.setToolTip("Pen width, in pixels of the 512x512 drawing")
        self.width_spin.setValue(int(canvas.pen_width))
        self.width_spin.valueChanged.connect(self.set_pen_width)
        document.observe(self._document_changed)
        self._document_changed(None)

    @property
    def edit_actions(self) -> list:
        return [self.undo_action, self.redo_action, self.clear_action]

    @property
    def tool_actions(self) -> list:
        return [self.pen_action, self.eraser_action]

    def set_eraser(self, on: bool) -> None:
        self.canvas.eraser = on
        (self.eraser_action if on else self.pen_action).setChecked(True)

    def set_pen_width(self, width: float) -> None:
        width = int(min(max(width, WIDTH_RANGE[0]), WIDTH_RANGE[1]))
        self.canvas.pen_width = float(width)
        if self.width_spin.value() != width:
            self.width_spin.setValue(width)

    def open_image(self, path: str | None = None) -> bool:
        """Put an image file on the canvas (undoable); an unreadable file changes nothing."""
        path = path or self.dialogs.file_to_open("Open Image", IMAGE_FILTER)
        if not path:
            return False
        try:
            pixels = picture_from_file(path, self.document.size)
        except ImageFileError as err:
            self.dialogs.show_error("Cannot open the image", str(err))
            return False
        self.document.place_picture(pixels)
        self.tell(f"Opened {os.path.basename(path)}", 5000)
        return True

    def save_drawing(self, path: str | None = None) -> bool:
        """Save the drawing as it looks on the canvas: a PNG of the page in the canvas's
        paper and ink colours (a ``.png`` name, whatever name was given)."""
        path = path or self.dialogs.file_to_save("Save Drawing", exports.FORMATS["png"], "drawing.png")
        if not path:
            return False
        path = exports.with_suffix(path, "png")
        try:
            exports.write(path, exports.png_bytes(exports.coloured(self.document.raster(), paper_and_ink(self.canvas))))
        except OSError as err:
            self.dialogs.show_error("Cannot save the drawing", str(err))
            return False
        self.tell(f"Saved {path}", 5000)
        return True

    def _document_changed(self, _segments) -> None:
        self.undo_action.setEnabled(self.document.can_undo)
        self.redo_action.setEnabled(self.document.can_redo)
