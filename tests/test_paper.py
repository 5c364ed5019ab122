"""Pictures of digits on paper of any grey: the paper becomes black and the strokes bright,
whether the picture comes onto the canvas (Open Image) or into the drawings folder; a
clean picture (pure white or black paper) keeps its values."""

from __future__ import annotations

import io

import numpy as np
import pytest
from drawn_digits import canvas_digit
from PIL import Image

from aegui import drawings
from aegui.paper import ink_from_picture, paper_level
from aegui.preprocess import mnist_style


def photo(paper: float, ink: float, seed: int = 0, quality: int = 85) -> tuple[np.ndarray, np.ndarray]:
    """(a JPEG photo of a 3 on paper of grey ``paper`` in ``ink``, the digit's ink 0..255)."""
    rng = np.random.default_rng(seed)
    digit = canvas_digit("3").astype(np.float32) / 255          # 512x512, ink 1 on 0
    light = 1.0 + 0.04 * np.linspace(-1, 1, 512)[None, :]          # uneven lighting across the page
    picture = (paper + (ink - paper) * digit) * light + rng.normal(0, 3.0, digit.shape)
    stream = io.BytesIO()
    Image.fromarray(np.clip(np.rint(picture), 0, 255).astype(np.uint8)).save(stream, format="JPEG", quality=quality)
    with Image.open(io.BytesIO(stream.getvalue())) as image:
        return np.asarray(image.convert("L")), canvas_digit("3")


def agreement(a, b) -> float:
    """How alike two drawings are as the network sees them: the best correlation of their
    framings within a pixel's shift (framing rounds the centre of mass to whole pixels,
    and ink of uneven strength moves it)."""
    a, b = mnist_style(a), mnist_style(b)
    return max(float(np.corrcoef(np.roll(a, (dy, dx), (0, 1)).ravel(), b.ravel())[0, 1])
               for dy in (-1, 0, 1) for dx in (-1, 0, 1))


@pytest.mark.parametrize("paper, ink", [(120, 35), (150, 60), (90, 20), (70, 200)], ids=["grey", "light grey",
                                                                                        "dark grey", "chalkboard"])
def test_a_photo_on_grey_paper_reads_as_its_strokes(paper, ink):
    picture, digit = photo(paper, ink)
    read = ink_from_picture(picture)
    assert (read[digit == 0] == 0).mean() > 0.98            # the paper is paper, not ink
    assert np.percentile(read[digit == 255], 50) > 200       # the strokes are ink
    assert agreement(read, digit) > 0.95


def test_the_paper_level_and_its_grain_are_estimated():
    picture, _ = photo(120, 35)
    level, grain = paper_level(picture)
    assert 110 < level < 130 and 1.5 < grain < 8


def test_clean_pictures_keep_their_values_and_white_paper_is_inverted():
    digit = canvas_digit("7")
    np.testing.assert_array_equal(ink_from_picture(digit), digit)
    np.testing.assert_array_equal(ink_from_picture(255 - digit), digit)
    assert not ink_from_picture(np.full((40, 40), 130, np.uint8)).any()      # blank paper holds no ink


def test_the_drawings_folder_reads_grey_paper_photos(tmp_path):
    picture, digit = photo(120, 35, seed=1)
    folder = tmp_path / "drawings" / "3"
    folder.mkdir(parents=True)
    Image.fromarray(picture).save(folder / "photo.png")
    [sample] = drawings.list_drawings(tmp_path / "drawings")
    assert agreement(sample.original(), digit) > 0.95
    assert agreement(sample.frame(), digit) > 0.95
