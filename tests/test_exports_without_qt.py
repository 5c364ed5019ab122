"""What the app writes, without Qt: the one PNG encoder, the mosaic of decodings, the
exports of a session (nothing to export says what to do first), and writes to a path the
user chose (all or nothing, never a folder made up)."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from aegui import exports
from aegui.exports import NothingToExport
from aegui.preprocess import to_uint8
from aegui.session import Interpolation, LatentEdit


def decoded(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image)


def test_png_bytes_encode_grey_rgb_and_rgba_exactly():
    rng = np.random.default_rng(0)
    for shape, mode in (((5, 7), "L"), ((5, 7, 3), "RGB"), ((5, 7, 4), "RGBA")):
        pixels = rng.integers(0, 256, shape, dtype=np.uint8)
        png = exports.png_bytes(pixels)
        with Image.open(io.BytesIO(png)) as image:
            assert image.mode == mode
        np.testing.assert_array_equal(decoded(png), pixels)
    with pytest.raises(ValueError, match="shape"):
        exports.png_bytes(np.zeros((4, 4, 2), np.uint8))


def test_a_mosaic_enlarges_each_image_with_square_pixels_and_black_gaps():
    images = np.zeros((2, 3, 2, 2), np.float32)
    images[1, 2] = [[1.0, 0.0], [0.5, 1.0]]
    out = exports.mosaic(images, scale=3, gap=1)
    assert out.shape == (2 * 6 + 1, 3 * 6 + 2)
    np.testing.assert_array_equal(out[7:, 14:], np.kron([[255, 0], [128, 255]], np.ones((3, 3))).astype(np.uint8))
    assert not out[6].any() and not out[:, 6].any()
    with pytest.raises(ValueError):
        exports.mosaic(np.zeros((0, 1, 2, 2)))


def session(drawn=True, strip=None, manifold=None):
    """A stand-in for a session holding a drawing of a 3-dimensional code, one edited."""
    edit = LatentEdit(3)
    drawing = None
    if drawn:
        edit.set_drawing([0.5, -1.0, 2.0])
        edit.set_value(1, 0.25)
        frame = np.zeros((28, 28), np.float32)
        frame[10:18, 12:16] = 1.0
        drawing = SimpleNamespace(frame=frame, z=edit.drawing.copy())
    output = SimpleNamespace(image=np.full((28, 28), 0.5, np.float32)) if drawn else None
    info = SimpleNamespace(name="ae-3", kind="ae", source=None)
    return SimpleNamespace(info=info, drawing=drawing, output=output, edit=edit, strip=strip, manifold=manifold,
                           interpolation=Interpolation())


def test_the_drawing_exports_beside_what_the_reconstruction_view_shows_in_the_screens_colours():
    s = session()
    pixels = decoded(exports.reconstruction_png(s))               # by default dark ink on white paper
    assert pixels.shape == (224, 2 * 224 + 8)
    np.testing.assert_array_equal(pixels[:, :224], 255 - np.kron((s.drawing.frame * 255).astype(np.uint8),
                                                                 np.ones((8, 8), np.uint8)))
    assert (pixels[:, 232:] == 127).all() and (pixels[:, 224:232] == 255).all()
    dark = ((30, 30, 30), (232, 232, 232))
    pixels = decoded(exports.reconstruction_png(s, dark))
    assert pixels[0, 0] == 30 and pixels[100, 100] == 232       # the frame's ink, light on dark
    tinted = decoded(exports.reconstruction_png(s, ((255, 250, 240), (20, 40, 90))))
    assert tinted.shape == (224, 2 * 224 + 8, 3) and tuple(tinted[0, 0]) == (255, 250, 240)


def test_colouring_maps_paper_to_paper_and_full_ink_to_ink():
    levels = np.array([[0, 255, 128]], np.uint8)
    np.testing.assert_array_equal(exports.coloured(levels), [[255, 0, 127]])
    rgb = exports.coloured(levels, ((200, 220, 240), (0, 20, 40)))
    np.testing.assert_array_equal(rgb[0, :2], [[200, 220, 240], [0, 20, 40]])


def test_a_file_always_gets_its_formats_extension():
    assert exports.with_suffix("/x/drawing", "png") == "/x/drawing.png"
    assert exports.with_suffix("/x/drawing.PNG", "png") == "/x/drawing.PNG"
    assert exports.with_suffix("/x/v1.2/latent", "csv") == "/x/v1.2/latent.csv"
    assert exports.with_suffix("/x/strip.png", "gif") == "/x/strip.png.gif"


def test_the_code_exports_with_the_drawings_own_and_the_edited_dimensions():
    s = session()
    rows = exports.latent_file(s, "csv").decode().splitlines()
    assert rows[0] == "dim,z,drawing_z,edited" and rows[2] == "1,0.25,-1.0,1"
    doc = exports.latent_json(s.edit.current, {"name": "ae-3"}, s.edit.drawing, s.edit.edited)
    assert b'"edited": [\n    1\n  ]' in doc
    with pytest.raises(ValueError):
        exports.latent_file(s, "xml")


def test_nothing_to_export_says_what_to_do_first():
    empty = session(drawn=False)
    for make, message in ((lambda: exports.reconstruction_png(empty), "Draw a digit first"),
                          (lambda: exports.latent_file(empty, "json"), "Draw a digit first"),
                          (lambda: exports.strip_file(empty, "png"), "Pin A and B first"),
                          (lambda: exports.manifold_png(empty), "Show the manifold grid first")):
        with pytest.raises(NothingToExport, match=message):
            make()


def test_the_strip_exports_as_one_row_and_the_manifold_as_a_grid():
    strip = np.random.default_rng(1).random((8, 28, 28)).astype(np.float32)
    grid = np.random.default_rng(2).random((3, 3, 28, 28)).astype(np.float32)
    s = session(strip=strip, manifold=(np.zeros((3, 3, 2)), grid))
    assert decoded(exports.strip_file(s, "png")).shape == (112, 8 * 112 + 7 * 4)
    assert decoded(exports.manifold_png(s)).shape == (3 * 56, 3 * 56)
    with Image.open(io.BytesIO(exports.strip_file(s, "gif"))) as gif:
        assert gif.size == (112, 112) and gif.n_frames >= 2
        first = np.asarray(gif.convert("L"))
    np.testing.assert_array_equal(first, 255 - np.kron(to_uint8(strip[0]), np.ones((4, 4), np.uint8)))


def test_a_write_to_a_missing_folder_fails_naming_the_file_and_leaves_nothing(tmp_path):
    target = tmp_path / "missing" / "z.json"
    with pytest.raises(OSError, match="z.json"):
        exports.write(target, b"{}")
    assert not target.parent.exists()
    exports.write(tmp_path / "z.json", b"{}")
    assert (tmp_path / "z.json").read_bytes() == b"{}" and len(list(tmp_path.iterdir())) == 1
