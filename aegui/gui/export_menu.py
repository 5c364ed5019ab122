"""File ▸ Export: the drawing beside its reconstruction as PNG, the latent vector as CSV
or JSON, the latent map and the manifold grid as PNG, the interpolation strip as PNG or
GIF. What is written is a function of the session (``aegui.exports``), in the paper and
ink colours of the screen, except the latent map, which is the widget as it looks on
screen; a file always gets its format's extension. Every file is written atomically, so a
failed export leaves the old file, or none, never half of one."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget

from aegui import exports
from aegui.exports import FORMATS, NothingToExport

from .actions import make_action
from .canvas import paper_and_ink

__all__ = ["ExportMenu", "image_pixels"]

MAP_EXPORT_WIDTH = 2400   # pixels: sharp in print at about 20 cm


class ExportMenu(QObject):
    """Exports of ``session`` (and of the widget ``latent_map``); ``dialogs`` asks where,
    ``tell(text, ms)`` puts a message in the status bar."""

    def __init__(self, parent: QObject, session, latent_map: QWidget, dialogs, tell: Callable[[str, int], None]):
        super().__init__(parent)
        self.session, self.latent_map, self.dialogs, self.tell = session, latent_map, dialogs, tell
        self.images_action = make_action(self, "Export Drawing and Reconstruction…", lambda: self.export_images(),
                                         ["Ctrl+E"], "The model input beside its reconstruction, as PNG")
        self.csv_action = make_action(self, "Export Latent Vector as CSV…", lambda: self.export_latent("csv"))
        self.json_action = make_action(self, "Export Latent Vector as JSON…", lambda: self.export_latent("json"))
        self.map_action = make_action(self, "Export Latent Map as PNG…", lambda: self.export_map())
        self.manifold_action = make_action(self, "Export Manifold Grid as PNG…", lambda: self.export_manifold())
        self.strip_png_action = make_action(self, "Export Strip as PNG…", lambda: self.export_strip("png"))
        self.strip_gif_action = make_action(self, "Export Strip as GIF…", lambda: self.export_strip("gif"))

    @property
    def actions(self) -> list:
        return [self.images_action, self.csv_action, self.json_action, self.map_action, self.manifold_action,
                self.strip_png_action, self.strip_gif_action]

    def export_images(self, path: str | None = None) -> bool:
        """The drawing as the network sees it beside what the reconstruction view shows."""
        return self._export("Export Drawing and Reconstruction", "png", "reconstruction.png",
                            lambda: exports.reconstruction_png(self.session, self._colours()), path)

    def export_latent(self, fmt: str, path: str | None = None) -> bool:
        """The code shown (and the drawing's own, with the edited dimensions) as CSV or JSON."""
        if fmt not in ("csv", "json"):
            raise ValueError(f"format must be 'csv' or 'json', not {fmt!r}")
        return self._export("Export Latent Vector", fmt, f"latent.{fmt}",
                            lambda: exports.latent_file(self.session, fmt), path)

    def export_map(self, path: str | None = None, width: int | None = None) -> bool:
        """The latent map as shown (view, zoom, markers), as a PNG of a chosen width."""
        width = width or self.dialogs.ask_width("Export Latent Map", MAP_EXPORT_WIDTH)
        if not width:
            return False
        return self._export("Export Latent Map", "png", "latent-map.png",
                            lambda: exports.png_bytes(image_pixels(self.latent_map.render(width))), path)

    def export_manifold(self, path: str | None = None) -> bool:
        """The manifold grid's decodings, 2x."""
        return self._export("Export Manifold Grid", "png", "manifold.png",
                            lambda: exports.manifold_png(self.session, self._colours()), path)

    def export_strip(self, fmt: str, path: str | None = None) -> bool:
        """The interpolation strip as PNG or animated GIF."""
        return self._export("Export Interpolation", fmt, f"interpolation.{fmt}",
                            lambda: exports.strip_file(self.session, fmt, self._colours()), path)

    def _export(self, title: str, fmt: str, suggestion: str, data: Callable[[], bytes], path: str | None) -> bool:
        """Encode first (nothing to export: say what to do, ask nothing), then ask where
        (unless ``path``) and write."""
        try:
            encoded = data()
        except NothingToExport as err:
            self.tell(str(err), 5000)
            return False
        path = path or self.dialogs.file_to_save(title, FORMATS[fmt], suggestion)
        if not path:
            return False
        path = exports.with_suffix(path, fmt)
        try:
            exports.write(path, encoded)
        except OSError as err:
            self.dialogs.show_error(f"Cannot {title[0].lower()}{title[1:]}", str(err))
            return False
        self.tell(f"Saved {path}", 5000)
        return True


    def _colours(self):
        return paper_and_ink(self.latent_map)


def image_pixels(image: QImage) -> np.ndarray:
    """A QImage (a widget's grab) as RGB pixels (H, W, 3) uint8, for ``aegui.exports.png_bytes``."""
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(rgb.constBits(), np.uint8).reshape(rgb.height(), rgb.bytesPerLine())
    return rows[:, : rgb.width() * 3].reshape(rgb.height(), rgb.width(), 3).copy()
