"""Training: a loop written as a generator of progress, resumable bit for bit.

    trainer = Trainer(TrainConfig(model=ModelConfig(kind="ae", latent_dim=16)), digits)
    for p in trainer.run(should_stop=lambda: cancelled):
        ...                                  # p.event: "step", "epoch", "stopped", "done"
    trainer.save("ae-16.pt")                 # resumable if it stopped early

``aegui train`` draws a progress bar from these objects; the app can run the same loop in
a worker thread, asking it to stop between batches. The loop never prints.

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
import math
import platform
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
from aegui.evaluate import describe_device, reconstruction_metrics
from aegui.models.autoencoder import config_from_dict
from aegui.models import Autoencoder, CheckpointError, ModelConfig, create, read_checkpoint, write_checkpoint

__all__ = ["Progress", "TrainConfig", "Trainer", "resolve_device", "train"]

LOSSES = ("bce", "mse")
VAL_IMAGES = 2000          # test digits in each epoch's validation line (every 5th)
_ORDER, _NOISE = 1, 2      # streams derived from the seed


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


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" is CUDA when available, else the CPU; asking for an absent CUDA is an error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available here (this torch "
                         f"{torch.__version__} {'has no CUDA support' if not torch.version.cuda else 'sees none'})")
    return device


def _derive_seed(*keys: int) -> int:
    return int(np.random.SeedSequence(list(keys)).generate_state(1, np.uint64)[0] & ((1 << 63) - 1))


class Trainer:
    """The state of one training run: model, optimizer, noise generator and position."""

    def __init__(self, config: TrainConfig, data: Digits, *, model: Autoencoder | None = None,
                 device: str | torch.device = "cpu",
                 extra: tuple[np.ndarray, np.ndarray] | None = None):
        """``model``: start from these weights (fine-tuning) instead of a fresh model;
        its architecture then replaces ``config.model``. ``extra``: more training images
        (uint8 (N, 28, 28)) and labels, appended to ``data.x_train``."""
        self.device = resolve_device(device)
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
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr,
                                          weight_decay=config.weight_decay)
        self.noise = torch.Generator(device=self.device).manual_seed(_derive_seed(config.seed, _NOISE))
        self.epoch = 0            # 0-based epoch in progress (== epochs when done)
        self.step = 0             # batches done in that epoch
        self.loss_sum = 0.0       # summed per-batch loss x batch size, this epoch
        self.items = 0            # images trained this epoch
        self.elapsed_s = 0.0
        self.history: list[dict] = []

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

    def epoch_order(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(_derive_seed(self.config.seed, _ORDER, epoch))
        return torch.randperm(len(self.images), generator=g).to(self.device)

    # ------------------------------------------------------------------------ loop

    def loss(self, out: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of the per-image loss (summed over pixels)."""
        b = x.shape[0]
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
        """Train to the end, or until ``should_stop()`` is true (asked after every batch)."""
        model, bs, steps = self.model, self.config.batch_size, self.steps_per_epoch
        session_start, session_steps = time.perf_counter(), 0
        while not self.finished:
            model.train()
            order = self.epoch_order(self.epoch)
            epoch_start, epoch_items = time.perf_counter(), 0
            while self.step < steps:
                t0 = time.perf_counter()
                idx = order[self.step * bs:(self.step + 1) * bs]
                x = self.images[idx].unsqueeze(1).float().div_(255)
                for group in self.optimizer.param_groups:
                    group["lr"] = self.learning_rate(self.global_step)
                loss = self.loss(model(x, noise=self.noise), x)
                value = loss.item()
                if not math.isfinite(value):  # checked before the update: the weights stay usable
                    raise FloatingPointError(f"training diverged at epoch {self.epoch + 1}, batch "
                                             f"{self.step + 1}: loss {value}; try a smaller --lr")
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                self.loss_sum += value * len(x)
                self.items += len(x)
                self.step += 1
                epoch_items += len(x)
                session_steps += 1
                self.elapsed_s += time.perf_counter() - t0
                yield self._progress("step", epoch_items, epoch_start, session_start, session_steps)
                if should_stop is not None and should_stop() and self.step < steps:
                    yield self._progress("stopped", epoch_items, epoch_start, session_start, session_steps)
                    return
            t0 = time.perf_counter()
            val = reconstruction_metrics(model, self.val_images)
            self.elapsed_s += time.perf_counter() - t0
            train_loss = self.loss_sum / max(self.items, 1)
            self.history.append({"epoch": self.epoch + 1, "loss": train_loss,
                                 **{f"val_{k}": v for k, v in val.items()}})
            done = self._progress("epoch", epoch_items, epoch_start, session_start, session_steps, val=val)
            self.epoch, self.step, self.loss_sum, self.items = self.epoch + 1, 0, 0.0, 0
            yield done
            if should_stop is not None and should_stop() and not self.finished:
                yield self._progress("stopped", 0, time.perf_counter(), session_start, session_steps)
                return
        model.eval()
        yield self._progress("done", 0, time.perf_counter(), session_start, session_steps)

    def _progress(self, event, epoch_items, epoch_start, session_start, session_steps, val=None) -> Progress:
        now = time.perf_counter()
        per_step = (now - session_start) / max(session_steps, 1)
        left = self.total_steps - self.global_step
        return Progress(event=event, epoch=min(self.epoch + 1, self.config.epochs), epochs=self.config.epochs,
                        step=self.step, steps=self.steps_per_epoch,
                        loss=self.loss_sum / max(self.items, 1),
                        items_per_s=epoch_items / max(now - epoch_start, 1e-9),
                        elapsed_s=self.elapsed_s, eta_s=left * per_step, val=val, trainer=self)

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
        }

    def load_state_dict(self, state: dict) -> None:
        if state["data_sha256"] != self.data_sha256 or state["train_images"] != len(self.images):
            raise ValueError(f"the checkpoint was trained on other data (sha256 {state['data_sha256'][:12]}..., "
                             f"{state['train_images']} images) than {self.data_source} "
                             f"({self.data_sha256[:12]}..., {len(self.images)} images); resuming needs the same")
        _check_resume_state(state, self)
        self.optimizer.load_state_dict(state["optimizer"])
        self.noise.set_state(state["noise"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.loss_sum, self.items = float(state["loss_sum"]), int(state["items"])
        self.elapsed_s = float(state["elapsed_s"])
        self.history = list(state["history"])

    @classmethod
    def from_checkpoint(cls, path: str | Path, data: Digits, *, device: str | torch.device = "cpu",
                        extra: tuple[np.ndarray, np.ndarray] | None = None) -> Trainer:
        """Continue the run saved in ``path`` (by ``save`` after a stop) exactly where it stopped."""
        ckpt = read_checkpoint(path)
        if ckpt.training is None:
            raise CheckpointError(f"{path}: holds no training state to resume (its run finished, or it "
                                  f"was saved without one); start a new run, or fine-tune from it")
        try:
            config = TrainConfig.from_dict(ckpt.training["config"])
            trainer = cls(config, data, model=ckpt.model, device=device, extra=extra)
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
          resume: str | Path | None = None,
          should_stop: Callable[[], bool] | None = None) -> Iterator[Progress]:
    """The training loop as one generator: yields ``Progress``; each carries ``.trainer``
    (for its model, and to ``save`` it). With ``resume`` the config comes from that file."""
    trainer = (Trainer.from_checkpoint(resume, data, device=device, extra=extra) if resume
               else Trainer(config, data, model=model, device=device, extra=extra))
    yield from trainer.run(should_stop)
