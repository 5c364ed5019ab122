"""The latent map (no Qt): the shipped reference digits, the neighbour-preserving layout,
placing a code on a map and decoding a map point, and every model getting its map
(stored in its checkpoint, or laid out once and cached)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aegui import embedding, model_map, models
from aegui.evaluate import label_agreement, map_metrics
from aegui.latent_map import PLACE_NEIGHBOURS, Projection, linear_map, neighbour_map, plane_map
from aegui.models import CheckpointError, ModelConfig
from aegui.reference import REFERENCE_FILE, load_reference

TINY = ModelConfig(kind="ae", latent_dim=6, channels=(), hidden=(32,))


def clusters(n_per: int = 60, dim: int = 12, seed: int = 0, spread: float = 0.15):
    """Ten well-separated blobs in ``dim`` dimensions, each on its own random centre."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10), n_per).astype(np.uint8)
    centres = rng.normal(0, 1, (10, dim))
    codes = (centres[labels] + spread * rng.normal(size=(len(labels), dim))).astype(np.float32)
    return codes, labels


def test_the_shipped_reference_digits_are_5000_mnist_test_digits_of_every_label():
    digits = load_reference()
    assert REFERENCE_FILE.is_file() and REFERENCE_FILE.stat().st_size < 1_500_000
    assert digits.images.shape == (5000, 28, 28) and digits.images.dtype == np.uint8
    assert np.bincount(digits.labels, minlength=10).min() > 350
    assert list(digits.indices) == sorted(set(digits.indices.tolist())) and digits.indices.max() < 10000
    assert not digits.images.flags.writeable        # shared by every model: read-only
    assert (REFERENCE_FILE.parent / "README.md").read_text().count("LeCun") >= 1


def test_the_reference_file_is_made_by_a_reproducible_command(tmp_path):
    from aegui.data import Digits
    from aegui.reference import from_digits, write_reference

    rng = np.random.default_rng(3)
    data = Digits(x_train=np.zeros((1, 28, 28), np.uint8), y_train=np.zeros(1, np.uint8),
                  x_test=rng.integers(0, 256, (300, 28, 28), dtype=np.uint8),
                  y_test=rng.integers(0, 10, 300).astype(np.uint8), source="x", sha256="0")
    a, b = write_reference(from_digits(data, 50), tmp_path / "a.npz"), write_reference(from_digits(data, 50),
                                                                                        tmp_path / "b.npz")
    assert a.read_bytes() == b.read_bytes()
    again = load_reference(a)
    np.testing.assert_array_equal(again.images, data.x_test[again.indices])
    np.testing.assert_array_equal(again.labels, data.y_test[again.indices])


def test_the_layout_keeps_neighbours_and_is_the_same_for_a_seed():
    codes, labels = clusters()
    xy = embedding.embed(codes, seed=1)
    assert xy.shape == (600, 2) and xy.dtype == np.float32 and np.isfinite(xy).all()
    assert label_agreement(xy, labels) > 0.95
    # Principal components of the same codes mix the blobs up.
    assert label_agreement(linear_map(codes, labels).xy, labels) < label_agreement(xy, labels)
    np.testing.assert_array_equal(embedding.embed(codes, seed=1), xy)
    assert not np.array_equal(embedding.embed(codes, seed=2), xy)


def test_the_layout_is_the_same_on_one_thread_or_two():
    codes, _ = clusters(n_per=30)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = embedding.embed(codes)
        torch.set_num_threads(2)
        two = embedding.embed(codes)
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(one, two)


def test_a_layout_started_from_another_keeps_its_shape():
    codes, labels = clusters(n_per=40)
    first = embedding.embed(codes)
    moved = codes + np.random.default_rng(9).normal(0, 0.01, codes.shape).astype(np.float32)
    again = embedding.embed(moved, init=first)
    # Each blob stays roughly where it was (its centre moves less than the map's size / 5).
    size = np.ptp(first, axis=0).max()
    for digit in range(10):
        shift = np.linalg.norm(again[labels == digit].mean(0) - first[labels == digit].mean(0))
        assert shift < size / 5, digit


def test_layout_rejects_bad_codes_and_can_be_cancelled():
    with pytest.raises(ValueError, match="finite"):
        embedding.embed(np.array([[0.0, np.nan], [1, 1], [2, 2]]))
    with pytest.raises(ValueError, match="init"):
        embedding.embed(np.zeros((5, 3)), init=np.zeros((4, 2)))
    with pytest.raises(InterruptedError):
        embedding.embed(clusters(n_per=5)[0], should_stop=lambda: True)
    assert embedding.embed(np.ones((2, 3))).shape == (2, 2)
    # Equal codes do not break it (they start apart by a seeded jitter).
    assert np.isfinite(embedding.embed(np.ones((40, 3)))).all()


def test_a_reference_code_lands_on_its_own_map_point_and_a_point_decodes_to_its_code():
    codes, labels = clusters()
    shown = neighbour_map(codes, labels, embedding.embed(codes))
    for i in (0, 137, 599):
        np.testing.assert_allclose(shown.place(codes[i]), shown.xy[i], atol=1e-5)
        np.testing.assert_allclose(shown.code_at(shown.xy[i]), codes[i], atol=1e-6)
    # Between points: a blend of the nearest reference codes, closest to the nearest one.
    i = 42
    near = shown.xy[i] + 0.02 * (shown.xy[i + 1] - shown.xy[i])
    z = shown.code_at(near)
    assert int(np.argmin(((codes - z) ** 2).sum(axis=1))) == i
    # A code among one blob's codes is placed among that blob's points.
    blob = labels == 3
    z = codes[blob].mean(axis=0)
    xy = shown.place(z)
    assert np.linalg.norm(xy - shown.xy[blob].mean(0)) < np.ptp(shown.xy, axis=0).max() / 10
    assert PLACE_NEIGHBOURS >= 4


def test_the_linear_view_and_the_plane_are_exact_both_ways_and_say_what_their_axes_are():
    codes, labels = clusters(dim=8)
    linear = linear_map(codes, labels)
    assert linear.kind == "linear" and "of the variance" in linear.axis_names[0]
    share = linear.projection.explained
    assert 0 < share[1] <= share[0] < 1
    np.testing.assert_allclose(linear.place(codes[5]), linear.xy[5], atol=1e-5)
    np.testing.assert_allclose(linear.place(linear.code_at((1.0, -2.0))), (1.0, -2.0), atol=1e-5)
    plane = plane_map(codes[:, :2], labels)
    assert plane.kind == "plane" and plane.axis_names == ("z₀", "z₁")
    np.testing.assert_allclose(plane.place([0.5, -3.0]), [0.5, -3.0])
    np.testing.assert_allclose(plane.code_at([0.5, -3.0]), [0.5, -3.0])
    p = Projection.fit(5)
    np.testing.assert_allclose(p.forward([1, 2, 3, 4, 5]), [1, 2])


def test_label_agreement_counts_majority_votes_of_the_other_points():
    points = np.array([[0, 0], [1, 0], [3, 0], [10, 0], [11, 0], [13, 0]], np.float32)
    assert label_agreement(points, [1, 1, 1, 2, 2, 2], k=2) == 1.0
    # The point at 3 is nearest to a 1 (at 1): the only one outvoted.
    assert label_agreement(points, [1, 1, 2, 2, 2, 2], k=1) == pytest.approx(5 / 6)


@pytest.fixture(scope="module")
def mapped():
    """A small untrained model and its reference codes with their map (laid out once)."""
    model = models.create(config=TINY, seed=4)
    return model, model_map.map_reference(model)


def test_every_model_gets_the_full_reference_set_and_its_map_computed_once_and_cached(mapped, tmp_path,
                                                                                      monkeypatch):
    monkeypatch.setenv("AEGUI_CACHE_DIR", str(tmp_path / "cache"))
    model, reference = mapped
    assert model.reference is None and model_map.stored_reference(model) is None
    digits = load_reference()
    assert reference.codes.shape == (5000, 6) and reference.xy.shape == (5000, 2)
    np.testing.assert_array_equal(reference.labels, digits.labels)
    assert reference.map_settings["method"] == embedding.METHOD
    assert model_map.covers_reference(reference)
    path = model_map.cache_reference(model, reference)
    assert path.is_file() and path.parent == tmp_path / "cache" / "aegui" / "maps"
    cached = model_map.stored_reference(model)
    np.testing.assert_array_equal(cached.xy, reference.xy)
    np.testing.assert_array_equal(cached.codes, reference.codes)
    # Other weights, another entry; a damaged entry is ignored (and made again).
    assert model_map.stored_reference(models.create(config=TINY, seed=5)) is None
    path.write_bytes(b"not a zip")
    assert model_map.stored_reference(model) is None


def test_the_map_is_stored_in_the_checkpoint_and_read_back(mapped, tmp_path):
    model = models.create(config=TINY, seed=4)
    model.reference = mapped[1]
    path = models.save(model, tmp_path / "m.pt")
    loaded = models.load(path)
    np.testing.assert_array_equal(loaded.reference.xy, model.reference.xy)
    assert loaded.reference.map_settings == model.reference.map_settings
    assert model_map.stored_reference(loaded) is loaded.reference     # nothing to compute
    metrics = map_metrics(loaded.reference)
    assert set(metrics) == {"code_10nn_agreement", "map_10nn_agreement", "linear_10nn_agreement"}

    from aegui.models.checkpoint import payload_digest

    raw = torch.load(path, weights_only=True)
    raw["map"]["xy"] = raw["map"]["xy"][:10]
    raw["digest"] = payload_digest(raw)         # a consistent file whose map does not fit
    torch.save(raw, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="latent map"):
        models.load(tmp_path / "bad.pt")


@pytest.mark.parametrize("name", ["ae-16", "ae-30", "vae-16"])
def test_shipped_models_carry_a_map_that_keeps_neighbours(name):
    from aegui.models import zoo

    if not zoo.path_of(name).is_file():
        pytest.skip(f"{name} is not installed")
    model = models.load(name)
    assert model_map.covers_reference(model.reference)
    assert model.metrics["map_10nn_agreement"] >= 0.90
    # The recorded figure is the map's: measured again from the stored points.
    assert label_agreement(model.reference.xy, model.reference.labels) == pytest.approx(
        model.metrics["map_10nn_agreement"])
    # The stored codes are this model's codes of the shipped digits (a sample of them).
    digits = load_reference()
    with torch.inference_mode():
        z = model.encode(torch.from_numpy(np.array(digits.images[:64])).float().div(255).unsqueeze(1))
    np.testing.assert_allclose(z.numpy(), model.reference.codes[:64], atol=1e-4)
