"""Small synthetic digit sets for fast tests: bars and boxes an autoencoder learns in seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aegui.data import Digits
from aegui.models import ModelConfig

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"

# A model small enough to train for a few epochs in well under a second.
TINY = ModelConfig(kind="ae", latent_dim=4, channels=(), hidden=(48,))


def shapes(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (count, 28, 28) images of one bar or box each, and labels 0..9 by shape class."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, 28, 28), np.uint8)
    labels = rng.integers(0, 10, count).astype(np.uint8)
    for image, label in zip(images, labels):
        top, left = rng.integers(4, 12, 2)
        if label % 2:   # vertical bar of width 2..4, length by label
            image[top:top + 8 + label, left + 4:left + 6 + label % 3] = 255
        else:           # box outline
            size = 6 + label
            image[top:top + size, left:left + size] = 200
            image[top + 2:top + size - 2, left + 2:left + size - 2] = 0
    return images, labels


def synthetic_digits(n_train: int = 256, n_test: int = 64, seed: int = 0) -> Digits:
    x_train, y_train = shapes(n_train, seed)
    x_test, y_test = shapes(n_test, seed + 1)
    return Digits(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                  source=f"synthetic-{seed}", sha256=f"{seed:064x}")
