"""Specification of the evaluation metrics, on cases small enough to compute by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aegui import models
from aegui.models import ModelConfig
from aegui.evaluate import (bce_per_pixel, evaluate, kl_per_image, knn_accuracy, latency_ms,
                            reconstruction_metrics, sse_per_image)

from synthetic_digits import SHARED_MNIST, TINY, synthetic_digits


def test_sse_sums_squared_errors_over_pixels_and_averages_over_images():
    x = torch.zeros(2, 1, 28, 28)
    x_hat = torch.zeros(2, 1, 28, 28)
    x_hat[0, 0, 3, 4] = 0.5                  # image 0: 0.25
    x_hat[1, 0, 0, :2] = 1.0                 # image 1: 2.0
    assert sse_per_image(x, x_hat) == pytest.approx((0.25 + 2.0) / 2)


def test_bce_is_per_pixel_and_ln2_for_an_undecided_model():
    x = torch.rand(3, 1, 28, 28)
    assert bce_per_pixel(x, torch.zeros_like(x)) == pytest.approx(math.log(2))
    binary = (x > 0.5).float()
    confident = (binary * 2 - 1) * 30        # sigmoid(+-30) is right to 1e-13
    assert bce_per_pixel(binary, confident) == pytest.approx(0, abs=1e-12)
    one = torch.tensor([[0.25]])
    p = 0.8
    expected = -(0.25 * math.log(p) + 0.75 * math.log(1 - p))
    assert bce_per_pixel(one, torch.tensor([[math.log(p / (1 - p))]])) == pytest.approx(expected)


def test_kl_of_the_prior_is_zero_and_grows_with_the_mean():
    assert kl_per_image(torch.zeros(4, 3), torch.zeros(4, 3)) == 0
    assert kl_per_image(torch.tensor([[1.0, 2.0]]), torch.zeros(1, 2)) == pytest.approx(2.5)
    logvar = torch.tensor([[math.log(4.0)]])  # var 4: 0.5 * (4 - 1 - ln 4)
    assert kl_per_image(torch.zeros(1, 1), logvar) == pytest.approx(0.5 * (3 - math.log(4)))


def test_knn_votes_among_the_k_nearest_and_breaks_ties_towards_the_nearest():
    train = torch.tensor([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0], [13.0]])
    labels = torch.tensor([1, 1, 1, 7, 7, 7, 7])
    test = torch.tensor([[0.5], [11.5], [5.0]])
    # 0.5 -> 1,1,1,7,7 -> 1; 11.5 -> all 7s; 5.0 -> 2,1,10,0,11 = 1,1,7,1,7 -> 1
    assert knn_accuracy(train, labels, test, torch.tensor([1, 7, 1]), k=5) == 1.0
    assert knn_accuracy(train, labels, test, torch.tensor([1, 7, 7]), k=5) == pytest.approx(2 / 3)
    # k=2 at 5.9: 2.0 (label 1, 3.9 away) and 10.0 (label 7, 4.1 away) tie; the nearer wins
    assert knn_accuracy(train, labels, torch.tensor([[5.9]]), torch.tensor([1]), k=2) == 1.0
    assert knn_accuracy(train, labels, torch.tensor([[6.1]]), torch.tensor([7]), k=2) == 1.0


def zero_model(kind: str) -> models.Autoencoder:
    """A model whose every weight is zero: logits 0 everywhere, mu = logvar = 0."""
    model = models.create(kind, 3, config=ModelConfig(kind=kind, latent_dim=3, channels=(), hidden=(8,)))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    return model


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_reconstruction_metrics_of_a_model_that_outputs_one_half_everywhere(kind):
    images = np.zeros((4, 28, 28), np.uint8)
    images[0, 5, 5] = 255
    images[1, :2, :] = 255
    x = images.astype(np.float64) / 255
    metrics = reconstruction_metrics(zero_model(kind), images)
    # every pixel predicted 0.5: (0.5 - x)^2 is 0.25 for both x = 0 and x = 1
    assert metrics["sse"] == pytest.approx(784 * 0.25)
    assert metrics["bce"] == pytest.approx(math.log(2))
    assert x.size == 4 * 784
    if kind == "vae":
        assert metrics["kl"] == pytest.approx(0)
        assert metrics["nats"] == pytest.approx(784 * math.log(2))
    else:
        assert metrics.keys() == {"sse", "bce"}


def test_evaluate_reports_every_metric_of_the_issue():
    data = synthetic_digits()
    metrics = evaluate(models.create("vae", 3, config=ModelConfig(kind="vae", latent_dim=3, channels=(), hidden=(8,))),
                       data, latency_repeats=20)
    assert {"sse", "bce", "nats", "kl", "knn5_accuracy", "latency_ms", "latency_threads"} <= metrics.keys()
    assert 0 <= metrics["knn5_accuracy"] <= 1 and metrics["latency_ms"] > 0
    assert metrics["data_sha256"] == data.sha256 and metrics["test_images"] == 64


def test_latency_is_a_median_in_milliseconds():
    model = models.create(config=TINY)
    assert 0 < latency_ms(model, repeats=30) < 100


@pytest.mark.skipif(not SHARED_MNIST.is_file(), reason=f"MNIST not found at {SHARED_MNIST}")
def test_knn_in_pixel_space_on_mnist_matches_the_known_accuracy():
    """A check of ``knn_accuracy`` on real data: 5-NN on raw MNIST pixels is known to
    score about 97% (LeCun's table: 3.09% error for k-NN, Euclidean)."""
    from aegui.data import load_digits

    digits = load_digits(SHARED_MNIST)
    train = torch.from_numpy(digits.x_train[:20000].reshape(20000, -1)).float()
    test = torch.from_numpy(digits.x_test[:1000].reshape(1000, -1)).float()
    accuracy = knn_accuracy(train, torch.from_numpy(digits.y_train[:20000]), test,
                            torch.from_numpy(digits.y_test[:1000]), k=5)
    assert 0.93 <= accuracy <= 0.99
