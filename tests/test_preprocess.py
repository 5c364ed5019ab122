"""Specification of aegui.preprocess.mnist_style: framing a drawing the way MNIST was framed.

The synthetic tests run anywhere.  The tests against real digits need the
MNIST and USPS files of shared/data (beside the checkout, or $AEGUI_DATA for
MNIST) and skip with the reason when they are absent.
"""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from compiled_kernels import compiled_kernel

from aegui.preprocess import (
    BOX,
    EMPTY_PEAK,
    FRAME,
    MNIST_CENTRE_OF_MASS,
    PLACEMENT_CENTRE,
    mnist_style,
    to_uint8,
)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def mnist_path() -> Path | None:
    for candidate in (os.environ.get("AEGUI_DATA"), SHARED_DATA / "mnist.npz"):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    return None


@pytest.fixture(scope="module")
def mnist():
    path = mnist_path()
    if path is None:
        pytest.skip(f"MNIST not found: set AEGUI_DATA or provide {SHARED_DATA / 'mnist.npz'}")
    from aegui.data import load_digits

    return load_digits(path)


@pytest.fixture(scope="module")
def usps():
    path = SHARED_DATA / "usps.npz"
    if not path.exists():
        pytest.skip(f"USPS not found: {path} is absent")
    with np.load(path) as archive:
        return archive["x_test"][:300]


def ink_box(frame: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the nonzero pixels."""
    rows = np.flatnonzero(frame.any(axis=1))
    cols = np.flatnonzero(frame.any(axis=0))
    return rows[0], cols[0], rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def centre_of_mass(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame, np.float64)
    total = frame.sum()
    return np.array(
        [frame.sum(axis=1) @ np.arange(frame.shape[0]), frame.sum(axis=0) @ np.arange(frame.shape[1])]
    ) / total


def mean_centre_of_mass(images: np.ndarray) -> np.ndarray:
    """Mean over images of each one's intensity-weighted centroid (row, col)."""
    index = np.arange(images.shape[1], dtype=np.float64)
    totals = images.sum(axis=(1, 2), dtype=np.int64)
    rows = images.sum(axis=2, dtype=np.int64) @ index / totals
    cols = images.sum(axis=1, dtype=np.int64) @ index / totals
    return np.array([rows.mean(), cols.mean()])


def canvas(height=400, width=300, dtype=np.uint8) -> np.ndarray:
    return np.zeros((height, width), dtype)


def ring(size=300, thickness=25) -> np.ndarray:
    """A '0'-like ring on a float canvas, off-centre, taller than wide."""
    rows, cols = np.mgrid[:size, :size]
    r = np.hypot((rows - 150) / 120.0, (cols - 110) / 70.0)
    return ((r < 1.0) & (r > 1.0 - thickness / 100.0)).astype(np.float32)


def seven(size=(500, 400)) -> np.ndarray:
    """A '7'-like uint8 stroke: a top bar and a diagonal, drawn with a round pen."""
    image = canvas(*size)
    image[60:80, 90:330] = 255
    for t in np.linspace(0, 1, 400):
        r, c = int(70 + t * 360), int(320 - t * 170)
        image[r - 10 : r + 10, c - 10 : c + 10] = 255
    return image


def shapes() -> dict[str, np.ndarray]:
    tall_bar = canvas()
    tall_bar[100:300, 140:160] = 255
    wide_bar = canvas()
    wide_bar[200:220, 20:280] = 200
    blob = canvas(64, 64, np.float64)
    blob[10:50, 20:32] = 1.0  # a grey-topped '1' with a flag
    blob[10:18, 20:50] = 0.6
    return {"ring": ring(), "seven": seven(), "tall bar": tall_bar, "wide bar": wide_bar, "blob": blob}


# --- output contract -------------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [
        np.pad(np.full((6, 4), 255, np.uint8), 5),
        np.pad(np.full((20, 9), 255, np.uint8), 4),
        seven((600, 400)),
        ring(),
        ring().astype(np.float64) * 0.8,
        ring() > 0.5,
    ],
    ids=["uint8 16x14", "uint8 28x17", "uint8 600x400", "float32 300x300", "float64 grey", "bool"],
)
def test_output_is_a_28x28_float32_frame_in_unit_range_with_peak_one(image):
    frame = mnist_style(image)
    assert frame.shape == (FRAME, FRAME)
    assert frame.dtype == np.float32
    assert frame.min() >= 0.0
    assert frame.max() == pytest.approx(1.0)


def test_float_input_is_clipped_to_unit_range():
    bright = ring() * 3.0 - 1.0  # ink 2.0, background -1.0
    np.testing.assert_array_equal(mnist_style(bright), mnist_style(np.clip(bright, 0, 1)))


def test_uint8_and_float_versions_of_a_drawing_frame_the_same():
    drawing = seven()
    np.testing.assert_allclose(mnist_style(drawing), mnist_style(drawing / 255.0), atol=1e-6)


def test_input_is_not_modified():
    drawing = ring()
    before = drawing.copy()
    mnist_style(drawing)
    np.testing.assert_array_equal(drawing, before)


# --- empty canvas ------------------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [
        canvas(),
        canvas(dtype=np.float32),
        np.full((50, 50), EMPTY_PEAK * 0.9, np.float32),
        np.random.default_rng(0).integers(0, int(EMPTY_PEAK * 255), (512, 512)).astype(np.uint8),
    ],
    ids=["uint8 zeros", "float zeros", "uniform faint grey", "faint uint8 noise"],
)
def test_canvas_without_ink_frames_to_zeros(image):
    frame = mnist_style(image)
    assert frame.shape == (FRAME, FRAME) and frame.dtype == np.float32
    assert not frame.any()


def test_faint_noise_outside_the_drawing_does_not_move_or_shrink_it():
    clean = seven()
    noisy = clean.copy()
    noisy[450:, :] = 3  # 1 % of the ink's intensity, far below the drawing
    noisy[5, 5] = 4
    np.testing.assert_array_equal(mnist_style(noisy), mnist_style(clean))


# --- size, aspect ratio and position ----------------------------------------


@pytest.mark.parametrize("name", list(shapes()))
def test_ink_fits_a_20x20_box_with_its_longer_side_20(name):
    _, _, height, width = ink_box(mnist_style(shapes()[name]))
    assert max(height, width) == BOX
    assert min(height, width) <= BOX


@pytest.mark.parametrize("name", list(shapes()))
def test_centre_of_mass_lands_within_half_a_pixel_of_mnists(name):
    com = centre_of_mass(mnist_style(shapes()[name]))
    assert np.all(np.abs(com - PLACEMENT_CENTRE) <= 0.5 + 1e-9)
    assert np.all(np.abs(com - MNIST_CENTRE_OF_MASS) <= 0.51)


@pytest.mark.parametrize(("height", "width", "expected"), [(40, 10, (20, 5)), (10, 40, (5, 20)), (60, 60, (20, 20))])
def test_aspect_ratio_is_kept(height, width, expected):
    image = canvas(300, 300)
    image[100 : 100 + height, 50 : 50 + width] = 255
    _, _, framed_height, framed_width = ink_box(mnist_style(image))
    assert (framed_height, framed_width) == expected


def test_where_the_drawing_sits_on_the_canvas_does_not_matter():
    stroke = seven((200, 160))
    left_top = canvas(600, 400)
    left_top[:200, :160] = stroke
    right_bottom = canvas(600, 400)
    right_bottom[390:590, 230:390] = stroke
    np.testing.assert_array_equal(mnist_style(left_top), mnist_style(right_bottom))


def test_enlarging_by_pixel_repetition_does_not_change_the_frame():
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 8:20] = np.random.default_rng(1).integers(0, 256, (20, 12))
    for factor in (2, 7, 13):
        enlarged = np.kron(digit, np.ones((factor, factor), np.uint8))
        np.testing.assert_allclose(mnist_style(enlarged), mnist_style(digit), atol=1e-5)


def test_a_huge_image_is_framed_in_bounded_memory_exactly_as_a_small_one():
    """An 8000x8000 canvas (64 MB) costs a few MB to frame, not a float copy of itself:
    it is read in tiles. Enlarged by pixel repetition, it frames as its small original."""
    digit = np.zeros((125, 125), np.uint8)
    digit[10:115, 30:95] = np.random.default_rng(2).integers(0, 256, (105, 65))
    huge = np.kron(digit, np.ones((64, 64), np.uint8))
    tracemalloc.start()
    try:
        frame = mnist_style(huge)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20
    np.testing.assert_allclose(frame, mnist_style(digit), atol=1e-5)
    wide = np.zeros((3, 3_000_000), np.uint8)    # tiles split the columns too
    wide[:, 1_000_000:1_000_010] = 255
    tracemalloc.start()
    try:
        framed = mnist_style(wide)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20 and framed.max() == 1.0


def test_shrinking_averages_area_so_a_half_covered_pixel_is_half_grey():
    # A 40x40 block shrinks 2-fold, so each output pixel is the mean of 2x2 input
    # pixels; a 1-pixel dark column inside it makes one output column half grey.
    image = canvas(100, 100)
    image[10:50, 10:50] = 255
    image[10:50, 29] = 0  # a dark column inside the block at an odd offset
    frame = mnist_style(image)
    _, left, _, _ = ink_box(frame)
    assert sorted(np.unique(frame[frame > 0]).round(6)) == [0.5, 1.0]
    assert np.allclose(frame[frame.any(axis=1), left + 9], 0.5)


def test_thin_strokes_are_brought_to_full_intensity():
    image = canvas(512, 512)
    rows = np.arange(50, 450)
    image[rows, rows // 2 + 100] = 255  # a 1-pixel line, averaged down 20-fold
    assert mnist_style(image).max() == pytest.approx(1.0)


def test_grey_ink_frames_like_full_ink():
    stroke = seven()
    grey = (stroke // 2).astype(np.uint8)
    np.testing.assert_allclose(mnist_style(grey), mnist_style(stroke), atol=1e-5)


def test_a_single_dot_is_scaled_up_to_fill_the_box():
    image = canvas(100, 100)
    image[30, 40] = 255
    frame = mnist_style(image)
    assert ink_box(frame)[2:] == (BOX, BOX)
    assert np.all(frame[frame > 0] == 1.0)


def test_lopsided_shapes_are_never_cut_off_by_the_frame():
    # Nearly all the mass in the top-left corner: centring the centroid would push
    # the rest of the shape out of the frame, so the shift stops at the frame's edge.
    image = canvas(400, 400)
    image[:60, :60] = 255
    image[:, 0] = 255
    image[0, :] = 255
    _, _, height, width = ink_box(mnist_style(image))
    assert (height, width) == (BOX, BOX)


# --- bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros(28), "2-D"),
        (np.zeros((2, 28, 28)), "2-D"),
        (np.float32(1.0), "2-D"),
        (np.zeros((0, 28)), "empty"),
        (np.zeros((28, 0), np.uint8), "empty"),
        (np.full((28, 28), "x"), "numeric"),
        (np.full((3, 3), None, dtype=object), "numeric"),
        (np.ones((28, 28), np.complex64), "numeric"),
        (np.array([[0.0, np.nan], [1.0, 0.0]]), "NaN"),
        (np.array([[0.0, np.inf], [1.0, 0.0]]), "infinite"),
        ([[1, 2], [3]], "rectangular"),
    ],
    ids=["1-D", "3-D", "0-D", "no rows", "no columns", "strings", "objects", "complex", "NaN", "inf", "ragged"],
)
def test_bad_input_raises_value_error_naming_the_problem(image, message):
    with pytest.raises(ValueError, match=message):
        mnist_style(image)


def test_to_uint8_rounds_to_the_nearest_grey_level_and_clips():
    frame = np.array([[0.0, 0.4 / 255, 1.6 / 255, 1.0, 1.5, -0.2]], np.float32)
    np.testing.assert_array_equal(to_uint8(frame), [[0, 0, 2, 255, 255, 0]])
    assert to_uint8(frame).dtype == np.uint8


# --- against MNIST itself ----------------------------------------------------


def test_mnist_mean_centre_of_mass_is_the_one_recorded_in_the_module(mnist):
    measured = mean_centre_of_mass(mnist.x_train)
    np.testing.assert_allclose(measured, MNIST_CENTRE_OF_MASS, atol=0.05)


def test_mnist_was_placed_by_whole_pixel_shifts_towards_the_placement_centre(mnist):
    # Integer shifts leave every centroid within half a pixel of where they aim.
    index = np.arange(FRAME, dtype=np.float64)
    totals = mnist.x_train.sum(axis=(1, 2), dtype=np.int64)
    for axis, centre in zip((2, 1), PLACEMENT_CENTRE):
        centroids = mnist.x_train.sum(axis=axis, dtype=np.int64) @ index / totals
        assert np.mean(np.abs(centroids - centre) <= 0.5) > 0.998


def test_mnist_digits_peak_at_full_intensity(mnist):
    # Why mnist_style rescales its output to peak 1.0.
    assert np.all(mnist.x_train.max(axis=(1, 2)) == 255)
    assert np.all(mnist.x_test.max(axis=(1, 2)) >= 254)


def test_mnist_digit_passed_straight_through_comes_back_unchanged(mnist):
    digits = mnist.x_test[:1000]
    errors = np.array([np.abs(mnist_style(d) - d / 255.0).mean() for d in digits])
    # Measured: median 7e-9, worst 0.0010 (a 254-peak test digit rescaled to 255).
    assert np.median(errors) < 1e-4
    assert errors.max() < 0.005


def _drop_on_canvas(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    big = canvas(600, 400)
    top = rng.integers(0, big.shape[0] - digit.shape[0] + 1)
    left = rng.integers(0, big.shape[1] - digit.shape[1] + 1)
    big[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return big


def _bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Linear interpolation between pixel centres (half-pixel aligned), zero outside."""
    positions = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    below = np.floor(positions).astype(int)
    fraction = positions - below
    weights = np.zeros((n_out, n_in))
    for row, (i, f) in enumerate(zip(below, fraction)):
        if 0 <= i < n_in:
            weights[row, i] += 1 - f
        if 0 <= i + 1 < n_in:
            weights[row, i + 1] += f
    return weights


def test_mnist_digits_enlarged_and_dropped_on_a_big_canvas_come_back(mnist):
    rng = np.random.default_rng(20240527)
    picks = rng.choice(len(mnist.x_test), 300, replace=False)
    errors = []
    for index in picks:
        digit = mnist.x_test[index]
        factor = int(rng.integers(5, 13))
        enlarged = np.repeat(np.repeat(digit, factor, axis=0), factor, axis=1)
        framed = mnist_style(_drop_on_canvas(enlarged, rng))
        errors.append(np.abs(framed - digit / 255.0).mean())
    errors = np.array(errors)
    # Measured: median 1e-8, 99th percentile 0.0007, worst 0.0011 per pixel (the
    # residue is 254-peak test digits rescaled to 255).
    assert np.median(errors) < 1e-3
    assert errors.max() < 0.01


def test_mnist_digits_enlarged_smoothly_by_odd_factors_come_back_close(mnist):
    # Bilinear enlargement by non-integer factors blurs edges and widens the ink's
    # bounding box, so the framing cannot be exact; it must still be close.
    rng = np.random.default_rng(7)
    picks = rng.choice(len(mnist.x_test), 150, replace=False)
    errors = []
    for index in picks:
        digit = mnist.x_test[index].astype(np.float64)
        weights = _bilinear_matrix(FRAME, int(round(FRAME * rng.uniform(5.0, 12.0))))
        enlarged = np.rint(weights @ digit @ weights.T).clip(0, 255).astype(np.uint8)
        framed = mnist_style(_drop_on_canvas(enlarged, rng))
        errors.append(np.abs(framed - digit / 255.0).mean())
    errors = np.array(errors)
    # Measured: median 0.032, 99th percentile 0.077, worst 0.083 per pixel.
    assert np.median(errors) < 0.05
    assert errors.max() < 0.15


# --- USPS: a second, differently framed set -----------------------------------


def test_usps_digits_are_framed_like_mnist(usps):
    for scan in usps:
        frame = mnist_style(scan)
        _, _, height, width = ink_box(frame)
        assert max(height, width) == BOX
        assert np.all(np.abs(centre_of_mass(frame) - PLACEMENT_CENTRE) <= 0.5 + 1e-9)


# ---------------------------------------------------------------------- the compiled twin


def _twin():
    """The C++ twin the app frames with once the op's library is loaded: page -> frame."""
    kernel = compiled_kernel("frame_digit", "the app frames with numpy")

    def twin(page):
        frame = np.full((FRAME, FRAME), np.nan, np.float32)    # every pixel must be written
        kernel(page, frame)
        return frame

    return twin


def _pages_people_and_worse_make():
    """Sample digits drawn with hairline to fat pens, pages of random specks of any size,
    and the edge cases: one pixel, a full page, lines one pixel wide, a page barely inked."""
    from aegui.document import draw_strokes
    from aegui.gui.samples import DIGITS, digit_strokes

    rng = np.random.default_rng(11)
    pages = [draw_strokes(digit_strokes(d, step=4.0, seed=s), w)
             for d in DIGITS for s in range(3) for w in (4.0, 14.0, 32.0, 70.0)]
    for _ in range(60):
        page = np.zeros(tuple(rng.integers(1, 700, 2)), np.uint8)
        specks = rng.random(page.shape) < rng.random() * 0.05
        page[specks] = rng.integers(0, 256, specks.sum())
        pages.append(page)
    dot, full, row, column, faint = (np.zeros((512, 512), np.uint8) for _ in range(5))
    dot[300, 17] = 255
    full[:] = 200
    full[:, :300] = 255       # not symmetric: a centroid exactly on a half pixel rounds either way
    row[40, 3:500] = 255
    column[3:500, 40] = 90
    faint[100:200, 100:200] = 14           # just over EMPTY_PEAK: ink
    return pages + [dot, full, row, column, faint, np.full((1, 1), 255, np.uint8)]


def test_the_compiled_twin_frames_like_mnist_style_to_a_millionth_and_places_alike():
    twin = _twin()
    worst = 0.0
    for page in _pages_people_and_worse_make():
        want, got = mnist_style(page), twin(page)
        assert got.shape == (FRAME, FRAME) and got.dtype == np.float32
        # The same box, the same whole-pixel placement (but for a centroid exactly on a half
        # pixel, which rounds either way with any change of summing order, even numpy's own).
        np.testing.assert_array_equal(got > 0, want > 0)
        worst = max(worst, float(np.abs(got - want).max()))
    assert worst < 1e-6


def test_the_app_frames_its_page_with_the_twin_and_anything_else_with_mnist_style():
    from aegui.preprocess import frame_page

    twin = _twin()
    page = np.zeros((512, 512), np.uint8)
    page[100:300, 200:260] = 255
    np.testing.assert_array_equal(frame_page(page), twin(page))
    for other in (page.astype(np.float32) / 255, page[::2, ::2], page > 0):
        np.testing.assert_array_equal(frame_page(other), mnist_style(other))
    np.testing.assert_array_equal(frame_page(np.zeros((512, 512), np.uint8)), np.zeros((FRAME, FRAME), np.float32))
    with pytest.raises(ValueError, match="empty"):
        frame_page(np.zeros((0, 5), np.uint8))


def test_the_twin_like_mnist_style_frames_any_part_of_the_page_that_holds_all_its_ink_alike():
    # The app sends the part of its page that holds the ink (DrawingDocument.inked), not
    # the whole page: framing must look at the ink alone, both ways, to the last bit.
    twin = _twin()
    rng = np.random.default_rng(4)
    for page in _pages_people_and_worse_make():
        rows, cols = np.flatnonzero(page.any(1)), np.flatnonzero(page.any(0))
        if not len(rows):
            continue
        top, left = rng.integers(0, rows[0] + 1), rng.integers(0, cols[0] + 1)
        bottom, right = rng.integers(rows[-1] + 1, page.shape[0] + 1), rng.integers(cols[-1] + 1, page.shape[1] + 1)
        for part in (page[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1], page[top:bottom, left:right]):
            part = np.ascontiguousarray(part)
            np.testing.assert_array_equal(mnist_style(part), mnist_style(page))
            np.testing.assert_array_equal(twin(part), twin(page))


@pytest.mark.parametrize("page, message", [
    (np.zeros((8, 8), np.float32), "page must be a C-contiguous 2-D uint8 array"),
    (np.zeros((8, 8), bool), "page must be a C-contiguous 2-D uint8 array"),
    (np.zeros((2, 8, 8), np.uint8), "page must be a C-contiguous 2-D uint8 array"),
    (np.zeros((16, 16), np.uint8)[:, ::2], "page must be a C-contiguous 2-D uint8 array"),
    (np.zeros((0, 8), np.uint8), "page is empty"),
    ("page", "page must be"),
])
def test_the_twin_refuses_what_it_cannot_frame_with_a_clear_error(page, message):
    kernel = compiled_kernel("frame_digit", "the app frames with numpy")
    frame = np.ones((FRAME, FRAME), np.float32)
    with pytest.raises(ValueError, match=message):
        kernel(page, frame)
    assert (frame == 1).all()     # nothing written
    for wrong_frame in (np.ones((FRAME, FRAME)), np.ones((FRAME, FRAME + 1), np.float32),
                        np.ones((FRAME, FRAME), np.float32).T.copy(order="F"), None):
        with pytest.raises(ValueError, match=r"frame must be a C-contiguous, writable \(28, 28\) float32 array"):
            kernel(np.zeros((8, 8), np.uint8), wrong_frame)

