"""The main window's exports, and the file dialogs that remember the last folder.

A mixin of ``MainWindow`` (it uses the window's state and its ``ask_save_path`` /
``ask_open_path`` / ``show_error``, which tests replace): the drawing beside its
reconstruction as PNG, the latent vector as CSV or JSON, the latent map and the manifold
grid as PNG, the interpolation strip as PNG or GIF. Every file is written atomically
(``exports.write_file``), so a failed export leaves the old file, or none, never half of one.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .canvas import save_png
from .exports import latent_csv, latent_json, mosaic, png_bytes, side_by_side, write_file
from .interpolation import gif_bytes, strip_array

__all__ = ["ExportMixin"]

PNG_FILTER = "PNG image (*.png)"
FORMATS = {"csv": "CSV (*.csv)", "json": "JSON (*.json)", "png": PNG_FILTER, "gif": "Animated GIF (*.gif)"}


class ExportMixin:
    """Exports of ``MainWindow``; see the module docstring."""

    # ------------------------------------------------------------------ dialogs

    def ask_file_to_save(self, title: str, filter_: str, suggestion: str) -> str:
        """``ask_save_path`` starting in the folder used last; remembers the new one."""
        folder = self.settings.last_folder
        start = os.path.join(folder, suggestion) if folder and os.path.isdir(folder) else suggestion
        path = self.ask_save_path(title, filter_, start)
        if path:
            self.settings.last_folder = os.path.dirname(os.path.abspath(path))
        return path

    def ask_file_to_open(self, title: str, filter_: str) -> str:
        """``ask_open_path`` (which starts in the folder used last); remembers the new one."""
        path = self.ask_open_path(title, filter_)
        if path:
            self.settings.last_folder = os.path.dirname(os.path.abspath(path))
        return path

    def _export(self, title: str, filter_: str, suggestion: str, data: Callable[[], bytes],
                path: str | None) -> bool:
        path = path or self.ask_file_to_save(title, filter_, suggestion)
        if not path:
            return False
        try:
            write_file(path, data())
        except OSError as err:
            self.show_error(f"Cannot {title[0].lower()}{title[1:]}", str(err))
            return False
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    # ------------------------------------------------------------------ exports

    def export_images(self, path: str | None = None) -> bool:
        """The drawing as the network sees it beside what is shown as its reconstruction
        (an edited code's decoding, if edited), enlarged 8x, as one PNG."""
        drawing = self.last_drawing
        if self.info is None or drawing is None or drawing.z is None:
            self.statusBar().showMessage("Draw a digit first", 5000)
            return False
        shown = self.network.reconstruction.pixels() / 255.0
        return self._export("Export Drawing and Reconstruction", PNG_FILTER, "reconstruction.png",
                            lambda: png_bytes(side_by_side(drawing.frame, shown)), path)

    def export_latent(self, fmt: str, path: str | None = None) -> bool:
        """The code shown (and the drawing's own, with the edited dimensions) as CSV or JSON."""
        if fmt not in ("csv", "json"):
            raise ValueError(f"format must be 'csv' or 'json', not {fmt!r}")
        if self.info is None or self.last_drawing is None or self.last_drawing.z is None:
            self.statusBar().showMessage("Draw a digit first", 5000)
            return False
        latent, info = self.latent, self.info
        z, drawing, edited = latent.current.copy(), latent.drawing.copy(), latent.edited.copy()
        model = {"name": info.name, "kind": info.kind, "source": info.source}
        make = (lambda: latent_csv(z, drawing, edited)) if fmt == "csv" else \
            (lambda: latent_json(z, model, drawing, edited))
        return self._export("Export Latent Vector", FORMATS[fmt], f"latent.{fmt}", make, path)

    def export_map(self, path: str | None = None) -> bool:
        """The latent map as it looks on screen, as PNG."""
        path = path or self.ask_file_to_save("Export Latent Map", PNG_FILTER, "latent-map.png")
        if not path:
            return False
        try:
            save_png(self.map.grab().toImage(), path)
        except OSError as err:
            self.show_error("Cannot export the latent map", str(err))
            return False
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def export_manifold(self, path: str | None = None) -> bool:
        """The manifold grid's decodings, 2x, as PNG."""
        images = self.manifold_panel.grid.pixels()
        if images.size == 0:
            self.statusBar().showMessage("Show the manifold grid first", 5000)
            return False
        return self._export("Export Manifold Grid", PNG_FILTER, "manifold.png",
                            lambda: png_bytes(mosaic(images / 255.0, scale=2, gap=0)), path)

    def export_strip(self, fmt: str, path: str | None = None) -> bool:
        """Write the interpolation strip as PNG or animated GIF."""
        if self.strip_images is None:
            self.statusBar().showMessage("Pin A and B first", 5000)
            return False
        images = self.strip_images
        make = (lambda: png_bytes(strip_array(images))) if fmt == "png" else (lambda: gif_bytes(images))
        return self._export("Export Interpolation", FORMATS[fmt], f"interpolation.{fmt}", make, path)
