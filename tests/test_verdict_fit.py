"""Specification of the verdict head's training: it learns to read a frozen encoder's
codes, calls dots and scribbles not a digit, leaves the encoder untouched, and is the
same head for the same seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aegui.verdict import NOT_A_DIGIT, judge
from aegui.verdict_fit import HeadConfig, fit_verdict_head, non_digit_images


class RowProfile(torch.nn.Module):
    """A stand-in encoder: the code is the image's mean ink per row (28 values)."""

    latent_dim = 28

    def __init__(self):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.ones(1))

    def encode(self, x):
        return x.mean(dim=3).flatten(1) * self.anchor


def bars(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Digit c is a horizontal bar at rows 2c + 4 and 2c + 5, of random length."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count)
    images = np.zeros((count, 28, 28), np.uint8)
    for image, c in zip(images, labels):
        start = rng.integers(2, 10)
        image[2 * c + 4:2 * c + 6, start:start + rng.integers(10, 18)] = 255
    return images, labels.astype(np.uint8)


def test_a_head_on_a_frozen_encoder_reads_its_codes_and_rejects_non_digits():
    encoder = RowProfile()
    images, labels = bars(500, seed=0)
    non_digits = non_digit_images(20, seed=0)
    config = HeadConfig(steps=400, non_digits=20)
    head = fit_verdict_head(encoder, images, labels, config, seed=0, non_digits=non_digits)
    assert torch.equal(encoder.anchor, torch.ones(1))              # the encoder is not trained
    test_images, test_labels = bars(200, seed=1)
    with torch.inference_mode():
        codes = encoder.encode(torch.from_numpy(test_images).float().div(255).unsqueeze(1)).numpy()
        nd_codes = encoder.encode(torch.from_numpy(non_digit_images(20, seed=5)).float().div(255)
                                  .unsqueeze(1)).numpy()
    verdicts = judge(codes, np.zeros(len(codes), bool), head)
    assert np.mean([v.answer == c for v, c in zip(verdicts, test_labels)]) > 0.95
    assert (head.probabilities(nd_codes).argmax(1) == NOT_A_DIGIT).mean() > 0.8


def test_the_same_seed_gives_the_same_head_and_another_seed_another():
    encoder = RowProfile()
    images, labels = bars(100, seed=0)
    non_digits = non_digit_images(2, seed=0)
    config = HeadConfig(steps=20, non_digits=2)
    a, b, c = (fit_verdict_head(encoder, images, labels, config, seed=s, non_digits=non_digits) for s in (0, 0, 1))
    for (w1, b1), (w2, b2) in zip(a.layers, b.layers):
        np.testing.assert_array_equal(w1, w2)
        np.testing.assert_array_equal(b1, b2)
    assert not np.array_equal(a.layers[0][0], c.layers[0][0])


def test_the_bound_on_reconstruction_error_is_half_again_the_training_images_99_9th_percentile():
    from aegui import models
    from aegui.models import ModelConfig

    model = models.create(config=ModelConfig(kind="ae", latent_dim=3, channels=(), hidden=(16,)), seed=1)
    images, labels = bars(300, seed=2)
    head = fit_verdict_head(model, images, labels, HeadConfig(steps=5, non_digits=1), seed=0,
                            non_digits=non_digit_images(1, seed=0))
    x = torch.from_numpy(images).float().div(255).unsqueeze(1)
    with torch.inference_mode():
        errors = ((model.reconstruct(x)[1] - x) ** 2).flatten(1).sum(1).numpy()
    assert head.max_sse == pytest.approx(1.5 * np.quantile(errors, 0.999), rel=1e-5)
    assert fit_verdict_head(RowProfile(), images, labels, HeadConfig(steps=5), seed=0,
                            non_digits=non_digit_images(1, seed=0)).max_sse == float("inf")


def test_non_digit_images_are_framed_dots_then_scribbles():
    frames = non_digit_images(3, seed=0)
    assert frames.shape == (6, 28, 28) and frames.dtype == np.uint8
    assert (frames.reshape(6, -1).max(1) == 255).all()
    # A framed dot is a round blob filling the 20x20 box (a disc: 314 of its 400 pixels).
    assert ((frames[:3] > 127).reshape(3, -1).sum(1) > 200).all()
    np.testing.assert_array_equal(frames, non_digit_images(3, seed=0))


def test_a_head_fitted_after_training_is_stored_and_nothing_else_in_the_file_changes(tmp_path):
    from aegui import models
    from aegui.models import ModelConfig
    from aegui.verdict_fit import main

    images, labels = bars(400, seed=3)
    npz = tmp_path / "digits.npz"
    np.savez(npz, x_train=images, y_train=labels, x_test=images[:50], y_test=labels[:50])
    path = tmp_path / "model.pt"
    model = models.create(config=ModelConfig(kind="ae", latent_dim=8, channels=(), hidden=(64,)), seed=1)
    models.save(model, path)
    before = models.load(path)
    assert before.verdict_head is None
    assert main([str(path), "--data", str(npz)]) == 0
    after = models.load(path)
    assert after.verdict_head is not None and after.verdict_head.latent_dim == 8
    assert after.metadata["head_data"] == {"mnist_images": 400} and after.metadata["head_seconds"] >= 0
    for name, tensor in before.state_dict().items():
        assert torch.equal(tensor, after.state_dict()[name])


def test_fitting_a_head_to_a_file_that_is_no_checkpoint_is_refused_in_one_line(tmp_path, capsys):
    from aegui.verdict_fit import main

    bad = tmp_path / "notes.pt"
    bad.write_text("not a checkpoint")
    assert main([str(bad), "--data", str(tmp_path / "missing.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("python -m aegui.verdict_fit: error:") and "\n" not in err
