"""Fine-tuning on the user's drawings (no Qt): augmentation, the run as a generator that
lowers the drawings' error and saves a new loadable model in the user's folder, mixing
with MNIST, cancelling, and the user's models folder."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from drawn_digits import canvas_digit
from synthetic_digits import shapes

from aegui import drawings, models, user_models
from aegui.finetune import MAX_PASS_IMAGES, FineTuneConfig, augment, fine_tune, plan_passes
from aegui.models import ModelConfig
from aegui.preprocess import mnist_style, to_uint8
from aegui.reference import load_reference

SMALL = FineTuneConfig(steps=40, batch_size=32, min_pool=256, lr=1e-3)


def small_model(kind: str = "ae"):
    return models.create(config=ModelConfig(kind=kind, latent_dim=8, channels=(), hidden=(128,)), seed=2)


@pytest.fixture
def collected(tmp_path):
    """A few drawings of the user's: three digits, two each, different pens."""
    root = tmp_path / "drawings"
    for digit in ("1", "3", "7"):
        for seed in range(2):
            drawings.save_drawing(root, int(digit), canvas_digit(digit, seed=seed, width=24 + 12 * seed))
    return root


def run(*args, **kwargs):
    return list(fine_tune(*args, **kwargs))


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_augmented_copies_are_framed_variants_of_the_drawing():
    canvas = canvas_digit("7")
    framed = to_uint8(mnist_style(canvas))
    copies = augment(canvas, 24, np.random.default_rng(0))
    assert copies.shape == (24, 28, 28) and copies.dtype == np.uint8
    assert len({c.tobytes() for c in copies}) == 24               # all different
    assert all(c.max() == 255 for c in copies)                      # framed: peak ink is full
    # Ink never touches the frame's border (shifts keep it inside).
    assert not copies[:, [0, -1], :].any() and not copies[:, :, [0, -1]].any()
    # Stroke widths change both ways around the drawing's own.
    ink = copies.astype(np.float64).sum(axis=(1, 2)) / framed.astype(np.float64).sum()
    assert ink.min() < 0.9 and ink.max() > 1.15
    np.testing.assert_array_equal(augment(canvas, 24, np.random.default_rng(0)), copies)


def test_fine_tuning_lowers_the_drawings_error_and_saves_a_new_loadable_model(collected, tmp_path):
    model = small_model()
    before = weights(model)
    out = tmp_path / "models"
    statuses = run(model, drawings.list_drawings(collected), SMALL, models_dir=out)
    events = [s.event for s in statuses]
    assert events[0] == "prepare" and events[-1] == "done"
    assert {"step", "epoch"} <= set(events)
    fractions = [s.fraction for s in statuses]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(s.loss > 0 and s.eta_s >= 0 for s in statuses if s.event == "step" and s.loss is not None)
    result = statuses[-1].result
    assert result.frames.shape == result.before.shape == result.after.shape == (6, 28, 28)
    assert result.labels.tolist() == [1, 1, 3, 3, 7, 7]
    assert result.error_after.mean() < 0.7 * result.error_before.mean()
    assert not result.mixed_with_mnist
    # The model shown by the app is left alone; the new one is a file of its own.
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert result.path == out / f"{model.name}-mine-1.pt"
    assert sorted(p.name for p in out.iterdir()) == [result.path.name]   # no temporary files
    loaded = models.load(result.path)
    assert loaded.name == "ae-8-mine-1" and loaded.config == model.config
    assert loaded.metadata["finetuned_from"] == "ae-8" and loaded.metadata["drawings"] == 6
    # Without MNIST the latent map still holds all the shipped reference digits, laid out anew.
    digits = load_reference()
    assert loaded.reference.codes.shape == (5000, 8) and loaded.reference.xy.shape == (5000, 2)
    np.testing.assert_array_equal(loaded.reference.labels, digits.labels)
    assert loaded.metrics["map_10nn_agreement"] > 0.1
    x = torch.from_numpy(result.frames).reshape(-1, 1, 28, 28)
    with torch.inference_mode():
        np.testing.assert_allclose(loaded.decode(loaded.encode(x)).reshape(-1, 28, 28).numpy(), result.after,
                                   atol=1e-5)


def test_a_vae_fine_tunes_too_and_a_second_run_gets_the_next_name(collected, tmp_path):
    out = tmp_path / "models"
    first = run(small_model("vae"), drawings.list_drawings(collected), SMALL, models_dir=out)[-1].result
    again = run(models.load(first.path), drawings.list_drawings(collected), SMALL, models_dir=out)[-1].result
    assert (first.path.name, again.path.name) == ("vae-8-mine-1.pt", "vae-8-mine-2.pt")
    assert again.error_after.mean() < first.error_before.mean()


def test_a_model_with_a_verdict_head_gets_a_new_one_for_its_new_codes(collected, tmp_path):
    from aegui.verdict import VerdictHead

    model = small_model()
    weight = np.zeros((11, 8), np.float32)
    model.verdict_head = VerdictHead(np.zeros(8, np.float32), np.ones(8, np.float32),
                                     ((weight, np.zeros(11, np.float32)),))
    # Long enough for the tiny model's codes to tell 3s from 7s (40 steps leave them mixed).
    longer = FineTuneConfig(steps=120, batch_size=32, min_pool=256, lr=1e-3)
    result = run(model, drawings.list_drawings(collected), longer, models_dir=tmp_path / "models")[-1].result
    head = models.load(result.path).verdict_head
    assert head is not None and head.latent_dim == 8 and head is not model.verdict_head
    # It reads the user's own digits from the new codes.
    x = torch.from_numpy(result.frames).reshape(-1, 1, 28, 28)
    with torch.inference_mode():
        said = head.probabilities(result.model.encode(x).numpy())[:, :10].argmax(1)
    assert (said == result.labels).mean() >= 5 / 6
    assert run(small_model(), drawings.list_drawings(collected), SMALL)[-1].result.model.verdict_head is None


def test_with_mnist_its_digits_are_mixed_in_and_the_reference_comes_from_its_test_split(collected, tmp_path):
    x_train, y_train = shapes(600, seed=5)
    x_test, y_test = shapes(300, seed=6)
    npz = tmp_path / "mnist.npz"
    np.savez(npz, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    statuses = run(small_model(), drawings.list_drawings(collected), SMALL, mnist=str(npz),
                   models_dir=tmp_path / "models")
    assert any("MNIST" in s.message for s in statuses if s.event == "step")
    result = statuses[-1].result
    assert result.mixed_with_mnist and result.error_after.mean() < result.error_before.mean()
    loaded = models.load(result.path)
    assert loaded.reference.codes.shape == (5000, 8)                      # the shipped reference digits
    assert loaded.metadata["mixed_with_mnist"] is True
    assert {"sse", "bce"} <= loaded.metrics.keys()


def test_cancelling_stops_within_a_second_and_saves_nothing(collected, tmp_path):
    out = tmp_path / "models"
    asked = []
    statuses = []
    for status in fine_tune(small_model(), drawings.list_drawings(collected), FineTuneConfig(steps=100000),
                            models_dir=out, should_stop=lambda: bool(asked)):
        statuses.append(status)
        if status.event == "step" and not asked:
            asked.append(time.perf_counter())
    assert time.perf_counter() - asked[0] < 1.0
    assert statuses[-1].event == "stopped" and statuses[-1].result is None
    assert not out.exists() or list(out.iterdir()) == []


def test_cancelling_while_the_data_is_prepared_stops_before_training(collected):
    statuses = []
    for status in fine_tune(small_model(), drawings.list_drawings(collected), SMALL,
                            should_stop=lambda: len(statuses) >= 2):
        statuses.append(status)
    assert [s.event for s in statuses][-1] == "stopped"
    assert "step" not in [s.event for s in statuses]


def test_there_must_be_drawings_and_an_aegui_model(collected):
    with pytest.raises(ValueError, match="no drawings"):
        run(small_model(), [], SMALL)
    with pytest.raises(TypeError, match="cannot be fine-tuned"):
        run(object(), drawings.list_drawings(collected), SMALL)


# ---------------------------------------------------------------------- the user's models folder


def test_new_model_names_count_on_and_never_reuse_a_file(tmp_path):
    assert user_models.new_model_path(tmp_path, "ae-16") == tmp_path / "ae-16-mine-1.pt"
    (tmp_path / "ae-16-mine-1.pt").write_bytes(b"x")
    (tmp_path / "ae-16-mine-2.pt").write_bytes(b"x")
    assert user_models.new_model_path(tmp_path, "ae-16") == tmp_path / "ae-16-mine-3.pt"
    assert user_models.new_model_path(tmp_path, "ae-16-mine-2") == tmp_path / "ae-16-mine-3.pt"
    assert user_models.new_model_path(tmp_path, "my model/odd") == tmp_path / "my_model_odd-mine-1.pt"


def test_the_shipped_models_folder_is_never_a_user_models_folder(tmp_path):
    with pytest.raises(ValueError, match="shipped"):
        user_models.new_model_path(models.zoo.MODELS_DIR, "ae-16", shipped=models.zoo.MODELS_DIR)


def test_the_users_models_are_listed_by_name_leaving_out_other_and_unfinished_files(tmp_path):
    for name in ("ae-16-mine-10.pt", "ae-16-mine-9.pt", "vae-16-mine-1.pt", ".ae-16-mine-11.pt.x1.tmp",
                 ".hidden.pt", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "folder.pt").mkdir()
    assert [p.name for p in user_models.list_models(tmp_path)] == [
        "ae-16-mine-9.pt", "ae-16-mine-10.pt", "vae-16-mine-1.pt"]
    assert user_models.list_models(tmp_path / "missing") == [] and user_models.list_models(None) == []


@pytest.mark.parametrize("steps, batch, natural, least", [(300, 64, 2048, 50), (300, 64, 1050, 50), (40, 32, 512, 8),
                                                          (20000, 64, 2048, 50), (97, 64, 2048, 10), (10, 64, 5000, 3)])
def test_the_passes_are_exactly_the_batches_asked_for(steps, batch, natural, least):
    passes, images = plan_passes(steps, batch, natural, least)
    assert images % batch == 0 and passes * math.ceil(images / batch) == steps
    assert least <= images <= MAX_PASS_IMAGES
    if steps % 10 == 0 and steps * batch >= natural:
        assert natural / 4 <= images <= natural * 4        # near the mix as made, where batches allow


@pytest.mark.parametrize("steps", [40, 37])
def test_a_run_trains_exactly_the_batches_asked_for(collected, steps):
    config = FineTuneConfig(steps=steps, batch_size=32, min_pool=256, lr=1e-3)
    statuses = list(fine_tune(small_model(), drawings.list_drawings(collected), config))
    result = statuses[-1].result
    assert result.steps == steps
    last_step = [s for s in statuses if s.message.startswith("Training on")][-1]
    assert last_step.message.endswith(f"batch {steps} of {steps}")
