"""Specification of the pen-stroke data: reading and refusing files, the split by writer,
placements in the documented ranges, drawings on the page, training images, augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aegui.augment import StrokeRanges, augment_strokes
from aegui.data import DataError
from aegui.document import PAGE
from aegui.pen_data import (PLACEMENT_RANGES, TRAINING_WRITERS, VALIDATION_WRITERS, Placement, draw_digit,
                            load_pen_digits, parse_writers, parse_writers_text, pen_training_set, placed_strokes,
                            placements, training_images)

SHARED_PEN = Path(__file__).resolve().parents[2] / "shared" / "data" / "pendigits-train.npz"

LINE = [np.array([[50.0, 0.0], [50.0, 50.0], [50.0, 100.0]])]
CROSS = [np.array([[0.0, 0.0], [100.0, 100.0]]), np.array([[100.0, 0.0], [0.0, 100.0]])]
RING = [np.stack([50 + 40 * np.sin(t), 50 - 50 * np.cos(t)], 1) for t in [np.linspace(0, 2 * np.pi, 30)]]


def write_pen_file(path: Path, digits: list[tuple[int, int, list[np.ndarray]]]) -> Path:
    """A pendigits-layout file of (label, writer, strokes) entries."""
    strokes = [np.asarray(s, np.float32) for _, _, ss in digits for s in ss]
    lengths = [len(s) for s in strokes]
    np.savez(path, points=np.concatenate(strokes), stroke_offsets=np.concatenate([[0], np.cumsum(lengths)]),
             digit_offsets=np.concatenate([[0], np.cumsum([len(ss) for _, _, ss in digits])]),
             labels=np.array([d for d, _, _ in digits]), writer=np.array([w for _, w, _ in digits]),
             sample_index=np.arange(len(digits)))
    return path


def small_set(tmp_path):
    return load_pen_digits(write_pen_file(tmp_path / "pen.npz", [(1, 0, LINE), (0, 3, RING), (4, 3, CROSS),
                                                                 (1, 25, LINE)]))


def test_a_pen_file_reads_into_digits_of_strokes_and_subsets_keep_them(tmp_path):
    pen = small_set(tmp_path)
    assert len(pen) == 4 and pen.labels.tolist() == [1, 0, 4, 1] and pen.writers.tolist() == [0, 3, 3, 25]
    assert [len(s) for s in pen.strokes(2)] == [2, 2] and len(pen.sha256) == 64
    three = pen.of_writers([3])
    assert three.labels.tolist() == [0, 4] and three.index.tolist() == [1, 2]
    for j, row in enumerate(three.index):
        for a, b in zip(three.strokes(j), pen.strokes(int(row))):
            np.testing.assert_array_equal(a, b)
    assert len(pen.of_writers([7])) == 0


def test_files_that_are_not_pen_strokes_are_refused_with_the_reason(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_pen_digits(tmp_path / "absent.npz")
    np.savez(tmp_path / "mnist-like.npz", x_train=np.zeros((1, 28, 28)))
    with pytest.raises(DataError, match="missing key"):
        load_pen_digits(tmp_path / "mnist-like.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(DataError, match="not a .npz of pen strokes"):
        load_pen_digits(tmp_path / "junk.npz")
    path = write_pen_file(tmp_path / "bad.npz", [(11, 0, LINE)])
    with pytest.raises(DataError, match="labels must be digits"):
        load_pen_digits(path)


def test_writer_ranges_parse_and_print_back():
    assert parse_writers("24-29") == (24, 25, 26, 27, 28, 29)
    assert parse_writers("0-2, 5,7-8") == (0, 1, 2, 5, 7, 8)
    assert parse_writers_text((0, 1, 2, 5, 7, 8)) == "0-2,5,7-8"
    for bad in ("a-b", "5-3", ""):
        with pytest.raises(ValueError):
            parse_writers(bad)


def test_the_split_is_by_writer_and_training_on_validation_writers_is_refused(tmp_path):
    assert not set(VALIDATION_WRITERS) & set(TRAINING_WRITERS)
    path = write_pen_file(tmp_path / "pen.npz", [(1, 0, LINE), (1, 25, LINE)])
    with pytest.raises(ValueError, match=r"\[25\] are validation writers"):
        pen_training_set(path, (0, 25), copies=1, seed=0)
    images, labels, info = pen_training_set(path, (0,), copies=2, seed=0)
    assert images.shape == (2, 28, 28) and labels.tolist() == [1, 1]
    assert info["pen_writers"] == "0" and info["pen_digits"] == 1 and info["pen_copies"] == 2


def test_placements_are_seeded_per_digit_and_within_the_documented_ranges():
    rows = np.arange(400)
    where = placements(rows, seed=5)
    assert where == placements(rows, seed=5) and where != placements(rows, seed=6)
    assert placements(rows[100:110], seed=5) == where[100:110]   # the same digit, the same drawing
    heights = np.array([p.height for p in where])
    pens = np.array([p.pen for p in where])
    lo, hi = PLACEMENT_RANGES.height
    assert lo <= heights.min() and heights.max() <= hi and heights.max() - heights.min() > 0.6
    assert PLACEMENT_RANGES.pen[0] <= pens.min() and pens.max() <= PLACEMENT_RANGES.pen[1]
    assert (pens <= PLACEMENT_RANGES.max_pen_ratio * heights * PAGE + 1e-9).all()
    # Thin, medium and thick pens all occur.
    assert (pens < 12).sum() > 40 and ((pens >= 12) & (pens < 40)).sum() > 40 and (pens >= 40).sum() > 20


def test_a_placed_digit_has_the_asked_height_and_lies_on_the_page_pen_included():
    for cx, cy in ((0.0, 0.0), (1.0, 1.0), (0.3, 0.8)):
        p = Placement(height=0.5, cx=cx, cy=cy, pen=40.0)
        pts = np.concatenate(placed_strokes(RING, p))
        assert np.ptp(pts[:, 1]) == pytest.approx(0.5 * PAGE)
        assert pts.min() >= 21.0 - 1e-9 and pts.max() <= PAGE - 21.0 + 1e-9
        page = draw_digit(RING, p)
        assert page[0].max() == 0 and page[-1].max() == 0 and page[:, 0].max() == 0 and page[:, -1].max() == 0
    # Too wide for its height: drawn smaller, to fit.
    wide = [np.array([[0.0, 0.0], [300.0, 10.0]])]
    pts = np.concatenate(placed_strokes(wide, Placement(0.9, 0.5, 0.5, 10.0)))
    assert np.ptp(pts[:, 0]) == pytest.approx(PLACEMENT_RANGES.max_width * PAGE)


def test_training_images_are_framed_drawings_deterministic_for_a_seed(tmp_path):
    pen = small_set(tmp_path).of_writers([0, 3])
    images, labels = training_images(pen, copies=3, seed=1)
    assert images.shape == (9, 28, 28) and images.dtype == np.uint8 and labels.tolist() == [1] * 3 + [0] * 3 + [4] * 3
    assert (images.reshape(9, -1).max(1) == 255).all()       # framed: peak at full ink
    np.testing.assert_array_equal(images, training_images(pen, copies=3, seed=1)[0])
    assert not np.array_equal(images, training_images(pen, copies=3, seed=2)[0])
    plain = training_images(pen, copies=1, seed=1, augment=False)[0]
    assert plain.shape == (3, 28, 28)


def test_stroke_augmentation_moves_points_smoothly_and_is_seeded():
    moved = augment_strokes(CROSS, np.random.default_rng(0))
    assert [len(s) for s in moved] == [2, 2]
    np.testing.assert_array_equal(np.concatenate(moved), np.concatenate(augment_strokes(CROSS, np.random.default_rng(0))))
    assert not np.allclose(np.concatenate(moved), np.concatenate(CROSS))
    nothing = StrokeRanges(rotation_deg=0, shear=0, aspect=0, elastic=0)
    np.testing.assert_allclose(np.concatenate(augment_strokes(CROSS, np.random.default_rng(0), nothing)),
                               np.concatenate(CROSS), atol=1e-9)
    # The digit stays about its size: no point moves by more than half its height.
    for seed in range(20):
        shift = np.concatenate(augment_strokes(RING, np.random.default_rng(seed))) - RING[0]
        assert np.abs(shift).max() < 50


@pytest.mark.skipif(not SHARED_PEN.is_file(), reason=f"needs the pen data at {SHARED_PEN} (../shared/data)")
def test_the_shared_pen_data_splits_into_training_and_validation_writers():
    pen = load_pen_digits(SHARED_PEN)
    assert len(pen) == 7494 and set(np.unique(pen.writers)) == set(range(30))
    validation = pen.of_writers(VALIDATION_WRITERS)
    training = pen.of_writers(TRAINING_WRITERS)
    assert len(validation) + len(training) == len(pen) and len(validation) == 1498
    assert set(np.unique(validation.labels)) == set(range(10))
    assert not set(validation.index) & set(training.index)
