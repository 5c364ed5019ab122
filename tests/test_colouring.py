"""Grey levels to colours for the screen, compiled (``aegui.native``): ``colour_image``, a
result image as a small view shows it (``to_uint8``, then the view's 256 colours), and
``colour_box``, the part of the canvas's view the pen just painted. numpy does the same
without the library; the compiled calls must give the same bytes and refuse what does not
fit without writing anything."""

from __future__ import annotations

import numpy as np
import pytest
from compiled_kernels import compiled_kernel

from aegui.preprocess import to_uint8

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_compiled_colouring_quantises_like_to_uint8_to_the_last_level(dtype):
    kernel = compiled_kernel("colour_image", "the views colour with numpy")
    rng = np.random.default_rng(5)
    colours = rng.integers(0, 2**32, 256, dtype=np.uint64).astype(np.uint32)
    for shape in [(28, 28)] * 50 + [(1, 1), (3, 700), (56, 28)]:
        image = rng.normal(0.5, 0.7, shape).astype(dtype)
        image[rng.random(shape) < 0.05] = np.inf
        image[rng.random(shape) < 0.05] = -np.inf
        halves = (np.arange(min(image.size, 256)) + 0.5) / 255       # ties: rounded half to even
        image.flat[:len(halves)] = halves
        pixels, rgb = np.empty(shape, np.uint8), np.empty(shape, np.uint32)
        kernel(image, colours, pixels, rgb)
        np.testing.assert_array_equal(pixels, to_uint8(image))
        np.testing.assert_array_equal(rgb, colours[to_uint8(image)])
    pixels, rgb = np.ones((1, 2), np.uint8), np.ones((1, 2), np.uint32)
    kernel(np.array([[np.nan, -0.0]], dtype), colours, pixels, rgb)
    assert pixels.tolist() == [[0, 0]] and rgb.tolist() == [[colours[0]] * 2]     # NaN shows as paper


def test_the_compiled_colouring_refuses_what_does_not_fit_and_writes_nothing():
    kernel = compiled_kernel("colour_image", "the views colour with numpy")
    image, colours = np.zeros((28, 28), np.float32), np.zeros(256, np.uint32)
    pixels, rgb = np.full((28, 28), 7, np.uint8), np.full((28, 28), 7, np.uint32)
    wrong = [
        ((image.astype(np.float16), colours, pixels, rgb), "image must be a C-contiguous 2-D float32 or float64"),
        ((image[None], colours, pixels, rgb), "image must be"),
        ((np.asfortranarray(np.zeros((28, 3))), colours, pixels, rgb), "image must be"),
        ((image, colours[:255], pixels, rgb), r"colours must be a C-contiguous \(256,\) uint32 array"),
        ((image, colours.astype(np.int64), pixels, rgb), "colours must be"),
        ((image, colours, pixels[:, :27], rgb), "pixels must be a C-contiguous, writable uint8 array of the image's"),
        ((image, colours, pixels.astype(np.int8), rgb), "pixels must be"),
        ((image, colours, pixels, rgb.astype(np.float32)), "rgb must be a C-contiguous, writable uint32 array"),
        ((image, colours, pixels, rgb[:27]), "rgb must be"),
    ]
    for args, message in wrong:
        with pytest.raises(ValueError, match=message):
            kernel(*args)
    with pytest.raises(TypeError, match="4 arguments"):
        kernel(image, colours, pixels)
    assert (pixels == 7).all() and (rgb == 7).all()


def test_colour_box_colours_the_box_and_nothing_else():
    kernel = compiled_kernel("colour_box", "the canvas colours with numpy")
    rng = np.random.default_rng(8)
    colours = rng.integers(0, 2**32, 256, dtype=np.uint64).astype(np.uint32)
    for _ in range(100):
        h, w = (int(n) for n in rng.integers(1, 90, 2))
        ink = rng.integers(0, 256, (h, w), dtype=np.uint8)
        x0, x1 = sorted(int(n) for n in rng.integers(0, w + 1, 2))
        y0, y1 = sorted(int(n) for n in rng.integers(0, h + 1, 2))
        rgb = np.full((h, w), 12345, np.uint32)
        want = rgb.copy()
        want[y0:y1, x0:x1] = colours[ink[y0:y1, x0:x1]]
        kernel(ink, colours, rgb, (x0, y0, x1, y1))
        np.testing.assert_array_equal(rgb, want)


def test_colour_box_refuses_a_box_off_the_image_and_what_does_not_fit():
    kernel = compiled_kernel("colour_box", "the canvas colours with numpy")
    ink, colours, rgb = np.zeros((10, 20), np.uint8), np.ones(256, np.uint32), np.zeros((10, 20), np.uint32)
    for box in [(-1, 0, 5, 5), (0, 0, 21, 5), (0, 0, 5, 11), (5, 0, 4, 5), (0, 6, 5, 5)]:
        with pytest.raises(ValueError, match="is not inside the 20 x 10 image"):
            kernel(ink, colours, rgb, box)
    for box in [[0, 0, 5, 5], (0, 0, 5), "box"]:
        with pytest.raises(ValueError, match=r"box must be a tuple \(x0, y0, x1, y1\)"):
            kernel(ink, colours, rgb, box)
    with pytest.raises(ValueError, match="rgb must be a C-contiguous, writable uint32 array of ink's shape"):
        kernel(ink, colours, rgb[:, :10], (0, 0, 5, 5))
    with pytest.raises(ValueError, match="ink must be a C-contiguous 2-D uint8 array"):
        kernel(ink.astype(np.uint16), colours, rgb, (0, 0, 5, 5))
    assert not rgb.any()
