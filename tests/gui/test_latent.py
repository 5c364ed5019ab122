"""Latent-space arithmetic of the app: the map, the verdict, axis limits (plain numpy, no Qt)."""

from __future__ import annotations

import numpy as np

from aegui.gui.latent import Projection, fit_map, nice_limit, symmetric_limit


def test_a_two_dimensional_code_is_its_own_map():
    p = Projection.fit(2, np.random.default_rng(0).normal(size=(50, 2)))
    z = np.array([[0.3, -1.2], [2.0, 5.0]])
    np.testing.assert_allclose(p.forward(z), z)
    np.testing.assert_allclose(p.inverse(z), z, rtol=1e-6)
    assert p.axis_names == ("z₀", "z₁")


def test_larger_codes_are_mapped_by_their_two_principal_components():
    rng = np.random.default_rng(1)
    plane = rng.normal(size=(2, 8))
    codes = 3 + rng.normal(size=(500, 2)) * [5.0, 2.0] @ plane + 0.01 * rng.normal(size=(500, 8))
    p = Projection.fit(8, codes)
    np.testing.assert_allclose(p.components @ p.components.T, np.eye(2), atol=1e-9)
    # A point of the map comes back to itself through the inverse projection.
    xy = np.array([1.5, -0.5])
    np.testing.assert_allclose(p.forward(p.inverse(xy)), xy, atol=1e-5)
    # Codes near the plane survive the round trip almost exactly.
    np.testing.assert_allclose(p.inverse(p.forward(codes[:5])), codes[:5], atol=0.05)
    # The first component carries the most variance.
    spread = p.forward(codes).std(axis=0)
    assert spread[0] > spread[1]
    assert p.axis_names[0].startswith("PC 1 (") and p.axis_names[1].startswith("PC 2 (")
    assert p.explained[0] > p.explained[1] and p.axis_names[0].endswith("% of the variance)")


def test_without_reference_codes_the_map_shows_the_first_two_coordinates():
    p = Projection.fit(5)
    np.testing.assert_allclose(p.forward([1, 2, 3, 4, 5]), [1, 2])
    np.testing.assert_allclose(p.inverse([1, 2]), [1, 2, 0, 0, 0])


def test_axis_limits_are_nice_numbers_above_the_values():
    assert nice_limit(0.93) == 1.0
    assert nice_limit(1.01) == 1.5
    assert nice_limit(37) == 40
    assert nice_limit(0) == 1.0
    assert symmetric_limit(np.array([-2.2, 0.5, 1.0])) >= 2.2


def test_the_map_of_a_model_holds_its_reference_digits_within_its_extent():
    rng = np.random.default_rng(2)
    codes = rng.normal(size=(400, 6)).astype(np.float32)
    labels = np.arange(400) % 10
    layout = fit_map(codes, labels, 6, xy=codes[:, :2] * 3).with_view("linear")
    assert layout.points.shape == (400, 2) and layout.labels.tolist() == labels.tolist()
    np.testing.assert_allclose(layout.points, layout.forward(codes), atol=1e-5)
    x0, x1, y0, y1 = layout.extent
    inside = ((layout.points[:, 0] >= x0) & (layout.points[:, 0] <= x1)
              & (layout.points[:, 1] >= y0) & (layout.points[:, 1] <= y1))
    assert inside.mean() >= 0.99
    assert layout.axis_names[0].startswith("PC 1 (") and layout.axis_names[1].startswith("PC 2 (")
    # The neighbour map shown first is the points the model carries.
    np.testing.assert_array_equal(fit_map(codes, labels, 6, xy=codes[:, :2] * 3).points, codes[:, :2] * 3)
    assert fit_map(None, None, 4) is None
