"""Training a model's verdict head (``aegui.verdict.VerdictHead``) on its frozen encoder.

After the autoencoder is trained, its codes are fixed; the head learns to read them: the
codes of the training images (MNIST, and the training writers' drawings when training
had them) labelled with their digits, and the codes of dots and scribbles
(``aegui.scribbles``) labelled ``NOT_A_DIGIT``. Only the head's weights change, so the
autoencoder, its reconstructions and its latent map are exactly what they were.

The head's ``max_sse``: half as much again as the reconstruction error (squared, summed
over the frame) that 99.9 % of the training images stay under. Codes alone let a tangle
of random strokes pass for an 8 one time in five: its code lands among the 8s, but the
model cannot draw it back (``ae-16``: such tangles reconstruct with errors of 20 to 57,
the training images' 99.9th percentile is 15). On the validation writers' digits this
rule rejects one or two in a thousand (resources/models/README.md).

Deterministic for a seed (the head's initialisation and batch order come from generators
seeded here).

``aegui train`` fits the head at the end of every run. ``python -m aegui.verdict_fit MODEL
--data MNIST --pen-data PENDIGITS`` fits one to a model trained before heads existed, on the
images its training would have had (MNIST's training split and the training writers'
drawings), and stores it in the checkpoint; nothing else in the file changes. A few seconds of CPU: the encoder runs once over the images, then the head
(a few thousand weights) trains on the codes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from aegui.pen_data import draw_small
from aegui.preprocess import mnist_style, to_uint8
from aegui.scribbles import KINDS, non_digit
from aegui.verdict import CLASSES, NOT_A_DIGIT, VerdictHead

__all__ = ["HeadConfig", "fit_verdict_head", "main", "non_digit_images"]

# Non-digits for training come from seeds far from the benchmark's (0).
_NON_DIGIT_SEED = 1_000_003
# max_sse: this multiple of this quantile of the training images' reconstruction errors.
SSE_QUANTILE = 0.999
SSE_MARGIN = 1.5


@dataclass(frozen=True)
class HeadConfig:
    hidden: int = 64              # one hidden layer; 0 = a linear head
    steps: int = 8000             # batches in all (whole passes over the codes, rounded up)
    batch_size: int = 256
    lr: float = 3e-3              # Adam, cosine to zero
    weight_decay: float = 1e-4
    non_digits: int = 2000        # of each kind (dots, scribbles)
    label_smoothing: float = 0.0   # 0.05 made it unsure of 3 % more right answers (ae-16, validation writers)


def non_digit_images(count: int, seed: int) -> np.ndarray:
    """``count`` dots and ``count`` scribbles, framed as the network sees them (uint8)."""
    frames = []
    for kind in KINDS:
        for i in range(count):
            strokes, where = non_digit(kind, i, _NON_DIGIT_SEED + seed)
            frames.append(to_uint8(mnist_style(draw_small(strokes, where))))
    return np.stack(frames) if frames else np.zeros((0, 28, 28), np.uint8)


@torch.inference_mode()
def _errors(model, images: np.ndarray, batch: int = 2000) -> np.ndarray:
    """Each image's reconstruction error, squared and summed over its pixels."""
    device = next(model.parameters()).device
    out = []
    for s in range(0, len(images), batch):
        x = torch.from_numpy(images[s:s + batch]).to(device).float().div_(255).unsqueeze(1)
        out.append(((model.reconstruct(x)[1].float() - x) ** 2).flatten(1).sum(1).cpu().numpy())
    return np.concatenate(out)


@torch.inference_mode()
def _codes(model, images: np.ndarray, batch: int = 2000) -> torch.Tensor:
    device = next(model.parameters()).device
    out = [model.encode(torch.from_numpy(images[s:s + batch]).to(device).float().div_(255).unsqueeze(1))
           .float().cpu() for s in range(0, len(images), batch)]
    return torch.cat(out) if out else torch.zeros(0, model.latent_dim)


def fit_verdict_head(model, images: np.ndarray, labels: np.ndarray, config: HeadConfig = HeadConfig(),
                     seed: int = 0, non_digits: np.ndarray | None = None) -> VerdictHead:
    """A head for ``model``'s codes, trained on ``images`` (uint8 (N, 28, 28)) with their
    digit ``labels`` plus non-digits (``non_digit_images`` of ``config.non_digits`` per
    kind unless given)."""
    if non_digits is None:
        non_digits = non_digit_images(config.non_digits, seed)
    z = torch.cat([_codes(model, images), _codes(model, non_digits)])
    max_sse = SSE_MARGIN * float(np.quantile(_errors(model, images), SSE_QUANTILE)) \
        if callable(getattr(model, "reconstruct", None)) and len(images) else float("inf")
    threads = torch.get_num_threads()
    # A few thousand weights: more threads only add their start-up to every tiny step
    # (and on a busy machine wait for each other).
    torch.set_num_threads(1)
    try:
        head = _fit(z, torch.as_tensor(np.asarray(labels), dtype=torch.long), len(non_digits), config, seed)
        return dataclasses.replace(head, max_sse=max_sse)
    finally:
        torch.set_num_threads(threads)


def _fit(z: torch.Tensor, labels: torch.Tensor, non_digits: int, config: HeadConfig, seed: int) -> VerdictHead:
    """Train the head on codes ``z``: the first ones labelled ``labels``, the last
    ``non_digits`` not a digit."""
    y = torch.cat([labels, torch.full((non_digits,), NOT_A_DIGIT, dtype=torch.long)])
    mean, scale = z.mean(0), z.std(0).clamp_min(1e-6)
    x = (z - mean) / scale
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        widths = [x.shape[1], *([config.hidden] if config.hidden else []), CLASSES]
        layers = [nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:])]
    net = nn.Sequential(*[m for layer in layers[:-1] for m in (layer, nn.ReLU())], layers[-1])
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    order_rng = torch.Generator().manual_seed(seed)
    per_epoch = -(-len(x) // config.batch_size)
    epochs = -(-config.steps // per_epoch)
    steps, step = epochs * per_epoch, 0
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=order_rng)
        for start in range(0, len(x), config.batch_size):
            idx = order[start:start + config.batch_size]
            for group in optimizer.param_groups:
                group["lr"] = config.lr * 0.5 * (1 + np.cos(np.pi * step / steps))
            loss = F.cross_entropy(net(x[idx]), y[idx], label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
    return VerdictHead(mean=mean.numpy().astype(np.float32), scale=scale.numpy().astype(np.float32),
                       layers=tuple((layer.weight.detach().numpy().astype(np.float32).copy(),
                                     layer.bias.detach().numpy().astype(np.float32).copy())
                                    for layer in layers))


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys
    import time

    from aegui import models
    from aegui.data import DataError, load_digits, resolve_data_path
    from aegui.errors import InputError
    from aegui.pen_data import TRAINING_WRITERS, parse_writers, parse_writers_text, pen_training_set

    parser = argparse.ArgumentParser(prog="python -m aegui.verdict_fit",
                                     description="Fit a verdict head on a model's frozen encoder and store it "
                                                 "in its checkpoint (the weights, map and metrics stay).")
    parser.add_argument("model", help="a checkpoint path")
    parser.add_argument("--data", default=None, help="mnist.npz or MNIST IDX files (default $AEGUI_DATA)")
    parser.add_argument("--pen-data", default=None, help="pendigits-train.npz: add the training writers' drawings")
    parser.add_argument("--pen-writers", default=parse_writers_text(TRAINING_WRITERS))
    parser.add_argument("--pen-copies", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        model = models.load(args.model)
        data = load_digits(resolve_data_path(args.data))
        images, labels, info = data.x_train, data.y_train, {}
        if args.pen_data:
            pen, pen_labels, info = pen_training_set(args.pen_data, parse_writers(args.pen_writers),
                                                     args.pen_copies, seed=0)
            images, labels = np.concatenate([images, pen]), np.concatenate([labels, pen_labels])
        start = time.perf_counter()
        model.verdict_head = fit_verdict_head(model, images, labels, seed=args.seed)
        seconds = round(time.perf_counter() - start, 1)
        model.metadata = {**model.metadata, "head_seconds": seconds,
                          "head_data": {"mnist_images": len(data.x_train), **info}}
        models.save(model, args.model)
    except (InputError, DataError, models.CheckpointError, ValueError, OSError) as err:
        print(f"python -m aegui.verdict_fit: error: {err}", file=sys.stderr)
        return 2
    print(f"{args.model}: verdict head fitted on {len(images)} images in {seconds} s")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
