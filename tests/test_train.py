"""Specification of training: the loop is a generator of progress that lowers the loss,
is deterministic for a seed, stops when asked, and resumes bit for bit; and of the
``aegui train`` / ``aegui eval`` commands."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from aegui import models
from aegui.cli import main
from aegui.models.checkpoint import payload_digest
from aegui.train import CheckpointPolicy, TrainConfig, Trainer, train

from synthetic_digits import TINY, shapes, synthetic_digits

REPO = Path(__file__).resolve().parents[1]


def tiny_config(kind: str = "ae", **overrides) -> TrainConfig:
    settings = {"epochs": 3, "batch_size": 32, "lr": 3e-3, "warmup_steps": 4, "seed": 0, **overrides}
    return TrainConfig(model=dataclasses.replace(TINY, kind=kind), **settings)


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def run_to_end(trainer: Trainer, should_stop=None) -> list:
    return list(trainer.run(should_stop))


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_training_lowers_the_loss_and_the_validation_error(kind):
    events = run_to_end(Trainer(tiny_config(kind, epochs=4), synthetic_digits()))
    epochs = [p for p in events if p.event == "epoch"]
    assert [p.epoch for p in epochs] == [1, 2, 3, 4]
    assert epochs[-1].loss < 0.6 * epochs[0].loss
    assert epochs[-1].val["sse"] < epochs[0].val["sse"]
    if kind == "vae":
        assert {"nats", "kl"} <= epochs[-1].val.keys()


def test_progress_comes_after_every_batch_then_each_epoch_then_done():
    data = synthetic_digits(n_train=100)
    trainer = Trainer(tiny_config(epochs=2, batch_size=32), data)
    events = run_to_end(trainer)
    assert [p.event for p in events] == (["step"] * 4 + ["epoch"]) * 2 + ["done"]
    steps = [p for p in events if p.event == "step"]
    assert [p.step for p in steps] == [1, 2, 3, 4] * 2 and all(p.steps == 4 for p in steps)
    assert all(p.items_per_s > 0 and p.loss > 0 for p in steps)
    assert events[-1].eta_s == 0 and events[-1].trainer is trainer and trainer.finished
    assert events[0].eta_s > 0
    assert not trainer.model.training


def test_training_on_the_cpu_is_deterministic_for_a_seed():
    data = synthetic_digits()
    a = Trainer(tiny_config("vae"), data)
    b = Trainer(tiny_config("vae"), data)
    c = Trainer(tiny_config("vae", seed=1), data)
    for t in (a, b, c):
        run_to_end(t)
    assert_same_weights(weights(a.model), weights(b.model))
    assert a.history == b.history
    assert not torch.equal(a.model.mu.weight, c.model.mu.weight)


def stop_after(n: int):
    count = {"asked": 0}

    def should_stop() -> bool:
        count["asked"] += 1
        return count["asked"] >= n

    return should_stop


def test_resuming_needs_the_same_extra_images_not_only_as_many(tmp_path):
    data = synthetic_digits(n_train=64)
    trainer = Trainer(tiny_config(), data, extra=shapes(10, seed=9))
    run_to_end(trainer, should_stop=stop_after(2))
    path = trainer.save(tmp_path / "partial.pt")
    with pytest.raises(models.CheckpointError, match="other extra images"):
        Trainer.from_checkpoint(path, data, extra=shapes(10, seed=10))
    assert Trainer.from_checkpoint(path, data, extra=shapes(10, seed=9)).step == 2


@pytest.mark.parametrize("kind", ["ae", "vae"])
@pytest.mark.parametrize("stop_at", [5, 8])  # mid-epoch, and right at the end of epoch 1
def test_a_stopped_run_resumes_from_its_checkpoint_exactly_as_if_never_stopped(tmp_path, kind, stop_at):
    data = synthetic_digits()
    config = tiny_config(kind)
    whole = Trainer(config, data)
    run_to_end(whole)

    first = Trainer(config, data)
    events = run_to_end(first, should_stop=stop_after(stop_at))
    assert events[-1].event == "stopped" and not first.finished
    path = first.save(tmp_path / "partial.pt")
    resumed = Trainer.from_checkpoint(path, data)
    assert (resumed.epoch, resumed.step) == (first.epoch, first.step)
    rest = run_to_end(resumed)
    assert rest[-1].event == "done"

    assert_same_weights(weights(resumed.model), weights(whole.model))
    assert resumed.history == whole.history
    assert resumed.optimizer.state_dict()["state"][0]["step"] == whole.optimizer.state_dict()["state"][0]["step"]


def test_a_denoising_run_shows_the_model_corrupted_inputs_and_scores_it_on_clean_targets(tmp_path):
    data = synthetic_digits()
    trainer = Trainer(tiny_config(corrupt=1.0, epochs=1), data)
    shown, targets = [], []
    forward, loss = trainer.model.forward, trainer.loss
    trainer.model.forward = lambda x, **kw: shown.append(x.clone()) or forward(x, **kw)
    trainer.loss = lambda out, x, *args: targets.append(x.clone()) or loss(out, x, *args)
    run_to_end(trainer)
    assert len(shown) == len(targets) == trainer.steps_per_epoch
    order = trainer.epoch_order(0)
    first = trainer.images[order[:32]].unsqueeze(1).float() / 255
    assert torch.equal(targets[0], first)                      # the clean batch is the target
    assert not torch.equal(shown[0], first)                    # what the model saw was not
    assert 0 <= float(shown[0].min()) and float(shown[0].max()) <= 1
    # Resumed mid-run, the same inputs are corrupted the same way.
    config = tiny_config(corrupt=0.8)
    whole = Trainer(config, data)
    run_to_end(whole)
    first = Trainer(config, data)
    run_to_end(first, should_stop=stop_after(5))
    resumed = Trainer.from_checkpoint(first.save(tmp_path / "partial.pt"), data)
    run_to_end(resumed)
    assert_same_weights(weights(resumed.model), weights(whole.model))
    with pytest.raises(ValueError, match=r"corrupt: 1.5; expected a strength in \[0, 1\]"):
        tiny_config(corrupt=1.5)


def test_the_generator_function_form_resumes_too(tmp_path):
    data = synthetic_digits()
    config = tiny_config()
    stopped = list(train(config, data, should_stop=stop_after(3)))[-1]
    path = stopped.trainer.save(tmp_path / "p.pt")
    final = list(train(config, data, resume=path))[-1]
    assert final.event == "done" and final.trainer.finished


def test_resuming_needs_the_same_data_and_an_unfinished_run(tmp_path):
    data = synthetic_digits()
    trainer = Trainer(tiny_config(), data)
    run_to_end(trainer, should_stop=stop_after(2))
    path = trainer.save(tmp_path / "partial.pt")
    with pytest.raises(models.CheckpointError, match="trained on other data"):
        Trainer.from_checkpoint(path, synthetic_digits(seed=7))
    run_to_end(trainer)
    finished = trainer.save(tmp_path / "finished.pt")
    with pytest.raises(models.CheckpointError, match="no training state to resume"):
        Trainer.from_checkpoint(finished, data)
    assert models.load(finished).metadata["epochs_done"] == 3


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory) -> Path:
    """A checkpoint of a run stopped after two batches."""
    trainer = Trainer(tiny_config(), synthetic_digits())
    run_to_end(trainer, should_stop=stop_after(2))
    return trainer.save(tmp_path_factory.mktemp("stopped") / "partial.pt")


def _tampered(path, change) -> None:
    """The checkpoint's training state changed and the file's digest made to match again:
    only the checks of the state itself can tell."""
    payload = torch.load(path, weights_only=True)
    change(payload["training"])
    payload["digest"] = payload_digest(payload)
    torch.save(payload, path)


def _exp_avg_reshaped(state):
    state["optimizer"]["state"][0]["exp_avg"] = torch.zeros(3, 3)


@pytest.mark.parametrize("change, field", [
    (lambda t: t.update(noise=torch.zeros(7, dtype=torch.uint8)), "noise"),
    (lambda t: t.update(noise=torch.zeros(5056)), "noise"),
    (lambda t: t.update(epoch=-1), "epoch"),
    (lambda t: t.update(epoch=99), "epoch"),
    (lambda t: t.update(epoch="1"), "epoch"),
    (lambda t: t.update(step=-3), "step"),
    (lambda t: t.update(step=10_000), "step"),
    (lambda t: t.update(items=-1), "items"),
    (lambda t: t.update(loss_sum=float("nan")), "loss_sum"),
    (lambda t: t.update(elapsed_s=float("inf")), "elapsed_s"),
    (lambda t: t.update(history="x"), "history"),
    (lambda t: t.pop("optimizer"), "optimizer"),
    (_exp_avg_reshaped, "optimizer"),
    (lambda t: t["optimizer"].update(param_groups=[]), "optimizer"),
], ids=["noise size", "noise dtype", "negative epoch", "epoch past the end", "epoch str", "negative step",
        "step past the epoch", "negative items", "nan loss", "inf time", "history str", "no optimizer",
        "optimizer state shape", "optimizer groups"])
def test_a_tampered_training_state_is_a_clear_error_on_resume(tmp_path, stopped_run, change, field):
    path = tmp_path / "partial.pt"
    path.write_bytes(stopped_run.read_bytes())
    _tampered(path, change)
    with pytest.raises(models.CheckpointError, match=rf"partial\.pt: damaged training state: .*{field}"):
        Trainer.from_checkpoint(path, synthetic_digits())


def test_a_finished_checkpoint_records_how_it_was_trained(tmp_path):
    data = synthetic_digits()
    trainer = Trainer(tiny_config(epochs=2), data)
    run_to_end(trainer)
    model = models.load(trainer.save(tmp_path / "m.pt", command="aegui train ..."))
    meta = model.metadata
    assert meta["data_sha256"] == data.sha256 and meta["train_images"] == 256
    assert meta["epochs_done"] == 2 and meta["seed"] == 0 and meta["command"] == "aegui train ..."
    assert trainer.elapsed_s > 0 and meta["training_seconds"] == round(trainer.elapsed_s, 1)
    assert meta["versions"]["torch"] == torch.__version__ and meta["trained_on"].startswith("cpu: ")
    assert [h["epoch"] for h in meta["history"]] == [1, 2]
    if hasattr(os, "getloadavg"):          # how busy the machine was while the times were taken
        assert len(trainer.loads) == 2 and meta["load_average"] == pytest.approx(np.mean(trainer.loads), abs=0.01)
        assert meta["cpu_count"] == os.cpu_count()
    assert meta["train_config"]["model"]["latent_dim"] == TINY.latent_dim


def test_extra_images_join_the_training_set_and_bad_ones_are_refused():
    data = synthetic_digits(n_train=64)
    extra = shapes(10, seed=9)
    trainer = Trainer(tiny_config(epochs=1), data, extra=extra)
    assert len(trainer.images) == 74 and trainer.extra_count == 10
    with pytest.raises(ValueError, match="uint8 images"):
        Trainer(tiny_config(), data, extra=(extra[0].astype(np.float32), extra[1]))


def test_fine_tuning_starts_from_the_given_model():
    data = synthetic_digits()
    base = models.create(config=dataclasses.replace(TINY, latent_dim=5), seed=3)
    start = weights(base)
    trainer = Trainer(tiny_config(epochs=1), data, model=base)
    assert trainer.config.model.latent_dim == 5 and trainer.model is base
    run_to_end(trainer)
    assert not torch.equal(base.code.weight, start["code.weight"])


def test_a_diverging_run_stops_with_a_clear_error():
    broken = models.create(config=TINY)
    with torch.no_grad():
        broken.code.weight[0, 0] = float("inf")
    with pytest.raises(FloatingPointError, match="diverged at epoch 1, batch 1"):
        run_to_end(Trainer(tiny_config(), synthetic_digits(), model=broken))


def test_a_run_whose_loss_jumps_far_above_its_best_epoch_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    path = tmp_path / "run.pt"
    trainer = Trainer(tiny_config(epochs=4), synthetic_digits(), checkpoints=CheckpointPolicy(path))
    loss = trainer.loss

    def thrown_off_in_epoch_3(*args):     # finite, so no batch's check sees it
        return loss(*args) * (10 if trainer.epoch == 2 else 1)

    trainer.loss = thrown_off_in_epoch_3
    with pytest.raises(FloatingPointError, match=r"diverged at epoch 3: mean loss .* times the best epoch's"):
        run_to_end(trainer)
    kept = models.read_checkpoint(path)
    assert kept.training["epoch"] == 2 and [h["epoch"] for h in kept.model.metadata["history"]] == [1, 2]


# ---------------------------------------------------------------------- the commands


def write_npz(path: Path, n_train: int = 160, n_test: int = 40) -> Path:
    x_train, y_train = shapes(n_train, 0)
    x_test, y_test = shapes(n_test, 1)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


TINY_FLAGS = ["--kind", "ae", "--latent-dim", "3", "--channels", "", "--hidden", "24", "--batch-size", "32",
              "--seed", "0", "--head-non-digits", "4"]


def test_aegui_train_writes_a_checkpoint_with_metrics_and_reference_codes(tmp_path, capsys):
    data = write_npz(tmp_path / "mini.npz")
    out = tmp_path / "m.pt"
    assert main(["train", "--data", str(data), *TINY_FLAGS, "--epochs", "2", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr()
    assert "epoch 2/2" in printed.out and "val sse" in printed.out
    model = models.load(out)
    assert model.config.hidden == (24,) and model.latent_dim == 3
    assert {"sse", "bce", "knn5_accuracy", "latency_ms"} <= model.metrics.keys()
    # The shipped reference digits, whatever the data set, and their map.
    assert model.reference.codes.shape == (5000, 3) and model.reference.xy.shape == (5000, 2)
    assert "map_10nn_agreement" in model.metrics
    assert model.metadata["command"].startswith("aegui train --data")

    assert main(["eval", str(out), "--data", str(data), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "ae" and report["sse"] == pytest.approx(model.metrics["sse"], rel=1e-6)


def test_aegui_eval_writes_the_model_card_and_can_store_its_metrics(tmp_path, capsys):
    data = write_npz(tmp_path / "mini.npz")
    out = tmp_path / "card-me.pt"
    assert main(["train", "--data", str(data), *TINY_FLAGS, "--epochs", "1", "--out", str(out), "--quiet",
                 "--no-eval"]) == 0
    assert models.load(out).metrics == {} and models.load(out).reference is None
    capsys.readouterr()
    assert main(["eval", str(out), "--data", str(data), "--card"]) == 0
    card = capsys.readouterr().out
    assert card.startswith("# card-me\n") and "| architecture | 784-24-[3]-24-784 MLP, silu |" in card
    assert "| SSE per test image" in card and "`aegui train --data" in card
    assert main(["eval", str(out), "--data", str(data), "--update"]) == 0
    stored = models.load(out)
    assert {"sse", "knn5_accuracy", "map_10nn_agreement"} <= stored.metrics.keys()
    assert stored.reference.codes.shape == (5000, 3) and stored.reference.xy.shape == (5000, 2)
    # --map alone needs no data set: it measures the stored map.
    capsys.readouterr()
    assert main(["eval", str(out), "--map", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["map_10nn_agreement"] == pytest.approx(stored.metrics["map_10nn_agreement"])
    assert "sse" not in report


def test_aegui_train_draws_the_training_writers_pen_digits_and_fits_a_verdict_head(tmp_path, capsys):
    from test_pen_data import CROSS, LINE, RING, write_pen_file

    data = write_npz(tmp_path / "mini.npz")
    pen = write_pen_file(tmp_path / "pen.npz", [(1, 0, LINE), (0, 1, RING), (4, 1, CROSS), (1, 24, LINE)])
    out = tmp_path / "pen.pt"
    assert main(["train", "--data", str(data), *TINY_FLAGS, "--epochs", "1", "--out", str(out), "--quiet",
                 "--pen-data", str(pen), "--pen-writers", "0-1", "--pen-copies", "2"]) == 0
    model = models.load(out)
    meta = model.metadata
    assert meta["extra_images"] == 6 and meta["train_images"] == 160 + 6
    assert (meta["pen_writers"], meta["pen_digits"], meta["pen_copies"]) == ("0-1", 3, 2)
    assert meta["head_seconds"] >= 0
    assert model.verdict_head is not None and model.verdict_head.latent_dim == 3
    card = models.zoo.model_card(model)
    assert "| pen digits | 3 digits of writers 0-1" in card and "pen digits: slant, rotation" in card
    capsys.readouterr()
    assert main(["train", "--data", str(data), *TINY_FLAGS, "--pen-data", str(pen), "--pen-writers", "20-25"]) == 2
    assert "validation writers" in capsys.readouterr().err


def test_aegui_train_reports_bad_data_and_conflicting_flags_in_one_line(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "absent.npz")]) == 2
    assert "absent.npz: no such file" in capsys.readouterr().err
    data = write_npz(tmp_path / "mini.npz")
    assert main(["train", "--data", str(data), "--resume", str(tmp_path / "x.pt"), "--epochs", "3"]) == 2
    assert "drop --epochs" in capsys.readouterr().err
    assert main(["train", "--data", str(data), "--kind", "vae", "--loss", "mse"]) == 2
    assert "--loss is for --kind ae" in capsys.readouterr().err
    assert main(["train", "--data", str(data), "--hidden", "wide"]) == 2
    assert "--hidden 'wide': expected comma-separated integers" in capsys.readouterr().err


def test_aegui_eval_of_a_hostile_file_fails_cleanly(tmp_path, capsys):
    data = write_npz(tmp_path / "mini.npz")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x80\x04not a checkpoint")
    assert main(["eval", str(bad), "--data", str(data)]) == 2
    assert "bad.pt" in capsys.readouterr().err


def _aegui(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "aegui", *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery to a child differs on Windows")
def test_ctrl_c_saves_a_checkpoint_that_resume_continues_bit_for_bit(tmp_path):
    data = write_npz(tmp_path / "mini.npz", n_train=64, n_test=16)
    common = ["--data", str(data), *TINY_FLAGS, "--epochs", "300", "--threads", "1", "--no-eval", "--quiet"]

    interrupted = _aegui("train", *common, "--out", str(tmp_path / "run.pt"))
    for line in interrupted.stdout:          # wait until training is under way
        if line.startswith("epoch 2/"):
            break
    interrupted.send_signal(signal.SIGINT)
    _, err = interrupted.communicate(timeout=120)
    assert interrupted.returncode == 130, err
    assert "saved a resumable checkpoint" in err and "--resume" in err
    partial = models.read_checkpoint(tmp_path / "run.pt")
    assert partial.training is not None and partial.training["epoch"] < 300

    resumed = _aegui("train", "--resume", str(tmp_path / "run.pt"), "--data", str(data), "--threads", "1",
                     "--no-eval", "--quiet")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err

    straight = _aegui("train", *common, "--out", str(tmp_path / "straight.pt"))
    _, err = straight.communicate(timeout=300)
    assert straight.returncode == 0, err

    a, b = models.load(tmp_path / "run.pt"), models.load(tmp_path / "straight.pt")
    assert_same_weights(a.state_dict(), b.state_dict())
    assert a.metadata["history"] == b.metadata["history"]


# ---------------------------------------------------------------------- the checkpoint policy


def test_the_default_policy_writes_at_every_epoch_end_on_a_stop_and_at_the_end(tmp_path):
    data = synthetic_digits()
    path = tmp_path / "run.pt"
    finished = []
    policy = CheckpointPolicy(path, metadata={"command": "aegui train ..."},
                              finish=lambda t: finished.append(t.epoch) or {"note": "measured"})
    trainer = Trainer(tiny_config(epochs=3), data, checkpoints=policy)
    events = run_to_end(trainer, should_stop=stop_after(12))   # epoch 1 ends at batch 8; stop in epoch 2
    saved = [(p.event, p.epoch, p.step) for p in events if p.saved is not None]
    assert saved == [("epoch", 1, 8), ("stopped", 2, 3)] and all(p.saved == path for p in events if p.saved)
    assert finished == []                                       # not finished yet
    assert models.read_checkpoint(path).training["step"] == 3

    resumed = Trainer.from_checkpoint(path, data, checkpoints=policy)
    last = run_to_end(resumed)
    assert [p.event for p in last if p.saved] == ["epoch", "done"] and finished == [3]
    final = models.read_checkpoint(path)
    assert final.training is None                               # a finished run is not resumable
    assert final.model.metadata["note"] == "measured" and final.model.metadata["command"] == "aegui train ..."


def test_fine_tuning_rules_write_once_at_the_end_and_nothing_when_cancelled_while_finishing(tmp_path):
    data = synthetic_digits()
    names = iter(tmp_path / f"mine-{n}.pt" for n in range(1, 10))
    policy = CheckpointPolicy(lambda: next(names), every_epoch=False, on_stop=False, finish=lambda t: None)
    events = run_to_end(Trainer(tiny_config(epochs=2), data, checkpoints=policy))
    assert [(p.event, p.saved) for p in events if p.saved] == [("done", tmp_path / "mine-1.pt")]

    cancel = {"now": False}
    policy = dataclasses.replace(policy, finish=lambda t: cancel.update(now=True))
    events = run_to_end(Trainer(tiny_config(epochs=2), data, checkpoints=policy), should_stop=lambda: cancel["now"])
    assert events[-1].event == "stopped" and events[-1].saved is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine-1.pt"]


def test_without_a_policy_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    events = run_to_end(Trainer(tiny_config(epochs=2), synthetic_digits()), should_stop=stop_after(10))
    assert events[-1].event == "stopped" and not any(p.saved for p in events)
    assert list(tmp_path.iterdir()) == []
