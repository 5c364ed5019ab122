"""The stroke rasteriser (numpy, no Qt): the one renderer of the canvas, the network's page
and the drawn-digits benchmark."""

from __future__ import annotations

import math

import numpy as np
import pytest
from compiled_kernels import compiled_kernel

from aegui.document import PAGE, DrawingDocument, draw_strokes
from aegui.gui.samples import DIGITS, digit_strokes
from aegui.raster import FLATNESS, Segment, paint_segments


def ink_area(image: np.ndarray) -> float:
    """Painted area in pixels: full ink counts 1, anti-aliased pixels their fraction."""
    return float(image.sum()) / 255.0


def test_a_thick_line_is_solid_inside_with_round_caps_and_the_area_of_a_capsule():
    image = np.zeros((100, 200), np.uint8)
    box = paint_segments(image, [Segment("line", ((50.0, 50.0), (150.0, 50.0)), 20.0, False)])
    assert box == (39, 39, 162, 62)
    assert image[41:59, 50:150].min() == 255               # solid between the edges
    assert image[:38].max() == 0 and image[63:].max() == 0  # nothing beyond the width
    assert image[50, 31:38].max() == 0 and image[50, 41] == 255   # round cap: reaches x = 40, not beyond
    capsule = 100 * 20 + math.pi * 10 ** 2
    assert ink_area(image) == pytest.approx(capsule, rel=0.005)


@pytest.mark.parametrize("radius, tolerance", [(1.0, 0.08), (1.5, 0.03), (3.0, 0.01), (12.5, 0.01), (40.0, 0.01)])
def test_a_dot_covers_the_area_of_its_disc(radius, tolerance):
    # A straight-edge model of coverage overestimates tight curves a little: the canvas's
    # thinnest pen (2 px, radius 1) makes a lone dot 8 % too heavy, a 3 px one 1 %.
    image = np.zeros((128, 128), np.uint8)
    paint_segments(image, [Segment("dot", ((63.3, 64.6),), 2 * radius, False)])
    assert ink_area(image) == pytest.approx(math.pi * radius ** 2, rel=tolerance)


def test_a_line_thinner_than_a_pixel_fades_in_proportion_to_its_width():
    image = np.zeros((20, 120), np.uint8)
    paint_segments(image, [Segment("line", ((10.0, 10.5), (110.0, 10.5)), 0.4, False)])
    assert image.max() == round(0.4 * 255)                  # one row, 40 % ink
    assert ink_area(image) == pytest.approx(100 * 0.4, rel=0.03)


def test_edges_are_anti_aliased_by_how_much_of_the_pixel_the_stroke_covers():
    image = np.zeros((40, 40), np.uint8)
    # The edge at y = 10.25 crosses the pixel rows 10 (centre 10.5): 75 % covered.
    paint_segments(image, [Segment("line", ((-10.0, 20.0), (50.0, 20.0)), 19.5, False)])
    assert image[10, 20] == round(0.75 * 255)
    assert image[9, 20] == 0 and image[11, 20] == 255


def test_a_curve_is_painted_as_the_dense_polyline_through_it():
    a, c, b = (20.0, 80.0), (60.0, -20.0), (100.0, 80.0)
    curve = np.zeros((100, 120), np.uint8)
    paint_segments(curve, [Segment("quad", (a, c, b), 8.0, False)])
    t = np.linspace(0, 1, 400)[:, None]
    dense = (1 - t) ** 2 * np.array(a) + 2 * (1 - t) * t * np.array(c) + t ** 2 * np.array(b)
    polyline = np.zeros_like(curve)
    paint_segments(polyline, [Segment("line", (tuple(p), tuple(q)), 8.0, False) for p, q in zip(dense[:-1], dense[1:])])
    # The pieces stray at most FLATNESS pixels from the curve: the rim's ink may differ by
    # that fraction of full ink, nothing more.
    assert np.abs(curve.astype(int) - polyline).max() <= math.ceil(FLATNESS * 255) + 1
    assert np.abs(curve.astype(int) - polyline).mean() < 0.2
    assert curve.max() == 255


def test_the_eraser_takes_ink_away_and_a_later_pen_stroke_paints_over_it():
    image = np.zeros((60, 60), np.uint8)
    paint_segments(image, [Segment("line", ((5.0, 30.0), (55.0, 30.0)), 10.0, False),
                           Segment("line", ((30.0, 5.0), (30.0, 55.0)), 10.0, True)])
    assert image[30, 10] == 255 and image[30, 30] == 0
    paint_segments(image, [Segment("dot", ((30.0, 30.0),), 4.0, False)])
    assert image[30, 30] == 255


def test_scale_maps_page_units_to_pixels():
    small = np.zeros((64, 64), np.uint8)
    large = np.zeros((128, 128), np.uint8)
    segments = [Segment("line", ((10.0, 10.0), (50.0, 40.0)), 6.0, False)]
    paint_segments(small, segments, 1.0)
    paint_segments(large, segments, 2.0)
    assert ink_area(large) == pytest.approx(4 * ink_area(small), rel=0.01)


def test_segments_partly_or_wholly_off_the_image_are_clipped_and_nothing_else_changes():
    image = np.zeros((50, 50), np.uint8)
    assert paint_segments(image, [Segment("line", ((-100.0, -100.0), (-60.0, -80.0)), 10.0, False)]) is None
    assert image.max() == 0
    box = paint_segments(image, [Segment("dot", ((0.0, 49.0),), 20.0, False)])
    assert box == (0, 38, 12, 50)
    assert image[49, 0] == 255 and image[:37].max() == 0


def test_degenerate_widths_paint_nothing_and_a_wrong_image_is_refused():
    image = np.zeros((20, 20), np.uint8)
    assert paint_segments(image, [Segment("dot", ((5.0, 5.0),), 0.0, False),
                                  Segment("dot", ((5.0, 5.0),), float("nan"), False)]) is None
    assert image.max() == 0
    with pytest.raises(ValueError, match="uint8"):
        paint_segments(np.zeros((20, 20), np.float32), [])
    with pytest.raises(ValueError, match="kind"):
        paint_segments(image, [Segment("arc", ((1.0, 1.0), (2.0, 2.0)), 3.0, False)])


def test_painting_stroke_by_stroke_as_the_pen_moves_equals_painting_the_whole_drawing_at_once():
    for digit in DIGITS:
        doc = DrawingDocument()
        for i, path in enumerate(digit_strokes(digit, seed=3)):
            doc.begin_stroke(*path[0], width=18.0 + 10 * i, erase=False)
            for x, y in path[1:]:
                doc.extend_stroke(x, y)
            doc.end_stroke()
        live = doc.raster()            # painted segment by segment while "drawing"
        whole = np.zeros((PAGE, PAGE), np.uint8)
        paint_segments(whole, doc.segments())
        np.testing.assert_array_equal(live, whole, err_msg=digit)


def test_draw_strokes_renders_headless_exactly_what_the_document_holds():
    paths = digit_strokes("4", seed=1)
    doc = DrawingDocument()
    for path in paths:
        doc.begin_stroke(*path[0], width=24.0)
        for x, y in path[1:]:
            doc.extend_stroke(x, y)
        doc.end_stroke()
    np.testing.assert_array_equal(draw_strokes(paths, 24.0), doc.raster())
    assert draw_strokes([], 24.0).max() == 0


def test_draw_strokes_keeps_taps_and_drops_points_too_near_as_the_document_does():
    # A tap (one point), a tap recorded twice, a stroke whose points crowd closer than
    # MIN_STEP in places, and a straight two-point stroke, in page units.
    paths = [[(40.0, 50.0)], [(90.0, 90.0), (90.2, 90.1)],
             [(100.0, 300.0), (100.4, 300.3), (110.0, 310.0), (110.5, 310.0), (160.0, 250.0)],
             [(300.0, 100.0), (420.0, 460.0)]]
    doc = DrawingDocument()
    for path in paths:
        doc.begin_stroke(*path[0], width=9.0)
        for x, y in path[1:]:
            doc.extend_stroke(x, y)
        doc.end_stroke()
    np.testing.assert_array_equal(draw_strokes(paths, 9.0), doc.raster())


def test_a_batch_of_many_pieces_paints_what_they_paint_one_by_one():
    rng = np.random.default_rng(0)
    segments = [Segment("line", (tuple(rng.uniform(0, 200, 2)), tuple(rng.uniform(0, 200, 2))),
                        float(rng.uniform(1, 60)), False) for _ in range(300)]
    together = np.zeros((200, 200), np.uint8)
    paint_segments(together, segments)
    apart = np.zeros((200, 200), np.uint8)
    for seg in segments:
        paint_segments(apart, [seg])
    np.testing.assert_array_equal(together, apart)


# ---------------------------------------------------------------------- the compiled kernel


def _random_pieces(rng, count: int, size: tuple[int, int]) -> np.ndarray:
    """Pieces as the canvas makes them and worse: lines, dots, hairlines to very wide
    pens, fractional coordinates, some partly or wholly off the image."""
    height, width = size
    a = rng.uniform(-0.3, 1.3, (count, 2)) * (width, height)
    b = a + rng.normal(0, 1, (count, 2)) * rng.choice([0.0, 2.0, 20.0, 200.0], (count, 1))
    r = np.exp(rng.uniform(np.log(0.02), np.log(120.0), count))
    return np.column_stack([a, b, r]).astype(np.float64)


@pytest.mark.parametrize("erase", [False, True])
@pytest.mark.parametrize("size", [(64, 64), (97, 150), (512, 512)])
def test_the_compiled_kernel_paints_the_same_bytes_as_numpy(erase, size):
    from aegui.raster import _paint_pieces_numpy

    kernel = compiled_kernel("paint_pieces", "only numpy paints")
    rng = np.random.default_rng(size[0] * 7 + erase)
    for _ in range(60):
        start = rng.integers(0, 256, size, dtype=np.uint8) if erase else np.zeros(size, np.uint8)
        pieces = _random_pieces(rng, int(rng.integers(1, 40)), size)
        by_numpy, by_kernel = start.copy(), start.copy()
        box_numpy = _paint_pieces_numpy(by_numpy, pieces, erase)
        box_kernel = kernel(by_kernel, pieces, erase)
        np.testing.assert_array_equal(by_kernel, by_numpy)
        assert box_kernel == box_numpy


def test_the_canvas_strokes_come_out_the_same_with_and_without_the_kernel(monkeypatch):
    from aegui import raster

    compiled_kernel("paint_pieces", "only numpy paints")
    paths = [digit_strokes(d, step=4.0, seed=s) for d in DIGITS for s in range(2)]
    with_kernel = [draw_strokes(p, w) for p in paths for w in (6.0, 33.0, 80.0)]
    monkeypatch.setattr(raster, "_native", lambda: None)
    with_numpy = [draw_strokes(p, w) for p in paths for w in (6.0, 33.0, 80.0)]
    for a, b in zip(with_kernel, with_numpy):
        np.testing.assert_array_equal(a, b)


def test_the_kernel_refuses_what_is_not_an_image_and_pieces_and_paints_nothing():
    kernel = compiled_kernel("paint_pieces", "only numpy paints")
    image, pieces = np.zeros((4, 4), np.uint8), np.array([[1.0, 1.0, 2.0, 2.0, 1.0]])
    for wrong_image in (image.astype(np.float32), image.astype(bool), image[None], image[:, ::2],
                        np.zeros((4, 4), np.uint8).view(np.int8), "image", None):
        with pytest.raises(ValueError, match="image must be a C-contiguous, writable 2-D uint8 array"):
            kernel(wrong_image, pieces, False)
    read_only = image.copy()
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        kernel(read_only, pieces, False)
    for wrong_pieces in (pieces.astype(np.float32), pieces[:, :4], pieces.ravel(),
                         np.asfortranarray(np.tile(pieces, (3, 1)))):
        with pytest.raises(ValueError, match=r"pieces must be a C-contiguous \(K, 5\) float64 array"):
            kernel(image, wrong_pieces, False)
    with pytest.raises(TypeError, match="3 arguments"):
        kernel(image, pieces)
    assert not image.any()
    assert kernel(image, np.zeros((0, 5)), False) is None
    assert kernel(image, pieces, False) == (0, 0, 4, 4) and image.any()


@pytest.mark.parametrize("erase", [False, True])
def test_a_piece_reaching_far_off_the_image_paints_only_its_part_on_it(erase):
    # Its box is wider than 32-bit column offsets reach (the kernel then takes 64-bit
    # ones); numpy cannot be the oracle here, it would compute the whole box.
    kernel = compiled_kernel("paint_pieces", "only numpy paints")
    memory = np.full((3, 64, 64), 0 if not erase else 255, np.uint8)
    image = memory[1]                                   # its neighbours in memory must stay as they are
    box = kernel(image, np.array([[-3e9, 10.0, 30.0, 10.0, 2.0]]), erase)
    assert box == (0, 7, 34, 14)
    stroke = image[10, :30] if not erase else 255 - image[10, :30]
    assert stroke.min() == 255
    untouched = np.ones((64, 64), bool)
    untouched[7:14, :34] = False
    assert (image[untouched] == memory[0, 0, 0]).all()
    assert (memory[0] == memory[0, 0, 0]).all() and (memory[2] == memory[0, 0, 0]).all()
