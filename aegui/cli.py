"""The ``aegui`` command: the app by default, and ``bench``, ``train``, ``eval``,
``screenshot``, ``doctor`` and ``install-desktop`` subcommands. Arguments are parsed in ``main()``, never at import time,
and each subcommand imports what it needs only when it runs (``aegui bench ops`` works
on a machine without Qt). ``main()`` is also the error boundary: a bad file or argument
(``aegui.errors.InputError``), a full disk, a missing permission or memory end the
command with one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from pathlib import Path

from .errors import InputError, describe


def _add_bench(sub) -> None:
    bench = sub.add_parser("bench", help="benchmarks that print ratios measured side by side")
    which = bench.add_subparsers(dest="bench", required=True)
    o = which.add_parser("ops", help="fused bottleneck op vs eager PyTorch and torch.compile")
    o.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    o.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    o.add_argument("--activation", default="relu", choices=("relu", "gelu", "silu", "tanh", "identity"))
    o.add_argument("--dtype", default="float32", choices=("float32", "float64", "float16", "bfloat16"))
    o.add_argument("--batches", default="1,64,4096,65536", help="comma-separated batch sizes")
    o.add_argument("--hidden", default="256,1024", help="comma-separated hidden sizes H")
    o.add_argument("--latent", type=int, default=16, help="latent size Z")
    o.add_argument("--modes", default="inference,fwd+bwd")
    o.add_argument("--no-compile", action="store_true", help="skip torch.compile (saves minutes)")
    o.add_argument("--rounds", type=int, default=15, help="interleaved timing rounds per case")
    a = which.add_parser("app", help="stroke-to-screen latency of the real window, offscreen")
    a.add_argument("--json", metavar="PATH")
    a.add_argument("--model", default=None, help="shipped model name or checkpoint path")
    a.add_argument("--events", type=int, default=600, help="mouse-move events to replay (>= 500)")
    a.add_argument("--rounds", type=int, default=None,
                   help="replays of the events (default 5); each CPU figure is the median of the rounds'")
    a.add_argument("--pace", type=int, default=None, metavar="N",
                   help="times each piece of work back to back and as many at the pen's pace, to show what "
                        "the pace costs on this machine (default 200; 0: skip)")
    a.add_argument("--front", action="append", default=[], metavar="DOCK",
                   help="bring this dock to the front of its tabs before measuring (its object name, e.g. "
                        "sizesDock, noiseDock, linearDock, traversalDock); may be given again")


def _run_bench(args) -> int:
    if args.bench == "ops":
        from .bench import run_ops_benchmark

        ints = lambda s: tuple(int(x) for x in s.split(",") if x)  # noqa: E731
        run_ops_benchmark(device=args.device, activation=args.activation, dtype=args.dtype,
                          batches=ints(args.batches), hidden=ints(args.hidden), latent=args.latent,
                          modes=tuple(m for m in args.modes.split(",") if m),
                          with_compile=not args.no_compile, rounds=args.rounds, json_path=args.json)
        return 0
    from .gui.bench_app import run_app_benchmark

    return run_app_benchmark(model=args.model, events=args.events, json_path=args.json, front=args.front,
                             rounds=args.rounds, pace_repeats=args.pace)


def _add_train(sub) -> None:
    t = sub.add_parser(
        "train", help="train an autoencoder or VAE on MNIST",
        description="Train a model. Ctrl-C stops after the current batch and saves a checkpoint that "
                    "--resume continues bit for bit; a checkpoint is also saved at every epoch's end. "
                    "At the end the model is evaluated on the test split and the metrics and the "
                    "reference codes of the 5000 reference digits with their latent map go into the file "
                    "(--no-eval skips that; the app lays the map out when it opens the file). "
                    "Runs unchanged under torchrun, in several processes, GPUs or machines (README.md).")
    t.add_argument("--data", default=None, help="mnist.npz or a folder of MNIST IDX files "
                   "(default: $AEGUI_DATA)")
    # Run settings default to None so that --resume can tell which ones were given.
    t.add_argument("--kind", choices=("ae", "vae"), default=None, help="model kind (default ae)")
    t.add_argument("--latent-dim", type=int, default=None, help="size of the code (default 16)")
    t.add_argument("--epochs", type=int, default=None, help="default 30")
    t.add_argument("--batch-size", type=int, default=None, help="default 256")
    t.add_argument("--lr", type=float, default=None, help="Adam's peak learning rate (default 1e-2)")
    t.add_argument("--seed", type=int, default=None, help="default 0")
    t.add_argument("--loss", choices=("bce", "mse"), default=None,
                   help="AE reconstruction loss (default bce); a VAE always uses BCE + beta * KL")
    t.add_argument("--beta", type=float, default=None, help="VAE: weight of the KL term (default 1)")
    t.add_argument("--corrupt", type=float, default=None, metavar="STRENGTH",
                   help="train a denoising model: each input corrupted (speckle, stray strokes, blur or "
                        "occlusion, at a strength up to STRENGTH in [0, 1]), the target clean (default 0: off)")
    t.add_argument("--hidden", default=None, help="widths of the fully connected layers, outermost "
                   "first (default from aegui.models.default_config)")
    t.add_argument("--channels", default=None, help="encoder conv channels, e.g. 32,64 ('' = MLP)")
    t.add_argument("--activation", default=None, help="relu, gelu, silu, tanh or identity")
    t.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    t.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    t.add_argument("--out", default=None, help="checkpoint to write (default KIND-LATENT.pt, or the "
                   "--resume file)")
    t.add_argument("--resume", default=None, metavar="FILE", help="continue the run saved in FILE")
    t.add_argument("--extra-data", default=None, metavar="DIR",
                   help="also train on your own drawings: DIR/<digit>/*.png, the layout of the app's "
                        "drawings folder (see aegui.drawings)")
    t.add_argument("--pen-data", default=None, metavar="PATH",
                   help="also train on digits drawn from real pen strokes (pendigits-train.npz): each "
                        "digit of the --pen-writers drawn --pen-copies times with its own size, pen and "
                        "augmentation (see aegui.pen_data), the same for every run; resuming needs the "
                        "same three flags")
    t.add_argument("--pen-writers", default="0-23", help="writers whose strokes to train on (default "
                   "0-23; the validation writers 24-29 are refused)")
    t.add_argument("--pen-copies", type=int, default=3, help="drawings made of each pen digit (default 3)")
    t.add_argument("--head-non-digits", type=int, default=2000, metavar="N",
                   help="dots and scribbles (N of each) the verdict head learns to call not a digit (default 2000)")
    t.add_argument("--no-eval", action="store_true", help="skip the final evaluation and verdict head")
    t.add_argument("--quiet", action="store_true", help="no progress bars; one line per epoch")


def _add_eval(sub) -> None:
    from .corruption import KINDS   # numpy only

    e = sub.add_parser("eval", help="evaluate a model on the MNIST test split and on drawn digits",
                       description="MNIST metrics on the test split (--data, or $AEGUI_DATA when --drawn is "
                                   "not given), and/or the drawn-digits benchmark (--drawn): real pen strokes "
                                   "drawn through the canvas's rasteriser, read as the app reads a drawing.")
    e.add_argument("model", help="a shipped model name or a checkpoint path")
    e.add_argument("--data", default=None, help="mnist.npz or a folder of MNIST IDX files "
                   "(default: $AEGUI_DATA)")
    e.add_argument("--drawn", default=None, metavar="PATH",
                   help="pen strokes (pendigits-train.npz): run the drawn-digits benchmark on them")
    e.add_argument("--writers", default=None, help="writers of --drawn to draw (default: the validation "
                   "writers, 24-29)")
    e.add_argument("--seed", type=int, default=0, help="seed of the drawings' sizes, places and pens (default 0)")
    e.add_argument("--non-digits", type=int, default=200, metavar="N",
                   help="dots and scribbles (N of each) the verdict should call not a digit (default 200)")
    e.add_argument("--json", action="store_true", help="print the metrics as JSON")
    e.add_argument("--card", nargs="?", const="-", default=None, metavar="PATH",
                   help="write the model card (markdown) to PATH, with its pictures in figures/ beside it "
                        "(implies --pca and --noise); without PATH, print the card's text")
    e.add_argument("--pca", action="store_true",
                   help="also PCA's test SSE with as many components as the model's code (linear vs learned)")
    e.add_argument("--noise", action="store_true",
                   help="also how well the model removes noise: speckle, stray strokes, blur, occlusion "
                        "at four strengths, on the test split")
    e.add_argument("--drawing", metavar="PNG", default=None,
                   help="instead of the test split, read one drawing (as the app frames it) the ways the "
                        "window shows: beside PCA, through every shipped code size, corrupted then "
                        "reconstructed (see --corruption); needs no data set")
    e.add_argument("--corruption", default="speckle", choices=KINDS, help="with --drawing: the corruption")
    e.add_argument("--strength", type=float, default=0.5, help="with --drawing: of the corruption, in [0, 1]")
    e.add_argument("--noise-seed", type=int, default=0, help="with --drawing: seed of the corruption")
    e.add_argument("--stored-metrics", action="store_true",
                   help="report the test metrics stored in the checkpoint (measured when it was trained, or "
                        "by --update) instead of measuring them again; --pca, --noise and the card's "
                        "pictures are still computed")
    e.add_argument("--update", action="store_true",
                   help="also store the metrics, reference codes and latent map in the checkpoint file "
                        "(the map is laid out again; with --drawn alone, only the drawn-digit figures)")
    e.add_argument("--map", action="store_true",
                   help="measure the latent map: 10-NN label agreement of the reference digits in the "
                        "full code, on the map and on the linear view; without --data only that (with "
                        "--update: store the map, keep the other metrics)")
    e.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")
    e.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")


# The drawings made from pen strokes are data, the same for every run (as MNIST is), so a
# resumed run, which takes no --seed, makes them again exactly.
PEN_SEED = 0

_RUN_FLAGS = ("kind", "latent_dim", "epochs", "batch_size", "lr", "seed", "loss", "beta", "corrupt", "hidden",
              "channels", "activation")


def _int_tuple(text: str, flag: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.replace(" ", "").split(",") if x)
    except ValueError:
        raise ValueError(f"{flag} {text!r}: expected comma-separated integers, e.g. 1000,500,250") from None


def _train_config(args):
    from .models import default_config
    from .train import TrainConfig

    kind = args.kind or "ae"
    if kind == "vae" and args.loss is not None:
        raise ValueError("--loss is for --kind ae; a VAE trains on BCE + beta * KL (see --beta)")
    if kind == "ae" and args.beta is not None:
        raise ValueError("--beta is for --kind vae")
    base = default_config(kind, args.latent_dim if args.latent_dim is not None else 16)
    model = dataclasses.replace(
        base,
        **({"hidden": _int_tuple(args.hidden, "--hidden")} if args.hidden is not None else {}),
        **({"channels": _int_tuple(args.channels, "--channels")} if args.channels is not None else {}),
        **({"activation": args.activation} if args.activation is not None else {}))
    given = {name: getattr(args, name) for name in ("epochs", "batch_size", "lr", "seed", "loss", "beta", "corrupt")
             if getattr(args, name) is not None}
    return TrainConfig(model=model, **given)


def _run_train(args, argv: list[str]) -> int:
    """``aegui train``: the run's setup from the arguments, then the trainer's progress printed.
    Under torchrun every process runs this; rank 0 prints and writes (see aegui.distributed)."""
    import torch

    from . import distributed
    from .train import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        device = resolve_device(args.device)
        group = distributed.from_environment(device)
    except (ValueError, RuntimeError) as err:   # no such device; the process group could not form
        print(f"aegui train: error: {describe(err)}", file=sys.stderr)
        return 2
    try:
        failure, trainer = None, _new_trainer(args, argv, group)
    except (ValueError, OSError) as err:    # InputErrors (bad data, checkpoint, flags) are ValueErrors
        failure, trainer = err, None
    # Every process learns whether all could start: one that could not must not leave the
    # others waiting for it in their first collective.
    if group.any(failure is not None, group.device(device)):
        where = f"[rank {group.rank}] " if group.distributed else ""
        why = describe(failure) if failure is not None else "another process could not start; see its message"
        print(f"aegui train: {where}error: {why}", file=sys.stderr)
        distributed.shutdown(group)
        return 1 if isinstance(failure, OSError) else 2
    try:
        return _train_with_progress(trainer, args)
    finally:
        distributed.shutdown(group)


def _new_trainer(args, argv: list[str], group):
    """The trainer the arguments describe (new or resumed), with ``aegui train``'s
    checkpoint policy: every epoch, on a stop, and at the end after evaluating."""
    import shlex

    from .data import load_digits, resolve_data_path
    from .drawings import load_training_set
    from .evaluate import evaluate, map_metrics
    from .model_map import map_reference
    from .train import CheckpointPolicy, Trainer

    if args.resume:
        given = [f"--{n.replace('_', '-')}" for n in _RUN_FLAGS if getattr(args, n) is not None]
        if given:
            raise ValueError(f"--resume continues the saved run with its own settings; drop {', '.join(given)}")
    data = load_digits(resolve_data_path(args.data))
    extra = load_training_set(args.extra_data) if args.extra_data else None
    extra, pen_info = _with_pen_digits(args, extra)
    if args.resume:
        trainer = Trainer.from_checkpoint(args.resume, data, device=args.device, extra=extra, group=group)
        out = Path(args.out or args.resume)
        # The card shows the command that defined the run, not the one that resumed it.
        command = trainer.model.metadata.get("command", "aegui " + shlex.join(argv))
    else:
        config = _train_config(args)
        trainer = Trainer(config, data, device=args.device, extra=extra, group=group)
        out = Path(args.out or f"{config.model.kind}-{config.model.latent_dim}.pt")
        command = "aegui " + shlex.join(argv)

    def evaluate_on_test_split(trainer) -> dict:
        head_seconds = _fit_head(trainer, args.head_non_digits)
        print("aegui train: evaluating on the test split ...", flush=True)
        trainer.model.metrics = evaluate(trainer.model, data)
        trainer.model.reference = map_reference(trainer.model)      # the reference digits and their map
        trainer.model.metrics.update(map_metrics(trainer.model.reference))
        return {"head_seconds": head_seconds}

    trainer.checkpoints = CheckpointPolicy(out, metadata={"command": command, **pen_info},
                                           finish=None if args.no_eval else evaluate_on_test_split)
    return trainer


def _train_with_progress(trainer, args) -> int:
    """Run to the end (0), to a stop asked by Ctrl-C or SIGTERM (130, resumable checkpoint
    saved), an abort (130) or a diverged loss (1), printing as it goes."""
    import shlex

    printer = _TrainPrinter(trainer, bars=not args.quiet, enabled=trainer.group.is_writer)
    printer.header(resumed=bool(args.resume))
    try:
        with _stop_on_signals(printer) as stop_asked:
            for p in trainer.run(should_stop=stop_asked):
                printer.show(p)
                if p.event == "stopped":
                    printer.close()
                    out = trainer.checkpoints.target()
                    # Any number of processes can continue it (see aegui.train).
                    launcher = "torchrun --nproc-per-node N -m aegui" if trainer.group.distributed else "aegui"
                    printer.error(f"aegui train: stopped at epoch {p.epoch}, batch {p.step}/{p.steps}; saved a "
                                  f"resumable checkpoint to {out}\ncontinue with: {launcher} train --resume "
                                  f"{shlex.quote(str(out))}"
                                  + (f" --data {shlex.quote(args.data)}" if args.data else "")
                                  + (f" --extra-data {shlex.quote(args.extra_data)}" if args.extra_data else "")
                                  + (f" --pen-data {shlex.quote(args.pen_data)} --pen-writers {args.pen_writers} "
                                     f"--pen-copies {args.pen_copies}" if args.pen_data else ""))
                    return 130
    except KeyboardInterrupt:
        printer.error("\naegui train: aborted; nothing saved since the last epoch's checkpoint")
        return 130
    except FloatingPointError as err:
        printer.error(f"aegui train: error: {err}")
        return 1
    finally:
        printer.close()
    printer.summary(p.saved)
    return 0


class _TrainPrinter:
    """What ``aegui train`` prints: a progress bar per epoch (tqdm, on stderr), a line per
    epoch and a summary. Only the process that writes (rank 0) prints, errors aside."""

    def __init__(self, trainer, bars: bool, enabled: bool):
        self.trainer, self.bars, self.enabled = trainer, bars and enabled, enabled
        self.bar = None

    def header(self, resumed: bool) -> None:
        import torch

        t, cfg = self.trainer, self.trainer.config
        processes = f"{t.group.world_size} processes, " if t.group.distributed else ""
        self.line(f"aegui train: {cfg.model.describe()} ({cfg.model.kind}), "
                  f"{sum(p.numel() for p in t.model.parameters()):,} parameters; "
                  f"{len(t.images)} training images from {t.data_source}; {processes}device {t.device}, "
                  f"{torch.get_num_threads()} threads; {cfg.epochs} epochs of {t.steps_per_epoch} batches of "
                  f"{cfg.batch_size}" + (f"; resuming at epoch {t.epoch + 1}, batch {t.step}" if resumed else ""))

    def show(self, p) -> None:
        if p.event == "step" and self.bars:
            self._bar(p)
        elif p.event == "epoch" and self.enabled:
            self.close()
            val = "  ".join(f"{k} {v:.4f}" for k, v in p.val.items())
            self.line(f"epoch {p.epoch}/{p.epochs}  train loss {p.loss:.3f}  val {val}  "
                      f"[{p.items_per_s:,.0f} img/s, {_duration(p.elapsed_s)} so far, "
                      f"{_duration(p.eta_s)} left]")

    def _bar(self, p) -> None:
        from tqdm import tqdm

        total, bs = len(self.trainer.images), self.trainer.config.batch_size
        if self.bar is None:
            self.bar = tqdm(total=total, initial=min(p.step * bs, total), desc=f"epoch {p.epoch}/{p.epochs}",
                            unit="img", unit_scale=True, dynamic_ncols=True, leave=False, file=sys.stderr)
        self.bar.n = min(p.step * bs, total)
        if p.step % 10 == 0 or p.step == p.steps:
            self.bar.set_postfix_str(f"loss {p.loss:.3f}, run ETA {_duration(p.eta_s)}", refresh=False)
        self.bar.update(0)

    def line(self, text: str) -> None:
        from tqdm import tqdm

        if self.enabled:
            tqdm.write(text)
            sys.stdout.flush()

    def error(self, text: str) -> None:
        from tqdm import tqdm

        if self.enabled:
            tqdm.write(text, file=sys.stderr)   # above the bar, which stays
            sys.stderr.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def summary(self, saved: Path | None) -> None:
        if saved is None:
            return
        self.line(f"aegui train: saved {saved} ({saved.stat().st_size / 1e6:.1f} MB) after "
                  f"{_duration(self.trainer.elapsed_s)} of training")
        if self.trainer.model.metrics:
            self.line(_metrics_table(self.trainer.model.metrics))


@contextlib.contextmanager
def _stop_on_signals(printer: _TrainPrinter):
    """A ``should_stop`` that turns true on the first Ctrl-C (or SIGTERM, which torchrun
    and job schedulers send to stop a run); a second one aborts at once."""
    import signal

    asked = False

    def on_signal(signum, frame):
        nonlocal asked
        if asked:
            raise KeyboardInterrupt
        asked = True
        printer.error("aegui train: stopping after this batch to save a resumable checkpoint "
                      "(Ctrl-C again aborts without saving)")

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield lambda: asked
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _with_pen_digits(args, extra):
    """``extra`` with the digits drawn from ``--pen-data`` appended, and what to record."""
    if not args.pen_data:
        return extra, {}
    import numpy as np

    from .ops import library_status
    from .pen_data import parse_writers, pen_training_set

    library_status()    # loaded now, the op's library paints the strokes (aegui.raster), 5x faster
    print(f"aegui train: drawing {args.pen_copies} copies of each digit of writers {args.pen_writers} "
          f"from {args.pen_data} ...", flush=True)
    images, labels, info = pen_training_set(args.pen_data, parse_writers(args.pen_writers), args.pen_copies,
                                            seed=PEN_SEED)
    if extra is not None:
        images, labels = np.concatenate([extra[0], images]), np.concatenate([extra[1], labels])
    return (images, labels), info


def _fit_head(trainer, non_digits: int) -> float:
    """Train the model's verdict head on its training images; returns the seconds it took."""
    import time

    from .verdict_fit import HeadConfig, fit_verdict_head

    print("aegui train: training the verdict head on the frozen encoder ...", flush=True)
    start = time.perf_counter()
    trainer.model.verdict_head = fit_verdict_head(trainer.model, trainer.images.cpu().numpy(), trainer.labels,
                                                  HeadConfig(non_digits=non_digits), seed=trainer.config.seed)
    return round(time.perf_counter() - start, 1)


def _run_eval(args) -> int:
    import torch

    from . import models
    from .data import DataError, load_digits, resolve_data_path
    from .evaluate import evaluate, map_metrics
    from .model_map import map_reference, stored_reference
    from .train import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.drawing is not None:
        return _eval_drawing(args)
    try:
        model = models.load(args.model, device=resolve_device(args.device))
        # --map or --drawn without --data measure only that, on what they need.
        data = None if (args.map or args.drawn) and args.data is None else load_digits(resolve_data_path(args.data))
        pen = _drawn_writers(args) if args.drawn else None
    except (DataError, models.CheckpointError, ValueError) as err:
        print(f"aegui eval: error: {err}", file=sys.stderr)
        return 2
    if args.stored_metrics:
        if args.update:
            raise InputError("--stored-metrics reuses the checkpoint's metrics; --update measures them anew")
        if not model.metrics:
            raise InputError(f"{args.model}: holds no stored metrics (aegui eval --update stores them)")
        metrics = dict(model.metrics)
    else:
        metrics = evaluate(model, data) if data is not None else {}
    if pen is not None:
        from .drawn import drawn_benchmark

        metrics["drawn"] = drawn_benchmark(model, pen, seed=args.seed, non_digits=args.non_digits)
    reference = stored_reference(model) if not args.update else None
    if reference is None:
        reference = map_reference(model)     # seconds: the model carries no map yet
    metrics.update(map_metrics(reference))
    if data is None and (args.update or args.card):
        metrics = {**model.metrics, **metrics}    # the other metrics stay as recorded
    extra = _paradigm(args, model, data)
    if args.update:
        path = Path(args.model) if Path(args.model).is_file() else models.zoo.path_of(args.model)
        model.metrics = metrics
        model.reference = reference
        models.save(model.cpu(), path)
    _print_eval(args, model, metrics, extra, data)
    return 0


def _print_eval(args, model, metrics: dict, extra: dict, data) -> None:
    import json

    from . import models

    if args.json:
        print(json.dumps({"model": model.name, "kind": model.kind, "latent_dim": model.latent_dim,
                          "architecture": model.config.describe(), **metrics, **extra}, indent=2))
    elif args.card is not None:
        _card(args, model, metrics, extra, data)
    else:
        print(f"{model.name}: {model.config.describe()} ({model.kind}, latent {model.latent_dim})")
        mnist = {k: v for k, v in metrics.items() if k != "drawn"}
        if mnist:
            print(_metrics_table(mnist))
        if "drawn" in metrics:
            from .drawn import describe

            print(describe(metrics["drawn"]))
        _print_paradigm(extra, model.name)


def _paradigm(args, model, data) -> dict:
    """The measures of ``--pca`` and ``--noise`` (aegui.paradigm), by name; a card written
    to a file has both."""
    from . import paradigm

    extra = {}
    card_file = args.card not in (None, "-")
    if (args.pca or args.noise or card_file) and data is None:
        raise InputError("--pca, --noise and a card file measure on the test split: give --data (or $AEGUI_DATA)")
    if args.pca or card_file:
        extra["pca"] = paradigm.pca_comparison(model, data.x_test)
    if args.noise or card_file:
        extra["denoising"] = paradigm.denoising(model, data.x_test)
    return extra


def _eval_drawing(args) -> int:
    """``aegui eval MODEL --drawing PNG``: the numbers the window shows for that drawing."""
    import json

    from . import models, paradigm, pca
    from .drawings import read_grey
    from .preprocess import mnist_style

    model = models.load(args.model)
    frame = mnist_style(read_grey(args.drawing))
    sizes = [(name, models.load(name)) for name in models.zoo.BY_CODE_SIZE if name in models.available()]
    try:
        noise = paradigm.NoiseSetting(args.corruption, args.strength, args.noise_seed)
    except ValueError as err:
        raise InputError(f"--strength {args.strength}: {err}") from None
    reading = paradigm.read_drawing(frame, model, pca.load(), sizes, noise)
    report = paradigm.describe_reading(reading, model.name)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    if reading.error is None:
        print(f"{args.drawing}: no ink")
        return 0
    print(f"{args.drawing}, framed as the app frames a drawing:")
    print(f"  {model.name} reconstruction, SSE {reading.error:.3f}")
    if reading.pca_components:
        print(f"  PCA, {reading.pca_components} components, SSE {reading.pca_error:.3f}")
    for name, k, _image, error in reading.sizes:
        print(f"  {name} (code of {k}), SSE {error:.3f}")
    print(f"  {noise.kind} at strength {noise.strength:g} (seed {noise.seed}): input {reading.noisy_distance:.3f} "
          f"from the clean frame, {model.name}'s reconstruction {reading.denoised_distance:.3f}")
    return 0


def _card(args, model, metrics: dict, extra: dict, data) -> None:
    from . import cards, pca

    if args.card == "-":
        print(cards.card_markdown(model, metrics, extra), end="")
        return
    for path in cards.write_card(model, metrics, extra, data, pca.load(), args.card):
        print(f"aegui eval: wrote {path}")


def _print_paradigm(extra: dict, name: str) -> None:
    from . import paradigm

    if "pca" in extra:
        print(paradigm.describe_pca(extra["pca"], name))
    if "denoising" in extra:
        print(paradigm.describe_denoising(extra["denoising"], name))


def _drawn_writers(args):
    """The pen digits of ``--writers`` (default: the validation writers) from ``--drawn``."""
    from .pen_data import VALIDATION_WRITERS, load_pen_digits, parse_writers

    writers = parse_writers(args.writers) if args.writers else VALIDATION_WRITERS
    pen = load_pen_digits(args.drawn).of_writers(writers)
    if not len(pen):
        raise ValueError(f"{args.drawn}: no digits by writers {args.writers or 'the validation writers'}")
    return pen


def _metrics_table(metrics: dict) -> str:
    rows = [(k, f"{v:.4f}" if isinstance(v, float) else str(v)) for k, v in metrics.items()]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


# Qt's own command-line options (QGuiApplication's and QApplication's, X11's included):
# the app hands them to Qt, as every Qt program does.
QT_OPTIONS_WITH_VALUE = frozenset({"platform", "platformpluginpath", "platformtheme", "plugin", "qwindowgeometry",
                                   "qwindowicon", "qwindowtitle", "session", "display", "geometry", "name", "title",
                                   "style", "stylesheet", "visual", "ncols"})
QT_FLAGS = frozenset({"reverse", "widgetcount", "nograb", "dograb", "sync", "cmap", "qmljsdebugger"})


def split_qt_options(argv: list[str]) -> tuple[list[str], list[str]]:
    """(aegui's arguments, Qt's): Qt's options (``-style Fusion``, ``--style=Fusion``,
    ``-platform xcb``, ``-reverse``...) taken out of ``argv``, in order, with their values."""
    ours, qt = [], []
    i = 0
    while i < len(argv):
        token = argv[i]
        name = token.lstrip("-").split("=", 1)[0]
        if token.startswith("-") and token != "--" and (name in QT_OPTIONS_WITH_VALUE or name in QT_FLAGS):
            takes_value = name in QT_OPTIONS_WITH_VALUE and "=" not in token and i + 1 < len(argv)
            qt += argv[i:i + 2] if takes_value else [token]
            i += 2 if takes_value else 1
            continue
        if token == "--":
            ours += argv[i:]
            break
        ours.append(token)
        i += 1
    return ours, qt


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aegui", description="See what an autoencoder learns.",
                                     epilog="The app also takes Qt's own options, such as -style Fusion, "
                                            "-platform xcb or -reverse.")
    parser.add_argument("--model", default=None, help="model to open: a shipped name or a checkpoint path")
    sub = parser.add_subparsers(dest="command")
    _add_bench(sub)
    _add_train(sub)
    _add_eval(sub)
    shot = sub.add_parser("screenshot", help="draw a sample digit offscreen and save the window as PNG")
    shot.add_argument("path")
    shot.add_argument("--model", default=None)
    sub.add_parser("doctor", help="versions, op backend, GPUs, Qt platform and folders: text for a bug report")
    desk = sub.add_parser("install-desktop", help="add aegui to the desktop's application menu (this user)",
                          description="Install a freedesktop.org desktop entry and the aegui icon under "
                                      "$XDG_DATA_HOME (default ~/.local/share), starting this installation.")
    desk.add_argument("--remove", action="store_true", help="take the entry and the icon out again")
    return parser


def _run_install_desktop(args) -> int:
    from . import desktop_entry

    home = desktop_entry.data_home()
    try:
        files = desktop_entry.remove(home) if args.remove else desktop_entry.install(home)
    except OSError as err:
        print(f"aegui install-desktop: error: {err}", file=sys.stderr)
        return 1
    if args.remove:
        print(f"removed {len(files)} files from {home}" if files else f"nothing to remove under {home}")
    else:
        command = " ".join(desktop_entry.launch_command())
        print(f"installed {files[0]} (starts {command}) and the icon in {len(files) - 1} sizes under "
              f"{home / 'icons' / 'hicolor'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    ours, qt = split_qt_options(argv)
    args = parser.parse_args(ours)
    if qt and args.command not in (None, "screenshot"):
        parser.error(f"Qt's options ({' '.join(qt)}) are for the app, not aegui {args.command}")
    args.qt_options = qt
    prog = f"aegui {args.command}" if args.command else "aegui"
    try:
        return _run(args, ours)
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return 130
    except (InputError, OSError, MemoryError) as err:
        # Expected failures: the message names the file and the reason. Anything else is a
        # bug, and its traceback is what it takes to fix it.
        print(f"{prog}: error: {describe(err)}", file=sys.stderr)
        return 2 if isinstance(err, InputError) else 1


def _run(args, argv: list[str] | None) -> int:
    if args.command == "bench":
        return _run_bench(args)
    if args.command == "train":
        return _run_train(args, list(argv or []))
    if args.command == "eval":
        return _run_eval(args)
    if args.command == "doctor":
        from .doctor import report

        print(report(), end="")
        return 0
    if args.command == "install-desktop":
        return _run_install_desktop(args)
    if args.command == "screenshot":
        from .gui.app import screenshot

        return screenshot(args.path, model=args.model, qt_options=args.qt_options)
    from .gui.app import run_app

    return run_app(model=args.model, qt_options=args.qt_options)


if __name__ == "__main__":
    sys.exit(main())
