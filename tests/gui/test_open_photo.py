"""File ▸ Open Image on a photo of a digit on grey paper puts its strokes on the canvas,
not a page of grey ink."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_paper import agreement, photo  # noqa: E402


def test_a_grey_paper_photo_opens_as_its_strokes(window, tmp_path):
    picture, digit = photo(120, 35, seed=2)
    path = tmp_path / "photo.jpg"
    Image.fromarray(picture).save(path, quality=90)
    assert window.tools.open_image(str(path))
    page = window.document.raster()
    assert (page[:40] == 0).all() and (page[:, :40] == 0).all()          # the paper is no ink
    assert agreement(page, digit) > 0.9
    assert not window.errors
