"""Fine-tuning a model on the user's own drawings: the data mix, augmentation, the run.

    for status in fine_tune(model, drawings.list_drawings(root), FineTuneConfig(),
                            mnist="mnist.npz", models_dir=folder, should_stop=cancelled):
        ...    # status.event: "prepare", "step", "epoch", then "done" (or "stopped")

``fine_tune`` is a generator, like ``aegui.train``'s loop, which it drives: the app runs it
on a worker thread and asks it to stop between batches. It never modifies ``model``: it
trains a copy.

The data: each drawing's 28x28 framing plus augmented copies of it, made from the drawing
as drawn (small rotations and stroke-width changes before framing, small shifts after), so
that a few dozen drawings make a training set of about ``min_pool`` images. With MNIST
(``mnist``: a ``Digits`` or a path ``aegui.data.load_digits`` reads) as many MNIST training
digits are mixed in, so the model learns the user's handwriting without forgetting
everyone else's; without it the drawings and their copies are all there is. The user's
drawings themselves (not augmented) are the validation set: each epoch reports their
reconstruction error.

The result: the drawings' reconstructions before and after with their errors, and the
new model, saved (when ``models_dir`` is given) as ``<models_dir>/<name>-mine-<n>.pt`` by
``aegui.user_models.new_model_path``: a new file, written atomically, never a shipped one.
Its reference codes and latent map (``aegui.model_map``) are made again, always on the
shipped reference digits whatever it trained on, the map starting from the parent's so
that it keeps its shape; a model with a verdict head gets a new one, trained on the new
codes of the fine-tuning images. A run that stops early saves nothing, so cancelling
leaves no file behind.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aegui.data import Digits, load_digits
from aegui.drawings import Sample
from aegui.evaluate import map_metrics, reconstruction_metrics, to_float_images
from aegui.model_map import covers_reference, map_reference
from aegui.models import Autoencoder, build, zoo
from aegui.preprocess import mnist_style, to_uint8
from aegui.train import CheckpointPolicy, TrainConfig, Trainer
from aegui.user_models import new_model_path
from aegui.verdict_fit import HeadConfig, fit_verdict_head

__all__ = ["FineTuneConfig", "FineTuneResult", "Status", "augment", "fine_tune"]

# Of the progress bar, the share of preparing the data (reading and augmenting).
PREPARE_SHARE = 0.1
WORK_SIDE = 80             # the ink is augmented at about this size: 4x the frame's 20 px box
MAX_ROTATION_DEG = 12.0
MAX_SHIFT_PX = 2           # in the 28x28 frame
WIDTH_FACTORS = (0.7, 1.5)  # stroke width, relative to the drawing's own
MNIST_TEST_METRICS = 2000  # test digits for the new model's metrics (every 5th)
# The verdict head of a fine-tuned model: trained on the fine-tuning images, fewer steps
# and non-digits than a zoo model's (a few seconds on two cores).
HEAD_CONFIG = HeadConfig(steps=1500, non_digits=200)


@dataclass(frozen=True)
class FineTuneConfig:
    """A fine-tuning run: small by default (about 300 batches: under a minute on two CPU
    cores for 50 drawings and the default model)."""

    steps: int = 300            # batches in all, exactly (the data is sized to whole passes of them)
    batch_size: int = 64
    lr: float = 3e-4            # Adam's peak learning rate: lower than from scratch
    min_pool: int = 1024        # the drawings and their copies make at least this many images
    max_copies: int = 64        # ... but at most this many copies of one drawing
    mnist_ratio: float = 1.0    # MNIST digits mixed in per image of the user's
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "min_pool", "max_copies"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name}: {getattr(self, name)!r}; expected a positive integer")
        if not self.lr > 0 or self.mnist_ratio < 0:
            raise ValueError("lr must be positive and mnist_ratio not negative")


@dataclass(frozen=True, eq=False)
class FineTuneResult:
    """The fine-tuned model and how the user's drawings fare before and after."""

    model: Autoencoder
    frames: np.ndarray          # (N, 28, 28) float32 in [0, 1]: the drawings as the network sees them
    labels: np.ndarray          # (N,) uint8
    before: np.ndarray          # (N, 28, 28) reconstructions by the model fine-tuned from
    after: np.ndarray           # (N, 28, 28) by the new model
    error_before: np.ndarray    # (N,) mean squared error per pixel
    error_after: np.ndarray
    path: Path | None           # where the new model was saved
    mixed_with_mnist: bool
    steps: int                  # batches trained


@dataclass(frozen=True)
class Status:
    """Where a run stands: ``event`` is "prepare", "step", "epoch", "stopped" or "done"."""

    event: str
    fraction: float             # of the whole run, 0..1
    message: str                # one line for the user
    loss: float | None = None   # training loss per image, this epoch so far
    eta_s: float | None = None
    val_error: float | None = None   # the drawings' mean squared error per pixel, at "epoch"
    result: FineTuneResult | None = None


def fine_tune(model: Autoencoder, samples: Sequence[Sample], config: FineTuneConfig = FineTuneConfig(), *,
              mnist: Digits | str | os.PathLike | None = None, models_dir: str | os.PathLike | None = None,
              device: str | torch.device = "cpu",
              should_stop: Callable[[], bool] | None = None) -> Iterator[Status]:
    """Fine-tune a copy of ``model`` on the drawings ``samples`` (see the module docstring)."""
    stop = should_stop or (lambda: False)
    if not hasattr(model, "config") or not hasattr(model, "state_dict"):
        raise TypeError(f"{getattr(model, 'name', type(model).__name__)} cannot be fine-tuned: it is not "
                        f"an aegui model")
    if not samples:
        raise ValueError("no drawings to fine-tune on: collect some first")
    rng = np.random.default_rng(config.seed)

    yield Status("prepare", 0.0, f"Reading {len(samples)} drawings…")
    frames = np.stack([s.frame() for s in samples])
    labels = np.array([s.label for s in samples], np.uint8)
    copies = min(config.max_copies, max(1, math.ceil(config.min_pool / len(samples))))
    pool_images = yield from _augmented(samples, frames, copies, rng, stop)
    if pool_images is None:
        return
    pool_labels = np.repeat(labels, copies)
    if isinstance(mnist, (str, os.PathLike)):
        yield Status("prepare", PREPARE_SHARE * 0.85, f"Reading MNIST from {mnist}…")
        mnist = load_digits(mnist)
    passes, (pool_images, pool_labels), data = _mix(frames, labels, (pool_images, pool_labels), copies, mnist,
                                                    config, rng)

    tuned = _clone(model, device)
    measure = _Measurement(tuned, frames, labels, mnist, before=_reconstruct(tuned, frames),
                           new_head=getattr(model, "verdict_head", None) is not None)
    # Fine-tuning's rules: one file, written at the end under a name no file has yet (never
    # a shipped one), and nothing at all when cancelled: no epoch or stop checkpoints.
    policy = CheckpointPolicy(
        path=(lambda: new_model_path(models_dir, model.name, shipped=zoo.MODELS_DIR)) if models_dir is not None
        else None,
        every_epoch=False, on_stop=False, at_end=True, finish=measure,
        metadata={"finetuned_from": str(model.name), "drawings": len(samples), "copies_per_drawing": copies,
                  "mixed_with_mnist": mnist is not None})
    trainer = _trainer(tuned, data, (pool_images, pool_labels), config, passes, device, policy)
    if stop():      # building the trainer may take a while the first time (imports)
        yield Status("stopped", PREPARE_SHARE, "Cancelled")
        return
    what = f"{len(samples)} drawings ({len(pool_images)} with copies)" + (
        f" + {len(data.x_train)} MNIST digits" if len(data.x_train) else "")
    finished, path = yield from _statuses(trainer, what, stop)
    if not finished:
        return
    if path is not None:
        tuned.name = path.stem
    result = FineTuneResult(model=tuned.eval(), frames=measure.floats, labels=labels, before=measure.before,
                            after=measure.after, error_before=measure.error_before,
                            error_after=measure.error_after, path=path, mixed_with_mnist=mnist is not None,
                            steps=trainer.global_step)
    yield Status("done", 1.0, f"Done: your drawings' error {measure.error_before.mean():.4f} → "
                 f"{measure.error_after.mean():.4f}", result=result)


def _trainer(tuned: Autoencoder, data: Digits, pool, config: FineTuneConfig, passes: int, device,
             policy: CheckpointPolicy) -> Trainer:
    """A trainer over the mix (sized by ``plan_passes``: ``passes`` whole passes are exactly
    ``config.steps`` batches), on the loss the model was trained with."""
    train_config = TrainConfig(epochs=passes, batch_size=config.batch_size, lr=config.lr, seed=config.seed,
                               warmup_steps=max(1, config.steps // 10), **_loss_settings(tuned))
    return Trainer(train_config, data, model=tuned, device=device, extra=pool, checkpoints=policy)


def _mix(frames, labels, pool, copies: int, mnist: Digits | None, config: FineTuneConfig, rng):
    """(passes, pool, data): the drawings' pool and the MNIST digits mixed in, sized so that
    ``passes`` whole passes are exactly ``config.steps`` batches (``plan_passes``), in the
    proportions ``config`` asks for."""
    images, pool_labels = pool
    mnist_count = round(config.mnist_ratio * len(images)) if mnist is not None else 0
    passes, per_pass = plan_passes(config.steps, config.batch_size, len(images) + mnist_count, len(frames))
    keep = per_pass
    if mnist is not None:
        keep = min(max(round(per_pass * len(images) / (len(images) + mnist_count)), min(len(frames), per_pass)),
                   per_pass)
    chosen = _resized(len(images), copies, keep, rng)
    return passes, (images[chosen], pool_labels[chosen]), _training_data(frames, labels, mnist, per_pass - keep, rng)


# Images in one pass at most (uint8: 51 MB), whatever the number of batches asked for.
MAX_PASS_IMAGES = 65536


def plan_passes(steps: int, batch: int, natural: int, least: int = 1) -> tuple[int, int]:
    """(passes, images per pass) such that ``passes`` passes of whole batches are exactly
    ``steps`` batches: images per pass as near ``natural`` (the mix as made) as the divisors
    of ``steps`` allow, preferably at least ``least`` (each drawing in every pass) and at
    most ``MAX_PASS_IMAGES``."""
    best = None
    for passes in _divisors(steps):
        images = steps // passes * batch
        key = (images < least, images > MAX_PASS_IMAGES, abs(math.log(images / max(natural, 1))))
        if best is None or key < best[0]:
            best = (key, passes, images)
    return best[1], best[2]


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def _resized(size: int, copies: int, target: int, rng) -> np.ndarray:
    """Indices into a pool of ``size`` images (each drawing followed by its ``copies - 1``
    copies) choosing ``target`` of them: every drawing itself first, then copies at random
    (drawn again at random when more are needed than there are)."""
    originals = np.arange(0, size, copies)
    if target <= len(originals):
        return np.sort(rng.choice(originals, size=target, replace=False))
    others = np.setdiff1d(np.arange(size), originals)
    extra = target - len(originals)
    if len(others) >= extra:
        picked = rng.choice(others, size=extra, replace=False)
    else:
        picked = np.concatenate([others, rng.choice(np.arange(size), size=extra - len(others), replace=True)])
    return np.sort(np.concatenate([originals, picked]))


def _statuses(trainer: Trainer, what: str, stop) -> Iterator[Status]:
    """Runs the trainer, telling the user; returns (finished, the file written or None)."""
    path = None
    for p in trainer.run(should_stop=stop):
        done = trainer.global_step / max(trainer.total_steps, 1)
        fraction = PREPARE_SHARE + (1 - PREPARE_SHARE) * 0.97 * done
        if p.event == "stopped":
            yield Status("stopped", fraction, "Cancelled")
            return False, None
        if p.event == "step":
            yield Status("step", fraction, f"Training on {what}: batch {trainer.global_step} of "
                         f"{trainer.total_steps}", loss=p.loss, eta_s=p.eta_s)
        elif p.event == "epoch":
            error = p.val["sse"] / 784
            yield Status("epoch", fraction, f"Pass {p.epoch} of {p.epochs}: your drawings' error {error:.4f}",
                         loss=p.loss, eta_s=p.eta_s, val_error=error)
            if p.epoch == p.epochs:     # the trainer measures the new model next (its policy's finish)
                yield Status("step", PREPARE_SHARE + (1 - PREPARE_SHARE) * 0.98,
                             "Laying out the new model's latent map…", eta_s=5.0)
        elif p.event == "done":
            path = p.saved
    return True, path


class _Measurement:
    """Fine-tuning's ``finish``: once trained, the drawings' reconstructions and errors
    before and after (for the result) and the new model's reference codes and metrics."""

    def __init__(self, tuned: Autoencoder, frames: np.ndarray, labels: np.ndarray, mnist: Digits | None,
                 before: np.ndarray, new_head: bool):
        self.tuned, self.frames, self.labels, self.mnist, self.before = tuned, frames, labels, mnist, before
        self.new_head = new_head        # the model had a verdict head: the new one gets its own
        self.floats = frames.astype(np.float32) / 255
        self.after = self.error_before = self.error_after = None

    def __call__(self, trainer: Trainer) -> dict:
        self.after = _reconstruct(self.tuned, self.frames)
        _measure(self.tuned, self.mnist, trainer if self.new_head else None)
        self.error_before = ((self.before - self.floats) ** 2).mean(axis=(1, 2))
        self.error_after = ((self.after - self.floats) ** 2).mean(axis=(1, 2))
        return {"drawings_error_before": float(self.error_before.mean()),
                "drawings_error_after": float(self.error_after.mean())}


def _augmented(samples, frames, copies: int, rng, stop) -> Iterator[Status]:
    """Each drawing's framing followed by ``copies - 1`` augmented copies, uint8
    (N * copies, 28, 28), as the generator's return value; None when stopped."""
    pool = []
    for i, sample in enumerate(samples):
        if stop():
            yield Status("stopped", 0.0, "Cancelled")
            return None
        copied = augment(sample.original(), copies - 1, rng) if copies > 1 else frames[:0]
        pool.append(np.concatenate([frames[i][None], copied]))
        yield Status("prepare", PREPARE_SHARE * 0.8 * (i + 1) / len(samples),
                     f"Augmenting drawing {i + 1} of {len(samples)}…")
    return np.concatenate(pool)


def _measure(model: Autoencoder, mnist: Digits | None, head_data: Trainer | None) -> None:
    """New reference codes, map and metrics: the old ones described the old weights. The
    reference digits always (the data set's map stays, whatever the model trained on);
    reconstruction metrics on MNIST's test digits when there is MNIST. With ``head_data``,
    a new verdict head trained on its images: the old one read the old codes (a smaller
    head than a zoo model's: seconds)."""
    if head_data is not None:
        model.verdict_head = fit_verdict_head(model, head_data.images.cpu().numpy(), head_data.labels,
                                              HEAD_CONFIG, seed=head_data.config.seed)
    parent = model.reference
    init = parent.xy if covers_reference(parent) and parent.xy is not None else None
    model.reference = map_reference(model, init=init)
    model.metrics = map_metrics(model.reference)
    if mnist is not None:
        test = mnist.x_test[::5][:MNIST_TEST_METRICS]
        model.metrics.update(reconstruction_metrics(model, test), test_images=len(test))


# ---------------------------------------------------------------------- data


def _training_data(frames, labels, mnist: Digits | None, count: int, rng) -> Digits:
    """The ``Digits`` the trainer gets: ``count`` MNIST training digits (or none) to train
    on, the user's drawings as the validation ("test") split."""
    if mnist is not None and count > 0:
        chosen = np.sort(rng.choice(len(mnist.x_train), size=min(count, len(mnist.x_train)), replace=False))
        x_train, y_train = mnist.x_train[chosen], mnist.y_train[chosen]
    else:
        x_train, y_train = np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8)
    digest = hashlib.sha256(frames.tobytes() + labels.tobytes())
    if mnist is not None:
        digest.update(mnist.sha256.encode())
    return Digits(x_train=x_train, y_train=y_train, x_test=frames, y_test=labels,
                  source="my-drawings" + ("+" + Path(mnist.source).name if mnist is not None else ""),
                  sha256=digest.hexdigest())


def _loss_settings(model) -> dict:
    """The loss the model was trained with (its checkpoint says), so fine-tuning goes on
    minimising the same thing."""
    trained = (getattr(model, "metadata", None) or {}).get("train_config") or {}
    settings = {}
    if trained.get("loss") in ("bce", "mse"):
        settings["loss"] = trained["loss"]
    if isinstance(trained.get("beta"), int | float) and trained["beta"] >= 0:
        settings["beta"] = float(trained["beta"])
    return settings


def _clone(model: Autoencoder, device) -> Autoencoder:
    """A copy with the same weights, metadata and name, on ``device``: fine-tuning never
    touches the model the app is showing (it may be decoding on another thread)."""
    copy = build(model.config, name=model.name)
    copy.load_state_dict({k: v.detach().to("cpu") for k, v in model.state_dict().items()})
    copy.metadata = dict(getattr(model, "metadata", None) or {})
    copy.metrics = dict(getattr(model, "metrics", None) or {})
    copy.reference = getattr(model, "reference", None)
    return copy.to(device).eval()


@torch.inference_mode()
def _reconstruct(model: Autoencoder, frames: np.ndarray) -> np.ndarray:
    device = next(model.parameters()).device
    model.eval()
    x = to_float_images(frames, device)
    return model.reconstruct(x)[1].reshape(len(frames), 28, 28).float().cpu().numpy()


# ---------------------------------------------------------------------- augmentation


def augment(original: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` variants of a drawing (2-D uint8, ink bright), framed: uint8 (count, 28, 28).
    Each is rotated by up to 12 degrees and its strokes made 0.7 to 1.5 times as wide
    (before framing, so the framing sees a plausible drawing), then shifted by up to 2
    pixels in the frame (never cutting ink off, nor moving it onto the border)."""
    work = _shrink(np.asarray(original, np.uint8))
    width = _stroke_width(work)
    out = np.zeros((count, 28, 28), np.uint8)
    for i in range(count):
        image = work
        radius = int(round((rng.uniform(*WIDTH_FACTORS) - 1.0) * width / 2))
        # Thin strokes are never eroded away: at least a pixel or so stays.
        radius = max(radius, -int(max(width / 2 - 1.5, 0)))
        if radius > 0:
            image = _morph(image, radius, np.maximum)
        elif radius < 0:
            image = _morph(image, -radius, np.minimum)
        image = _rotate(image, rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG))
        frame = mnist_style(image)
        if not frame.any():
            frame = mnist_style(work)
        out[i] = to_uint8(_shift_inside(frame, rng))
    return out


def _shrink(image: np.ndarray) -> np.ndarray:
    """The ink's bounding box, block-averaged down to about WORK_SIDE on its longer side,
    float32 in [0, 1], with a margin in which rotated and widened strokes still fit."""
    ink = image >= max(1, int(image.max()) // 50)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return np.zeros((8, 8), np.float32)
    crop = image[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]
    factor = max(1, math.ceil(max(crop.shape) / WORK_SIDE))
    h, w = (math.ceil(s / factor) * factor for s in crop.shape)
    padded = np.zeros((h, w), np.float32)
    padded[: crop.shape[0], : crop.shape[1]] = crop / 255.0
    small = padded.reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))
    return np.pad(small, max(small.shape) // 5 + 4)


def _stroke_width(image: np.ndarray) -> float:
    """About how wide the strokes are (pixels): twice the ink's area over its outline."""
    ink = image > 0.5
    area = int(ink.sum())
    if area == 0:
        return 1.0
    inner = ink.copy()
    inner[1:, :] &= ink[:-1, :]
    inner[:-1, :] &= ink[1:, :]
    inner[:, 1:] &= ink[:, :-1]
    inner[:, :-1] &= ink[:, 1:]
    outline = max(area - int(inner.sum()), 1)
    return max(1.0, 2.0 * area / outline)


def _morph(image: np.ndarray, radius: int, pick) -> np.ndarray:
    """Grey dilation (``np.maximum``) or erosion (``np.minimum``) by a disk of ``radius``."""
    h, w = image.shape
    padded = np.pad(image, radius)
    out = image.copy()
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dy * dy + dx * dx <= radius * radius and (dy or dx):
                pick(out, padded[radius + dy: radius + dy + h, radius + dx: radius + dx + w], out=out)
    return out


def _rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    """Rotated about its centre, bilinear; what comes from outside is background."""
    h, w = image.shape
    a = math.radians(degrees)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # Each output pixel samples the input at the inversely rotated position.
    sy = cy + (yy - cy) * math.cos(a) - (xx - cx) * math.sin(a)
    sx = cx + (yy - cy) * math.sin(a) + (xx - cx) * math.cos(a)
    y0, x0 = np.floor(sy).astype(np.intp), np.floor(sx).astype(np.intp)
    fy, fx = sy - y0, sx - x0
    padded = np.pad(image, 1)
    out = np.zeros_like(image)
    for oy, wy in ((0, 1 - fy), (1, fy)):
        for ox, wx in ((0, 1 - fx), (1, fx)):
            ys = np.clip(y0 + oy + 1, 0, h + 1)
            xs = np.clip(x0 + ox + 1, 0, w + 1)
            out += padded[ys, xs] * wy * wx
    return out


def _shift_inside(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Moved by up to MAX_SHIFT_PX each way, as far as the ink stays inside the frame."""
    rows = np.flatnonzero(frame.any(axis=1))
    cols = np.flatnonzero(frame.any(axis=0))
    if rows.size == 0:
        return frame
    # A pixel of margin stays, as in MNIST (none is added where the framing left none).
    dy = int(np.clip(rng.integers(-MAX_SHIFT_PX, MAX_SHIFT_PX + 1), min(1 - rows[0], 0), max(26 - rows[-1], 0)))
    dx = int(np.clip(rng.integers(-MAX_SHIFT_PX, MAX_SHIFT_PX + 1), min(1 - cols[0], 0), max(26 - cols[-1], 0)))
    return np.roll(frame, (dy, dx), axis=(0, 1))
