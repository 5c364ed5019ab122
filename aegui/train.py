"""Training: a loop written as a generator of progress, resumable bit for bit.

    trainer = Trainer(TrainConfig(model=ModelConfig(kind="ae", latent_dim=16)), digits,
                      checkpoints=CheckpointPolicy("ae-16.pt"))
    for p in trainer.run(should_stop=lambda: cancelled):
        ...                                  # p.event: "step", "epoch", "stopped", "done"
                                             # p.saved: the file written at this event, if any

``aegui train`` draws a progress bar from these objects; the app can run the same loop in
a worker thread, asking it to stop between batches. The loop never prints.

Checkpoints: the trainer writes them as its ``CheckpointPolicy`` says. ``aegui train``
writes at every epoch's end, when stopped (resumable) and at the end (after evaluating the
model); fine-tuning writes once, at the end, and nothing when cancelled. ``trainer.save``
writes one on demand.

Several processes (``torchrun``, see ``aegui.distributed``): each batch is split between
the processes and the update is the whole batch's, so the run matches a single process's up
to the order of floating-point sums; only rank 0 writes. A checkpoint does not depend on
the number of processes: a run can be resumed with more or fewer.

Reproducibility: the weights are initialised from ``seed``; each epoch's data order is a
permutation seeded by ``(seed, epoch)``, so it needs no saved state; the VAE's noise comes
from a generator of its own whose state is saved. A stopped run saves the optimizer,
that generator, its position (epoch and batch) and its running sums, so resuming on the
same machine, device and thread count continues with exactly the same numbers as a run
that never stopped. The learning rate is a pure function of the global step (linear
warm-up, then cosine decay to zero at the last step).

Data: any uint8 (N, 28, 28) images with labels. ``Digits.x_train`` (plus ``extra``
images, e.g. the user's own drawings) is trained on; a fixed subset of ``Digits.x_test``
gives the validation line at each epoch's end. Validation only reports: nothing is
selected on it, the model is the last epoch's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

import aegui
from aegui.data import Digits
from aegui.distributed import SINGLE, Group
from aegui.evaluate import describe_device, reconstruction_metrics
from aegui.models.autoencoder import config_from_dict
from aegui.models import Autoencoder, CheckpointError, ModelConfig, create, read_checkpoint, write_checkpoint

__all__ = ["CheckpointPolicy", "Progress", "TrainConfig", "Trainer", "resolve_device", "train"]

LOSSES = ("bce", "mse")
VAL_IMAGES = 2000          # test digits in each epoch's validation line (every 5th)
LOSS_JUMP = 2.0            # an epoch's mean loss above this times the best epoch's: diverged
_ORDER, _NOISE, _CORRUPT = 1, 2, 4   # streams derived from the seed


@dataclass(frozen=True)
class TrainConfig:
    """One training run; saved in checkpoints, so a resumed run is the same run."""

    # The defaults are the zoo's recipe (its models differ in kind, latent_dim and epochs).
    model: ModelConfig = ModelConfig()
    epochs: int = 30
    batch_size: int = 256
    # Adam's peak learning rate. High, but the conv model wants it: after 12 epochs,
    # 2e-3 / 4e-3 / 8e-3 / 1.6e-2 / 3.2e-2 gave test SSE 5.66 / 5.12 / 4.87 / 4.64 / 4.80;
    # a long run takes a little less than the short run's best.
    lr: float = 1e-2
    warmup_steps: int = 500       # linear warm-up from lr/warmup_steps, then cosine to zero
    # AE reconstruction loss, summed over pixels: "bce" or "mse" (squared error). BCE gave
    # the conv model a 2% lower test SSE than MSE itself (MSE was 1% better on MLPs).
    loss: str = "bce"
    beta: float = 1.0             # VAE: weight of the KL term (1 = the ELBO)
    weight_decay: float = 0.0
    seed: int = 0
    # Denoising: above 0, each training input is corrupted (aegui.corruption.corrupt_mixed:
    # a kind chosen at random, at a strength drawn from [0, corrupt]) while the target stays
    # clean, from a generator seeded by (seed, global step), so a resumed run corrupts
    # exactly as one that never stopped, in any number of processes.
    corrupt: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            object.__setattr__(self, "model", ModelConfig.from_dict(self.model))
        for name in ("epochs", "batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name}: {getattr(self, name)!r}; expected a positive integer")
        if not self.lr > 0:
            raise ValueError(f"lr: {self.lr!r}; expected a positive number")
        if self.loss not in LOSSES:
            raise ValueError(f"loss: {self.loss!r}; expected one of {', '.join(LOSSES)}")
        if not 0 <= self.corrupt <= 1:
            raise ValueError(f"corrupt: {self.corrupt!r}; expected a strength in [0, 1]")
        if self.beta < 0 or self.warmup_steps < 0 or self.weight_decay < 0:
            raise ValueError("beta, warmup_steps and weight_decay must not be negative")

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["model"] = self.model.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        return config_from_dict(cls, d, "training config")


@dataclass(frozen=True)
class Progress:
    """Where a run stands, yielded after every batch and at every epoch's end.

    ``event``: "step" (a batch was trained), "epoch" (an epoch ended; ``val`` is set),
    "stopped" (``should_stop`` asked; the trainer can be saved and resumed) or "done".
    """

    event: str
    epoch: int                    # 1-based: the epoch in progress, or just finished
    epochs: int
    step: int                     # batches done in this epoch
    steps: int                    # batches per epoch
    loss: float                   # mean training loss per image so far this epoch
    items_per_s: float            # training images per second this epoch
    elapsed_s: float              # training time so far, all sessions together
    eta_s: float                  # estimated seconds to the end of the run
    val: dict | None = None       # validation metrics, at "epoch"
    trainer: Trainer | None = dataclasses.field(default=None, repr=False, compare=False)
    saved: Path | None = None     # the checkpoint the policy wrote at this event, if any


@dataclass(frozen=True)
class CheckpointPolicy:
    """When and where a ``Trainer`` writes its checkpoint. Every rule is on by default:
    what ``aegui train`` does. In several processes only rank 0 writes (and finishes)."""

    # Where: a path, or a function asked at each write (fine-tuning picks a free name at
    # the end); None writes nothing (``finish`` still runs).
    path: str | Path | Callable[[], Path] | None
    every_epoch: bool = True      # at each epoch's end but the last: a crash loses one epoch at most
    on_stop: bool = True          # when ``should_stop`` ends the run early: resumable, bit for bit
    at_end: bool = True           # once the last epoch ended, after ``finish``
    # Called once the last epoch ended, before the final write: measures the model (metrics,
    # reference codes) and returns more metadata for the file, or None. If a stop is asked
    # while it runs and ``on_stop`` is off, nothing is written: the run counts as cancelled.
    finish: Callable[[Trainer], dict | None] | None = None
    metadata: dict = dataclasses.field(default_factory=dict)   # e.g. the command that defined the run

    def target(self) -> Path | None:
        return Path(self.path()) if callable(self.path) else None if self.path is None else Path(self.path)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" is CUDA when available, else the CPU; asking for an absent CUDA is an error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available here (this torch "
                         f"{torch.__version__} {'has no CUDA support' if not torch.version.cuda else 'sees none'})")
    return device


def _load_average() -> list[float]:
    """[the system's 1-minute load average], or [] where the system does not tell it."""
    return [round(os.getloadavg()[0], 2)] if hasattr(os, "getloadavg") else []


def _images_sha256(images: np.ndarray, labels: np.ndarray) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(images).tobytes())
    digest.update(np.ascontiguousarray(labels, np.uint8).tobytes())
    return digest.hexdigest()


def _derive_seed(*keys: int) -> int:
    return int(np.random.SeedSequence(list(keys)).generate_state(1, np.uint64)[0] & ((1 << 63) - 1))


class _Clock:
    """Wall-clock counts for progress: this session's batches, this epoch's images."""

    def __init__(self) -> None:
        self.session_start, self.session_steps = time.perf_counter(), 0
        self.epoch_start, self.epoch_items = self.session_start, 0

    def new_epoch(self) -> None:
        self.epoch_start, self.epoch_items = time.perf_counter(), 0

    def count(self, items: int) -> None:
        self.epoch_items += items
        self.session_steps += 1


class Trainer:
    """The state of one training run: model, optimizer, noise generator and position."""

    def __init__(self, config: TrainConfig, data: Digits, *, model: Autoencoder | None = None,
                 device: str | torch.device = "cpu",
                 extra: tuple[np.ndarray, np.ndarray] | None = None,
                 checkpoints: CheckpointPolicy | None = None, group: Group = SINGLE):
        """``model``: start from these weights (fine-tuning) instead of a fresh model;
        its architecture then replaces ``config.model``. ``extra``: more training images
        (uint8 (N, 28, 28)) and labels, appended to ``data.x_train``. ``checkpoints``: when
        ``run`` writes checkpoints (None: never). ``group``: the processes training together
        (``aegui.distributed``); each process's device is its own GPU."""
        self.group = group
        self.checkpoints = checkpoints
        self.device = group.device(resolve_device(device))
        if model is not None:
            config = dataclasses.replace(config, model=model.config)
        self.config = config
        images, labels = data.x_train, data.y_train
        self.extra_count = 0
        if extra is not None:
            extra_images, extra_labels = (np.asarray(a) for a in extra)
            if extra_images.dtype != np.uint8 or extra_images.shape[1:] != (28, 28) \
                    or extra_labels.shape != (len(extra_images),):
                raise ValueError(f"extra: expected uint8 images (N, 28, 28) and N labels, got "
                                 f"{extra_images.dtype} {extra_images.shape} and {extra_labels.shape}")
            images = np.concatenate([images, extra_images])
            labels = np.concatenate([labels, extra_labels.astype(np.uint8)])
            self.extra_count = len(extra_images)
        # Resuming needs the same extra images (drawings, rendered pen digits), not just as many.
        self.extra_sha256 = _images_sha256(images[len(data.x_train):], labels[len(data.x_train):])
        if len(images) == 0:
            raise ValueError("no training images")
        self.images = torch.from_numpy(np.ascontiguousarray(images)).to(self.device)
        self.labels = labels
        self.val_images = data.x_test[:: max(1, len(data.x_test) // VAL_IMAGES)][:VAL_IMAGES]
        self.data_source = data.source
        self.data_sha256 = data.sha256

        if model is None:
            model = create(config.model.kind, config.model.latent_dim, seed=config.seed, config=config.model)
        self.model = model.to(self.device)
        self._forward: torch.nn.Module | None = None         # the model, or DDP around it: made by run()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr,
                                          weight_decay=config.weight_decay)
        self.noise = torch.Generator(device=self.device).manual_seed(_derive_seed(config.seed, _NOISE))
        self.epoch = 0            # 0-based epoch in progress (== epochs when done)
        self.step = 0             # batches done in that epoch
        self.loss_sum = 0.0       # summed per-batch loss x batch size, this epoch
        self.items = 0            # images trained this epoch
        self.elapsed_s = 0.0
        self.history: list[dict] = []
        # The load average at each epoch's end: times taken on a shared machine say little.
        self.loads: list[float] = []

    # ------------------------------------------------------------------- positions

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.images) / self.config.batch_size)

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.config.epochs

    @property
    def global_step(self) -> int:
        return self.epoch * self.steps_per_epoch + self.step

    @property
    def finished(self) -> bool:
        return self.epoch >= self.config.epochs

    def learning_rate(self, global_step: int) -> float:
        """Linear warm-up over ``warmup_steps``, then cosine decay reaching 0 after the last step."""
        cfg, total = self.config, self.total_steps
        warm = min(cfg.warmup_steps, total // 10)
        if global_step < warm:
            return cfg.lr * (global_step + 1) / warm
        progress = (global_step - warm) / max(1, total - warm)
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * progress))

    def _corrupted(self, batch: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """What the model is shown of this process's images ``x`` of ``batch``: ``x``
        itself, or for denoising the whole batch corrupted (from the seed and the global
        step: the same in every process and on resuming) and this process's share taken."""
        if self.config.corrupt <= 0:
            return x
        from aegui.corruption import corrupt_mixed

        rng = np.random.default_rng(_derive_seed(self.config.seed, _CORRUPT, self.global_step))
        whole = corrupt_mixed(self.batch_images(batch).reshape(-1, 28, 28).cpu().numpy(), rng, self.config.corrupt)
        return self.group.shard(torch.from_numpy(whole)).reshape(x.shape).to(x.device)

    def epoch_order(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(_derive_seed(self.config.seed, _ORDER, epoch))
        return torch.randperm(len(self.images), generator=g).to(self.device)

    # ------------------------------------------------------------------------ loop

    def loss(self, out: dict[str, torch.Tensor], x: torch.Tensor, batch: float | None = None) -> torch.Tensor:
        """The per-image loss (summed over pixels), summed over ``x`` and divided by
        ``batch`` (default: the mean over ``x``). A process of several divides its share's
        sum by the batch's size over the number of processes: DDP averages their gradients,
        which then add up to the gradient of the whole batch's mean."""
        b = x.shape[0] if batch is None else batch
        logits = out["logits"]
        if self.model.kind == "vae":
            recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / b
            mu, logvar = out["mu"], out["logvar"]
            kl = -0.5 * torch.sum(1 + logvar - mu * mu - logvar.exp()) / b
            return recon + self.config.beta * kl
        if self.config.loss == "mse":
            return (torch.sigmoid(logits) - x).square().sum() / b
        return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / b

    def run(self, should_stop: Callable[[], bool] | None = None) -> Iterator[Progress]:
        """Train to the end, or until ``should_stop()`` is true (asked after every batch;
        in several processes, all stop when any is asked), writing checkpoints as
        ``self.checkpoints`` says."""
        asked = should_stop or (lambda: False)
        stop = (lambda: self.group.any(asked(), self.device)) if self.group.distributed else asked
        if self._forward is None:
            self._forward = self.group.wrap(self.model, self.device)   # DDP in several processes
        clock = _Clock()
        while not self.finished:
            self.model.train()
            order = self.epoch_order(self.epoch)
            clock.new_epoch()
            while self.step < self.steps_per_epoch:
                self._train_step(order, clock)
                yield self._progress("step", clock)
                if stop() and self.step < self.steps_per_epoch:
                    yield self._progress("stopped", clock, saved=self._write("on_stop"))
                    return
            yield self._end_epoch(clock)
            if stop() and not self.finished:
                clock.new_epoch()
                yield self._progress("stopped", clock, saved=self._write("on_stop"))
                return
        self.model.eval()
        yield from self._finish(asked, clock)

    def _train_step(self, order: torch.Tensor, clock: _Clock) -> None:
        t0 = time.perf_counter()
        bs = self.config.batch_size
        batch = order[self.step * bs:(self.step + 1) * bs]
        x = self.batch_images(self.group.shard(batch))
        eps = None
        if self.model.kind == "vae":
            # The whole batch's noise, of which this process takes its images' rows: the
            # same numbers as in one process, and the same generator state in every process.
            eps = self.group.shard(torch.randn((len(batch), self.model.latent_dim), generator=self.noise,
                                               device=self.device))
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate(self.global_step)
        loss = self.loss(self._forward(self._corrupted(batch, x), eps=eps), x, len(batch) / self.group.world_size)
        value = self.group.mean(loss)   # the whole batch's mean, on every process
        if not math.isfinite(value):  # checked before the update: the weights stay usable
            raise FloatingPointError(f"training diverged at epoch {self.epoch + 1}, batch "
                                     f"{self.step + 1}: loss {value}; try a smaller --lr")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.loss_sum += value * len(batch)
        self.items += len(batch)
        self.step += 1
        clock.count(len(batch))
        self.elapsed_s += time.perf_counter() - t0

    def batch_images(self, indices: torch.Tensor) -> torch.Tensor:
        """The training images at ``indices`` as floats in [0, 1], (B, 1, 28, 28): the one
        place a batch is made, where another data source or a per-batch transform (say,
        augmentation) would plug in. Such a transform should draw its randomness from the
        seed, the global step and the image's index, not from per-process state, so that a
        run stays resumable and independent of the number of processes."""
        return self.images[indices].unsqueeze(1).float().div_(255)

    def _end_epoch(self, clock: _Clock) -> Progress:
        """Validate, record the epoch, move to the next, and write the policy's checkpoint."""
        t0 = time.perf_counter()
        val = reconstruction_metrics(self.model, self.val_images)
        self.elapsed_s += time.perf_counter() - t0
        train_loss = self.loss_sum / max(self.items, 1)
        self._check_no_jump(train_loss)
        self.history.append({"epoch": self.epoch + 1, "loss": train_loss,
                             **{f"val_{k}": v for k, v in val.items()}})
        self.loads.extend(_load_average())
        done = self._progress("epoch", clock, val=val)
        self.epoch, self.step, self.loss_sum, self.items = self.epoch + 1, 0, 0.0, 0
        saved = None if self.finished else self._write("every_epoch")
        return dataclasses.replace(done, saved=saved)

    def _check_no_jump(self, train_loss: float) -> None:
        """Stop a run whose epoch loss jumped far above its best epoch's: Adam at too high a
        rate can throw the weights somewhere they never come back from (an ae-30 run went
        from 54.5 to 355 in one epoch and stayed there for 60 more), and the loss stays
        finite, so the per-batch check never sees it. Raised before the epoch's checkpoint
        is written: the file keeps the last good epoch."""
        best = min((h["loss"] for h in self.history), default=math.inf)
        if train_loss > LOSS_JUMP * best:
            raise FloatingPointError(f"training diverged at epoch {self.epoch + 1}: mean loss {train_loss:.4g} is "
                                     f"{train_loss / best:.1f} times the best epoch's ({best:.4g}); the last "
                                     f"checkpoint is from before it; try a smaller --lr")

    def _finish(self, asked: Callable[[], bool], clock: _Clock) -> Iterator[Progress]:
        """The end of the run: the policy's ``finish`` and final write, on the writer only."""
        policy, saved = self.checkpoints, None
        if policy is not None and policy.at_end and self.group.is_writer:
            extra = policy.finish(self) if policy.finish is not None else None
            if not policy.on_stop and asked():
                yield self._progress("stopped", clock)
                return
            saved = self._write("at_end", extra)
        clock.new_epoch()
        yield self._progress("done", clock, saved=saved)

    def _write(self, rule: str, extra: dict | None = None) -> Path | None:
        """Write the checkpoint if ``rule`` of the policy says so and this process writes."""
        policy = self.checkpoints
        if policy is None or not getattr(policy, rule) or not self.group.is_writer:
            return None
        path = policy.target()
        return None if path is None else self.save(path, **policy.metadata, **(extra or {}))

    def _progress(self, event: str, clock: _Clock, val: dict | None = None, saved: Path | None = None) -> Progress:
        now = time.perf_counter()
        per_step = (now - clock.session_start) / max(clock.session_steps, 1)
        left = self.total_steps - self.global_step
        return Progress(event=event, epoch=min(self.epoch + 1, self.config.epochs), epochs=self.config.epochs,
                        step=self.step, steps=self.steps_per_epoch,
                        loss=self.loss_sum / max(self.items, 1),
                        items_per_s=clock.epoch_items / max(now - clock.epoch_start, 1e-9),
                        elapsed_s=self.elapsed_s, eta_s=left * per_step, val=val, trainer=self, saved=saved)

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict:
        """What resuming needs, as plain data and tensors (saved as the checkpoint's 'training')."""
        return {
            "config": self.config.to_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "loss_sum": self.loss_sum,
            "items": self.items,
            "elapsed_s": self.elapsed_s,
            "history": list(self.history),
            "optimizer": self.optimizer.state_dict(),
            "noise": self.noise.get_state(),
            "data_sha256": self.data_sha256,
            "train_images": len(self.images),
            "extra_images": self.extra_count,
            "extra_sha256": self.extra_sha256,
            "loads": list(self.loads),
        }

    def load_state_dict(self, state: dict) -> None:
        if state["data_sha256"] != self.data_sha256 or state["train_images"] != len(self.images):
            raise ValueError(f"the checkpoint was trained on other data (sha256 {state['data_sha256'][:12]}..., "
                             f"{state['train_images']} images) than {self.data_source} "
                             f"({self.data_sha256[:12]}..., {len(self.images)} images); resuming needs the same")
        if state.get("extra_sha256", self.extra_sha256) != self.extra_sha256:
            raise ValueError("the checkpoint was trained with other extra images (drawings or pen digits) "
                             "than given now; resuming needs the same")
        _check_resume_state(state, self)
        loads = state.get("loads", [])
        self.loads = [float(x) for x in loads] if isinstance(loads, list) and all(
            type(x) in (int, float) for x in loads) else []
        self.optimizer.load_state_dict(state["optimizer"])
        self.noise.set_state(state["noise"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.loss_sum, self.items = float(state["loss_sum"]), int(state["items"])
        self.elapsed_s = float(state["elapsed_s"])
        self.history = list(state["history"])

    @classmethod
    def from_checkpoint(cls, path: str | Path, data: Digits, *, device: str | torch.device = "cpu",
                        extra: tuple[np.ndarray, np.ndarray] | None = None,
                        checkpoints: CheckpointPolicy | None = None, group: Group = SINGLE) -> Trainer:
        """Continue the run saved in ``path`` (by ``save`` after a stop) exactly where it
        stopped, in any number of processes."""
        ckpt = read_checkpoint(path)
        if ckpt.training is None:
            raise CheckpointError(f"{path}: holds no training state to resume (its run finished, or it "
                                  f"was saved without one); start a new run, or fine-tune from it")
        try:
            config = TrainConfig.from_dict(ckpt.training["config"])
            trainer = cls(config, data, model=ckpt.model, device=device, extra=extra, checkpoints=checkpoints,
                          group=group)
            trainer.load_state_dict(ckpt.training)
        except (KeyError, TypeError, IndexError, RuntimeError) as err:
            raise CheckpointError(f"{path}: damaged training state ({type(err).__name__}: {err})") from None
        except ValueError as err:
            raise CheckpointError(f"{path}: {err}") from None
        trainer.model.metadata = dict(ckpt.model.metadata)
        return trainer

    def metadata(self) -> dict:
        """Training facts for the checkpoint: data, schedule, seed, time, versions."""
        return {
            **self.model.metadata,
            "data_file": Path(self.data_source).name,
            "data_sha256": self.data_sha256,
            "train_images": len(self.images),
            "extra_images": self.extra_count,
            "train_config": self.config.to_dict(),
            "epochs_done": self.epoch,
            "seed": self.config.seed,
            "training_seconds": round(self.elapsed_s, 1),
            "trained_on": describe_device(self.device),
            # Times measured on a shared machine say little about the run: how shared it was.
            **({"load_average": round(statistics.fmean(self.loads), 2), "cpu_count": os.cpu_count()}
               if self.loads else {}),
            "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": {"aegui": aegui.__version__, "torch": str(torch.__version__), "numpy": np.__version__,
                         "python": platform.python_version()},
            "history": list(self.history),
        }

    def save(self, path: str | Path, **metadata) -> Path:
        """Write the model with training metadata; resumable unless the run has finished."""
        self.model.metadata = {**self.metadata(), **metadata}
        training = None if self.finished else self.state_dict()
        return write_checkpoint(path, self.model, metadata=self.model.metadata, training=training)


_RESUME_KEYS = ("config", "epoch", "step", "loss_sum", "items", "elapsed_s", "history", "optimizer", "noise")


def _check_resume_state(state: dict, trainer: Trainer) -> None:
    """A saved position, sums, RNG and optimizer state that fit this run, or ValueError
    naming what does not (a damaged or edited file would otherwise fail mid-training)."""
    missing = [key for key in _RESUME_KEYS if key not in state]
    if missing:
        raise ValueError(f"damaged training state: missing {', '.join(missing)}")

    def bad(field: str, expected: str):
        raise ValueError(f"damaged training state: {field} is {_short(state[field])}; expected {expected}")

    counts = {"epoch": trainer.config.epochs, "step": trainer.steps_per_epoch, "items": None}
    for field, end in counts.items():
        value = state[field]
        if type(value) is not int or value < 0 or (end is not None and value >= end):
            bad(field, "an integer >= 0" + (f" and < {end}" if end is not None else ""))
    for field in ("loss_sum", "elapsed_s"):
        value = state[field]
        if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
            bad(field, "a finite number >= 0")
    if not isinstance(state["history"], list) or not all(isinstance(h, dict) for h in state["history"]):
        bad("history", "a list of dicts")
    expected = trainer.noise.get_state()
    noise = state["noise"]
    if not isinstance(noise, torch.Tensor) or noise.dtype != expected.dtype or noise.shape != expected.shape:
        bad("noise", f"the state of a {trainer.device.type} random generator ({expected.dtype}, "
                     f"{tuple(expected.shape)})")
    if not _optimizer_state_fits(state["optimizer"], trainer.optimizer):
        bad("optimizer", f"the state of Adam over this model's {sum(1 for _ in trainer.model.parameters())} "
                         f"weight tensors")


def _optimizer_state_fits(saved, optimizer: torch.optim.Optimizer) -> bool:
    """Groups and per-weight tensors shaped as this optimizer's own."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if not (isinstance(saved, dict) and isinstance(saved.get("state"), dict)
            and isinstance(saved.get("param_groups"), list)
            and len(saved["param_groups"]) == len(optimizer.param_groups)):
        return False
    for index, entry in saved["state"].items():
        if type(index) is not int or not 0 <= index < len(params) or not isinstance(entry, dict):
            return False
        if any(isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape != params[index].shape
               for v in entry.values()):
            return False
    return True


def _short(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def train(config: TrainConfig, data: Digits, *, model: Autoencoder | None = None,
          device: str | torch.device = "cpu", extra: tuple[np.ndarray, np.ndarray] | None = None,
          resume: str | Path | None = None, checkpoints: CheckpointPolicy | None = None,
          should_stop: Callable[[], bool] | None = None) -> Iterator[Progress]:
    """The training loop as one generator: yields ``Progress``; each carries ``.trainer``
    (for its model, and to ``save`` it). With ``resume`` the config comes from that file."""
    trainer = (Trainer.from_checkpoint(resume, data, device=device, extra=extra, checkpoints=checkpoints) if resume
               else Trainer(config, data, model=model, device=device, extra=extra, checkpoints=checkpoints))
    yield from trainer.run(should_stop)
