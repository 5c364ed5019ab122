"""Specification of the paradigm's measures (aegui.paradigm): linear versus learned, and
noise in, essence out."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aegui import models, paradigm
from aegui.corruption import KINDS
from aegui.evaluate import reconstruction_metrics
from aegui.models import ModelConfig
from aegui.pca import fit

from synthetic_digits import SHARED_MNIST, TINY, shapes


class Echo(torch.nn.Module):
    """A "model" that gives back what it is shown (or black, with ``blank``)."""

    def __init__(self, latent_dim: int = 4, blank: bool = False):
        super().__init__()
        self.latent_dim, self.name, self.blank = latent_dim, "echo", blank
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def reconstruct(self, x):
        return torch.zeros(len(x), self.latent_dim), torch.zeros_like(x) if self.blank else x.clone()


@pytest.fixture(scope="module")
def small():
    images, _ = shapes(120, seed=1)
    return images, fit(images, 8)


def test_a_model_that_echoes_its_input_neither_denoises_nor_harms(small):
    images, pca = small
    result = paradigm.denoising(Echo(), images, strengths=(0.5, 1.0), pca=pca)
    assert [(r["kind"], r["strength"]) for r in result["rows"]] == [(k, s) for k in KINDS for s in (0.5, 1.0)]
    assert result["clean"] == 0 and result["images"] == 120 and result["pca_components"] == 4
    for row in result["rows"]:
        assert row["output"] == pytest.approx(row["input"]) and row["gain"] == pytest.approx(1.0)
        assert row["input"] > 0


def test_gain_is_the_input_distance_over_the_output_distance(small):
    images, pca = small
    result = paradigm.denoising(Echo(blank=True), images, kinds=("speckle",), strengths=(1.0,), pca=pca)
    row = result["rows"][0]
    ink = float(((images / 255.0) ** 2).reshape(120, -1).sum(1).mean())
    assert row["output"] == pytest.approx(ink, rel=1e-5) == pytest.approx(result["clean"], rel=1e-5)
    assert row["gain"] == pytest.approx(row["input"] / ink)


def test_the_models_error_is_the_sse_of_aegui_eval_and_pca_gets_as_many_components(small):
    images, pca = small
    model = models.create(config=TINY)
    result = paradigm.pca_comparison(model, images, pca=pca)
    assert result["sse"] == pytest.approx(reconstruction_metrics(model, images)["sse"], rel=1e-6)
    assert result["pca_components"] == TINY.latent_dim
    x = images / 255.0
    expected = ((pca.reconstruct(x, 4) - x) ** 2).reshape(120, -1).sum(1).mean()
    assert result["pca_sse"] == pytest.approx(expected)
    assert result["pca_sse"] <= result["pca_sse_unclipped"]
    wide = models.create(config=ModelConfig(kind="ae", latent_dim=9, channels=(), hidden=(16,)))
    with pytest.raises(ValueError, match="only 8 components"):
        paradigm.pca_comparison(wide, images, pca=pca)


@pytest.fixture(scope="module")
def mnist_test():
    if not SHARED_MNIST.is_file():
        pytest.skip(f"MNIST not found at {SHARED_MNIST}")
    from aegui.data import load_digits

    return load_digits(SHARED_MNIST).x_test


@pytest.mark.parametrize("name", ["ae-2", "ae-16", "ae-30"])
def test_each_shipped_autoencoder_beats_pca_with_as_many_components(name, mnist_test):
    """Learned versus linear: the non-linear code reconstructs MNIST test digits with less
    error than the best linear code of the same size (on 1000 of them here; README has
    the whole test split, from ``aegui eval --pca``)."""
    if name not in models.available():
        pytest.skip(f"{name} is not installed")
    result = paradigm.pca_comparison(models.load(name), mnist_test[:1000])
    assert result["sse"] < result["pca_sse"]
