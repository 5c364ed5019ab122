"""What each latent dimension encodes: the traversal sweep and its ranking, and the manifold
grid (plain numpy; real AE and VAE models where the model matters)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aegui import models, traversal
from aegui.gui.latent import Projection


def linear_decoder(gains):
    """A made-up decoder whose image brightens with each dimension in proportion to its gain:
    how much each dimension changes the image is known exactly."""
    gains = np.asarray(gains, np.float32)
    pattern = np.linspace(0.0, 1.0, 28 * 28, dtype=np.float32).reshape(28, 28)

    def decode(codes):
        level = 0.5 + 0.05 * (np.asarray(codes) * gains).sum(axis=1)
        return np.clip(level[:, None, None] * pattern, 0.0, 1.0)

    return decode


def test_each_row_sweeps_one_dimension_from_minus_to_plus_two_standard_deviations():
    z = np.array([0.5, -1.0, 2.0], np.float32)
    scales = np.array([1.0, 0.5, 3.0], np.float32)
    codes = traversal.sweep(z, scales)
    assert codes.shape == (3, traversal.STEPS, 3)
    for d in range(3):
        others = np.delete(codes[d], d, axis=1)
        np.testing.assert_array_equal(others, np.broadcast_to(np.delete(z, d), others.shape))
        np.testing.assert_allclose(codes[d, :, d], z[d] + np.linspace(-2, 2, traversal.STEPS) * scales[d])
        np.testing.assert_array_equal(codes[d, traversal.STEPS // 2], z)   # the middle is z itself
    with pytest.raises(ValueError, match="odd"):
        traversal.sweep(z, scales, steps=8)


def test_the_scale_of_a_dimension_is_its_spread_over_the_reference_codes():
    rng = np.random.default_rng(0)
    codes = rng.normal(0.0, [1.0, 4.0, 0.25], size=(5000, 3))
    np.testing.assert_allclose(traversal.dimension_scales(3, codes), [1.0, 4.0, 0.25], rtol=0.05)
    np.testing.assert_array_equal(traversal.dimension_scales(3, None), [1, 1, 1])
    codes[:, 1] = 7.0                                    # a dead dimension: unit scale, not zero
    assert traversal.dimension_scales(3, codes)[1] == 1.0


def test_dimensions_are_ranked_by_how_much_they_change_the_image():
    gains = [0.5, 3.0, 0.0, 1.5, 1.0]
    result = traversal.traverse(linear_decoder(gains), np.zeros(5), np.ones(5))
    assert result.order.tolist() == [1, 3, 4, 0, 2]
    assert np.all(np.diff(result.change) <= 0)
    assert result.change[-1] == 0.0                      # gain 0 changes nothing
    # Independently of the ranking's own measure: the image's range over the sweep
    # shrinks with rank.
    spread = [np.abs(row[-1] - row[0]).mean() for row in result.images]
    assert spread == sorted(spread, reverse=True) and spread[0] > spread[1] > spread[2]
    np.testing.assert_allclose(result.values[0], np.linspace(-2, 2, traversal.STEPS))


def test_the_scale_counts_in_the_ranking():
    """A weak dimension that varies widely over the data set outranks a strong one that
    hardly varies: what matters is the change over its typical range."""
    result = traversal.traverse(linear_decoder([1.0, 3.0]), np.zeros(2), np.array([5.0, 1.0]))
    assert result.order.tolist() == [0, 1]


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_on_a_real_model_each_row_is_the_decoding_of_its_sweep_and_change_falls_with_rank(kind):
    model = models.create(kind, 6, seed=1)
    rng = np.random.default_rng(0)
    reference = rng.normal(0.0, 1.0, (200, 6)).astype(np.float32) * np.linspace(0.5, 3.0, 6, dtype=np.float32)
    scales = traversal.dimension_scales(6, reference)

    def decode(codes):
        with torch.inference_mode():
            return model.decode(torch.from_numpy(np.ascontiguousarray(codes))).reshape(-1, 28, 28).numpy()

    z = reference[0]
    result = traversal.traverse(decode, z, scales)
    assert sorted(result.order.tolist()) == list(range(6))
    assert result.images.shape == (6, traversal.STEPS, 28, 28)
    codes = traversal.sweep(z, scales)
    for rank, dim in enumerate(result.order):
        np.testing.assert_allclose(result.images[rank], decode(codes[dim]), atol=1e-6)
        np.testing.assert_allclose(result.values[rank], codes[dim, :, dim])
        # The change, measured again from the decodings: largest for rank 0, falling after.
        centre = decode(z[None])[0]
        assert np.abs(result.images[rank] - centre).mean() == pytest.approx(result.change[rank], rel=1e-4, abs=1e-7)
    assert np.all(np.diff(result.change) <= 0) and result.change[0] > result.change[-1]


def test_the_manifold_grid_of_a_two_dimensional_model_is_the_latent_plane_itself():
    xy, codes = traversal.manifold_codes(Projection.fit(2), 5, (-2.0, 2.0, -1.0, 1.0))
    assert codes.shape == (5, 5, 2)
    np.testing.assert_allclose(codes, xy, rtol=1e-6)
    np.testing.assert_allclose(codes[0, :, 0], np.linspace(-2, 2, 5))     # left to right
    np.testing.assert_allclose(codes[:, 0, 1], np.linspace(1, -1, 5))     # top row is +y


def test_the_manifold_grid_of_a_larger_model_lies_on_the_principal_plane_of_its_codes():
    rng = np.random.default_rng(3)
    reference = rng.normal(size=(400, 8)) * np.array([4, 2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    projection = Projection.fit(8, reference)
    extent = traversal.manifold_extent(projection.forward(reference), 2.0)
    assert extent[1] - extent[0] == pytest.approx(2 * 2.0 * 4, rel=0.15)   # +-2 sigma of PC 1 (sigma 4)
    xy, codes = traversal.manifold_codes(projection, 7, extent)
    np.testing.assert_allclose(projection.forward(codes), xy, atol=1e-4)
    assert traversal.manifold_extent(None, 1.5) == (-1.5, 1.5, -1.5, 1.5)


def test_the_usual_range_holds_99_percent_of_each_dimension_and_far_out_values_are_named():
    from aegui.traversal import far_out, usual_range

    rng = np.random.default_rng(0)
    codes = rng.normal([0.0, 5.0, -2.0], [1.0, 0.1, 3.0], (20000, 3)).astype(np.float32)
    low, high = usual_range(codes)
    inside = ((codes >= low) & (codes <= high)).mean(axis=0)
    np.testing.assert_allclose(inside, 0.99, atol=0.002)
    np.testing.assert_allclose(high - low, 2 * 2.5758 * np.array([1.0, 0.1, 3.0]), rtol=0.05)
    assert far_out([0.0, 5.0, -2.0], (low, high)) == []
    assert far_out([-4.0, 5.0, 20.0], (low, high)) == [0, 2]
    assert far_out([-4.0, 5.0, 20.0], (low, high), dims=[False, True, True]) == [2]
    assert usual_range(None) is None and far_out([9.0], None) == []
