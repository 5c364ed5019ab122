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


def test_reading_a_drawing_gives_each_views_image_and_its_distance_to_the_frame(small):
    images, pca = small
    frame = images[3] / np.float32(255)
    noise = paradigm.NoiseSetting("occlusion", 1.0, seed=2)
    reading = paradigm.read_drawing(frame, Echo(latent_dim=5), pca, sizes=[("narrow", Echo(2)), ("wide", Echo(7))],
                                    noise=noise)
    assert reading.error == 0 and np.array_equal(reading.reconstruction, frame)
    assert reading.pca_components == 5
    assert reading.pca_error == pytest.approx(float(((pca.reconstruct(frame, 5)[0] - frame) ** 2).sum()))
    assert [(name, k, error) for name, k, _image, error in reading.sizes] == [("narrow", 2, 0.0), ("wide", 7, 0.0)]
    from aegui.corruption import corrupt

    expected = corrupt(frame, "occlusion", 1.0, seed=2)
    np.testing.assert_array_equal(reading.noisy, expected)
    assert reading.noisy_distance == pytest.approx(float(((expected - frame) ** 2).sum()))
    assert reading.noisy_distance > 0
    assert reading.denoised_distance == pytest.approx(reading.noisy_distance)    # an echo removes nothing


def test_an_empty_frame_reads_as_nothing_and_a_code_wider_than_the_fit_has_no_pca(small):
    images, pca = small
    empty = paradigm.read_drawing(np.zeros((28, 28)), Echo(), pca, sizes=[("a", Echo())],
                                  noise=paradigm.NoiseSetting())
    assert empty.error is None and empty.sizes == () and empty.noisy is None
    wide = paradigm.read_drawing(images[0] / 255.0, Echo(latent_dim=9), pca)
    assert wide.pca_components == 0 and wide.pca_image is None and wide.noisy is None
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        paradigm.NoiseSetting("blur", 1.2)


def test_aegui_eval_drawing_prints_the_numbers_of_the_same_reading(tmp_path, capsys):
    """What the window shows for a drawing, ``aegui eval --drawing`` prints for its PNG."""
    import json

    from aegui import pca as pca_module
    from aegui.cli import main
    from aegui.drawings import write_png
    from aegui.preprocess import mnist_style

    from drawn_digits import canvas_digit

    canvas = canvas_digit("4", seed=1)
    write_png(tmp_path / "four.png", canvas)
    assert main(["eval", "ae-16", "--drawing", str(tmp_path / "four.png"), "--corruption", "blur",
                 "--strength", "0.75", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    sizes = [(n, models.load(n)) for n in models.zoo.BY_CODE_SIZE]
    reading = paradigm.read_drawing(mnist_style(canvas), models.load("ae-16"), pca_module.load(), sizes,
                                    paradigm.NoiseSetting("blur", 0.75))
    assert printed == json.loads(json.dumps(paradigm.describe_reading(reading, "ae-16")))
    assert list(printed["sizes"]) == ["ae-2", "ae-16", "ae-30"]
    assert printed["sizes"]["ae-16"] == printed["error"]
