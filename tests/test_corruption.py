"""Specification of the corruptions the network can be shown (aegui.corruption)."""

from __future__ import annotations

import numpy as np
import pytest

from aegui.corruption import KINDS, OCCLUSION_SIDE, SPECKLE_SHARE, corrupt, corrupt_mixed

from synthetic_digits import shapes


def frames(n: int = 8, seed: int = 0) -> np.ndarray:
    return shapes(n, seed)[0] / np.float32(255)


@pytest.mark.parametrize("kind", KINDS)
def test_strength_zero_is_the_frame_itself_and_a_seed_repeats_the_corruption(kind):
    x = frames()
    np.testing.assert_array_equal(corrupt(x, kind, 0.0), x)
    a, b = corrupt(x, kind, 0.7, seed=3), corrupt(x, kind, 0.7, seed=3)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and a.shape == x.shape and 0 <= a.min() and a.max() <= 1
    assert not np.array_equal(a, x)
    one = corrupt(x[0], kind, 0.7, seed=3)
    assert one.shape == (28, 28)


@pytest.mark.parametrize("kind", ["speckle", "strokes", "occlusion"])
def test_another_seed_gives_another_corruption(kind):
    x = frames()
    assert not np.array_equal(corrupt(x, kind, 1.0, seed=1), corrupt(x, kind, 1.0, seed=2))


@pytest.mark.parametrize("kind", KINDS)
def test_a_stronger_corruption_moves_the_frame_further(kind):
    x = frames(64)
    distance = [((corrupt(x, kind, s, seed=0) - x) ** 2).sum() for s in (0.25, 0.5, 1.0)]
    assert distance[0] < distance[1] < distance[2]


def test_speckle_sets_its_share_of_pixels_to_black_or_white():
    grey = np.full((200, 28, 28), 0.5, np.float32)
    out = corrupt(grey, "speckle", 0.5, seed=0)
    hit = out != 0.5
    assert set(np.unique(out[hit])) == {0.0, 1.0}
    assert hit.mean() == pytest.approx(SPECKLE_SHARE * 0.5, abs=0.01)
    assert (out[hit] == 1).mean() == pytest.approx(0.5, abs=0.02)


def test_stray_strokes_add_ink_inside_the_frame_and_never_remove_any():
    x = frames(32)
    out = corrupt(x, "strokes", 1.0, seed=0)
    assert (out >= x).all()
    added = out - x
    assert (added.reshape(32, -1).sum(1) > 2).all()          # every frame got its strokes
    border = np.ones((28, 28), bool)
    border[1:-1, 1:-1] = False
    assert added[:, border].max() == 0


def test_blur_spreads_ink_without_moving_it():
    dot = np.zeros((28, 28), np.float32)
    dot[14, 14] = 1.0
    out = corrupt(dot, "blur", 1.0)
    assert out.sum() == pytest.approx(1.0, abs=1e-3)           # far from the border: nothing lost
    assert out.max() < 0.1 and out[14, 14] == out.max()
    np.testing.assert_allclose(out, out.T, atol=1e-7)          # round
    near = out[4:25, 4:25]                                     # centred on the dot
    np.testing.assert_allclose(near, near[::-1, ::-1], atol=1e-7)


def test_occlusion_erases_a_square_of_the_side_its_strength_asks_for():
    white = np.ones((50, 28, 28), np.float32)
    for strength in (0.25, 1.0):
        out = corrupt(white, "occlusion", strength, seed=1)
        side = round(OCCLUSION_SIDE * strength)
        assert ((out == 0).reshape(50, -1).sum(1) == side * side).all()
        rows, cols = np.nonzero(out[0] == 0)
        assert rows.max() - rows.min() + 1 == side == cols.max() - cols.min() + 1
    assert (corrupt(frames(), "occlusion", 1.0) <= frames()).all()


def test_a_strength_per_frame_leaves_frames_of_strength_zero_alone():
    x = frames(4)
    for kind in KINDS:
        out = corrupt(x, kind, np.array([0.0, 1.0, 0.0, 0.5]), seed=0)
        np.testing.assert_array_equal(out[[0, 2]], x[[0, 2]])
        assert not np.array_equal(out[1], x[1])


def test_mixed_corruption_for_training_is_reproducible_from_its_generator():
    x = frames(64)
    a = corrupt_mixed(x, np.random.default_rng(5))
    b = corrupt_mixed(x, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    changed = (a != x).reshape(64, -1).any(1)
    assert changed.mean() > 0.8          # a frame drawn at a strength near 0 may stay as it was
    assert 0 <= a.min() and a.max() <= 1


@pytest.mark.parametrize("kind, strength, shape, message", [
    ("rain", 0.5, (28, 28), "expected one of speckle"),
    ("blur", 1.5, (28, 28), r"\[0, 1\]"),
    ("blur", -0.1, (28, 28), r"\[0, 1\]"),
    ("blur", float("nan"), (28, 28), r"\[0, 1\]"),
    ("blur", 0.5, (16, 16), "28, 28"),
    ("blur", [0.5, 0.5], (3, 28, 28), "one number or 3"),
])
def test_bad_arguments_are_refused_saying_what_was_expected(kind, strength, shape, message):
    with pytest.raises(ValueError, match=message):
        corrupt(np.zeros(shape, np.float32), kind, strength)
