"""Autoencoder and VAE models on the fused bottleneck, their checkpoints and the zoo.

    from aegui import models
    m = models.load("ae-16")              # a shipped name, or a path to a checkpoint file
    models.available()                    # ["ae-16", "ae-2", "ae-30", "vae-16"] once shipped
    m = models.create("vae", 16, seed=0)  # untrained, default architecture
    z = m.encode(x)                       # x: (B, 1, 28, 28) in [0, 1] -> (B, Z); VAE: the mean
    x_hat = m.decode(z)                   # (B, 1, 28, 28) in [0, 1]
    mu, logvar = m.encode_distribution(x) # VAE only
    models.save(m, "mine.pt", note="...") # atomic; loading never runs code from the file

A model carries ``latent_dim``, ``kind`` ("ae" | "vae"), ``name``, ``config`` (a
``ModelConfig``), ``metrics`` and ``metadata`` (dicts) and ``reference`` (None, or the
latent ``codes`` and ``labels`` of a few thousand MNIST test digits).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from . import zoo
from .autoencoder import Autoencoder, ModelConfig, Reference, VariationalAutoencoder, build
from .checkpoint import Checkpoint, CheckpointError, read_checkpoint, save, write_checkpoint
from .zoo import available

__all__ = ["Autoencoder", "Checkpoint", "CheckpointError", "ModelConfig", "Reference",
           "VariationalAutoencoder", "available", "build", "create", "default_config", "load", "save",
           "read_checkpoint", "write_checkpoint"]


def default_config(kind: str = "ae", latent_dim: int = 16) -> ModelConfig:
    """The architecture the zoo uses, for a given kind and code size."""
    return ModelConfig(kind=kind, latent_dim=latent_dim)


def create(kind: str = "ae", latent_dim: int = 16, seed: int = 0, config: ModelConfig | None = None) -> Autoencoder:
    """An untrained model with the default architecture (or ``config``), initialised
    deterministically from ``seed`` without touching the global RNG."""
    config = config or default_config(kind, latent_dim)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build(config)
    return model.eval()


def load(name_or_path: str | os.PathLike, device: str | torch.device = "cpu") -> Autoencoder:
    """A shipped model by name (see ``available()``) or a checkpoint file by path, in eval mode."""
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    looks_like_path = path.suffix == zoo.SUFFIX or os.sep in text or (os.altsep or os.sep) in text
    if path.is_file() or looks_like_path:
        return read_checkpoint(path, device=device).model
    if text in zoo.SHIPPED or zoo.path_of(text).is_file():
        shipped = zoo.path_of(text)
        if not shipped.is_file():
            raise CheckpointError(f"{shipped}: the shipped model {text!r} is not installed (its file is "
                                  f"missing; resources/models/{text}.md says how to train it)")
        return read_checkpoint(shipped, device=device, name=text).model
    names = ", ".join(available()) or "none installed"
    raise CheckpointError(f"{text!r}: no such checkpoint file and not a shipped model name "
                          f"(shipped: {names})")
