"""Specification of the PCA baseline (aegui.pca): the best linear code, shipped with the models."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from aegui import pca
from aegui.pca import PCA, PCAError, fit, load, reconstruction, save, sse

from synthetic_digits import SHARED_MNIST, shapes


def planar_images(n: int = 400, dims: int = 3, seed: int = 0) -> np.ndarray:
    """uint8 images on a ``dims``-dimensional plane of pixel space (exact in uint8)."""
    rng = np.random.default_rng(seed)
    basis = np.zeros((dims, 28, 28), np.int64)
    for d in range(dims):                      # disjoint blocks: sums stay in 0..255
        basis[d, 4 + 6 * d:8 + 6 * d, 4:24] = 1
    weights = rng.integers(0, 256, size=(n, dims))
    return np.einsum("nd,dij->nij", weights, basis).astype(np.uint8)


@pytest.fixture(scope="module")
def fitted() -> tuple[np.ndarray, PCA]:
    """Bars and boxes, and PCA with 10 components fitted to them (one fit: each costs an
    eigendecomposition of a 784 x 784 covariance)."""
    images, _ = shapes(500, seed=2)
    return images, fit(images, 10, data_sha256="ab" * 32)


def test_a_plane_is_captured_exactly_by_as_many_components_as_it_has_dimensions():
    images = planar_images(dims=3)
    fitted = fit(images, components=5)
    x = images / 255.0
    assert sse(x, fitted.reconstruct(x, 3, clip=False)).max() < 1e-8
    assert fitted.kept(3) == pytest.approx(1.0)
    assert fitted.variance[3:] == pytest.approx(0.0, abs=1e-9)
    assert sse(x, fitted.reconstruct(x, 2, clip=False)).mean() > 0.1


def test_components_are_orthonormal_by_decreasing_variance_and_fewer_are_a_prefix(fitted):
    images, ten = fitted
    five = fit(images, 5)
    gram = ten.components.astype(np.float64) @ ten.components.T
    assert np.abs(gram - np.eye(10)).max() < 1e-5
    assert (np.diff(ten.variance) <= 0).all()
    np.testing.assert_allclose(five.components, ten.components[:5], atol=1e-6)
    # Each component's sign is fixed: its largest entry is positive.
    assert (ten.components[np.arange(10), np.abs(ten.components).argmax(1)] > 0).all()


def test_more_components_never_reconstruct_worse(fitted):
    images, fitted = fitted
    x = images / 255.0
    errors = [sse(x, fitted.reconstruct(x, k, clip=False)).mean() for k in range(1, 11)]
    assert all(a >= b - 1e-9 for a, b in zip(errors, errors[1:]))


def test_clipping_to_the_pixel_range_only_lowers_the_error(fitted):
    images, fitted = fitted
    x = images / 255.0
    clipped, plain = fitted.reconstruct(x, 4), fitted.reconstruct(x, 4, clip=False)
    assert clipped.min() >= 0 and clipped.max() <= 1 and (plain.min() < 0 or plain.max() > 1)
    assert (sse(x, clipped) <= sse(x, plain) + 1e-9).all()


def test_reconstruction_of_one_frame_gives_the_image_and_its_summed_squared_error(fitted):
    images, fitted = fitted
    frame = images[0] / 255.0
    image, error = reconstruction(frame, 6, fitted)
    assert image.shape == (28, 28)
    assert error == pytest.approx(float(((image - frame) ** 2).sum()))
    with pytest.raises(ValueError, match="1 to 10"):
        fitted.reconstruct(frame, 11)


def test_a_saved_fit_loads_back_unchanged(tmp_path, fitted):
    _images, fitted = fitted
    back = load(save(fitted, tmp_path / "p.npz"))
    np.testing.assert_array_equal(back.components, fitted.components)
    np.testing.assert_array_equal(back.mean, fitted.mean)
    assert (back.train_images, back.data_sha256, back.max_components) == (500, "ab" * 32, 10)
    assert back.total_variance == pytest.approx(fitted.total_variance)


def _arrays(fitted: PCA) -> dict:
    return dict(mean=fitted.mean, components=fitted.components.copy(), variance=fitted.variance.copy(),
                total_variance=np.float64(fitted.total_variance), train_images=np.int64(5),
                data_sha256=np.str_("x"))


@pytest.mark.parametrize("damage, message", [
    (lambda a: a.pop("variance"), "missing key"),
    (lambda a: a.update(components=a["components"] * 2), "not orthonormal"),
    (lambda a: a.update(mean=a["mean"].astype(np.float64)), "mean is float64"),
    (lambda a: a.update(variance=a["variance"][::-1].copy()), "non-increasing"),
    (lambda a: a["components"].__setitem__((0, 0), np.nan), "NaN"),
    (lambda a: a.update(data_sha256=np.array([1, 2], dtype=object)), "objects"),
])
def test_a_damaged_file_is_refused_naming_it_and_the_problem(tmp_path, fitted, damage, message):
    arrays = _arrays(fitted[1])
    damage(arrays)
    path = tmp_path / "bad.npz"
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())
    with pytest.raises(PCAError, match=message) as err:
        load(path)
    assert str(path) in str(err.value)


def test_a_file_that_is_no_npz_or_absent_is_refused(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(PCAError, match="junk.npz"):
        load(junk)
    with pytest.raises(PCAError, match="no such PCA file"):
        load(tmp_path / "absent.npz")
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                      "shape": (1 << 28,)})
        for key in pca._KEYS:
            archive.writestr(f"{key}.npy", header.getvalue() + b"\0" * (1 << 20))
    with pytest.raises(PCAError, match="bomb.npz"):
        load(bomb)


def test_the_shipped_fit_has_as_many_components_as_the_largest_shipped_code():
    shipped = load()
    assert shipped.max_components == pca.COMPONENTS == 30
    assert shipped.train_images == 60000
    assert shipped.data_sha256.startswith("da231c08013e2170")      # mnist.npz, see its README
    assert pca.PCA_FILE.stat().st_size < 200_000
    assert 0.70 < shipped.kept(30) < 0.76


@pytest.mark.skipif(not SHARED_MNIST.is_file(), reason=f"MNIST not found at {SHARED_MNIST}")
def test_the_shipped_fit_has_the_classic_test_error_of_pca_on_mnist():
    """Hinton & Salakhutdinov (Science 2006) report a test SSE of 13.87 per image for PCA
    with 30 components: plain PCA, not clipped to the pixel range."""
    from aegui.data import load_digits

    x = load_digits(SHARED_MNIST).x_test / 255.0
    shipped = load()
    assert sse(x, shipped.reconstruct(x, 30, clip=False)).mean() == pytest.approx(13.87, abs=0.05)
