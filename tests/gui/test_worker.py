"""The inference thread: newest request wins, stale results are dropped, loading fails safely."""

from __future__ import annotations

import time

import numpy as np
import pytest
from gui_helpers import make_model

from aegui.gui.worker import InferenceThread


class SlowModel:
    """A real model that takes ``delay`` seconds per encode (``encode`` or the fused
    ``reconstruct`` the worker uses for a drawing): lets requests pile up."""

    def __init__(self, delay=0.05):
        self.inner = make_model(latent_dim=4, references=50)
        self.delay = delay
        self.latent_dim, self.kind, self.name = 4, "ae", "slow"
        self.metrics, self.reference = {}, self.inner.reference
        self.encoded = 0

    def eval(self):
        return self

    def encode(self, x):
        time.sleep(self.delay)
        self.encoded += 1
        return self.inner.encode(x)

    def reconstruct(self, x):
        time.sleep(self.delay)
        self.encoded += 1
        return self.inner.reconstruct(x)

    def decode(self, z):
        return self.inner.decode(z)


@pytest.fixture
def worker(qtbot):
    thread = InferenceThread()
    thread.start()
    yield thread
    thread.stop()
    assert thread.wait(5000)


def raster(column: int) -> np.ndarray:
    image = np.zeros((64, 64), np.uint8)
    image[10:50, column:column + 4] = 255
    return image


def load(qtbot, worker, model, **kwargs):
    with qtbot.waitSignal(worker.modelReady, timeout=60000) as ready:
        worker.load_model(model, **kwargs)
    return ready.args[0]


def test_a_drawing_comes_back_framed_encoded_and_decoded(qtbot, worker):
    info = load(qtbot, worker, make_model(latent_dim=6))
    assert (info.latent_dim, info.kind, info.backend) == (6, "ae", info.backend)
    assert info.backend in ("cpu", "reference") and info.device == "cpu"
    assert info.reference_xy.shape == (400, 2) and info.z_limit > 0
    with qtbot.waitSignal(worker.drawingDone) as done:
        seq = worker.submit_drawing(raster(30))
    result = done.args[0]
    assert result.seq == seq and result.generation == info.generation
    assert result.frame.shape == result.reconstruction.shape == (28, 28)
    assert result.frame.max() == pytest.approx(1.0)
    assert result.z.shape == (6,) and result.xy.shape == (2,)
    assert result.error == pytest.approx(np.mean((result.frame - result.reconstruction) ** 2), rel=1e-5)
    assert result.guess is not None and result.guess.k == 10


def test_an_empty_drawing_is_not_encoded(qtbot, worker):
    load(qtbot, worker, make_model(latent_dim=3))
    with qtbot.waitSignal(worker.drawingDone) as done:
        worker.submit_drawing(np.zeros((64, 64), np.uint8))
    result = done.args[0]
    assert not result.frame.any() and not result.reconstruction.any()
    assert result.z is None and result.guess is None


def test_while_the_model_is_busy_only_the_newest_drawing_is_computed(qtbot, worker):
    model = SlowModel(delay=0.1)
    load(qtbot, worker, model)
    results = []
    worker.drawingDone.connect(results.append)
    started = time.perf_counter()
    seqs = [worker.submit_drawing(raster(10 + i)) for i in range(20)]
    # Posting never waits for the model (waiting would take 20 x 0.1 s).
    assert time.perf_counter() - started < 0.5
    qtbot.waitUntil(lambda: bool(results) and results[-1].seq == seqs[-1], timeout=10000)
    qtbot.wait(150)
    # At most the one in progress, the newest, and one per 0.1 s of posting.
    assert len(results) < len(seqs) / 2
    assert model.encoded == len(results) + 1      # + the warm-up pass when loading
    assert [r.seq for r in results] == sorted(r.seq for r in results)


def test_decodes_made_for_a_previous_model_are_dropped(qtbot, worker):
    first = load(qtbot, worker, make_model(latent_dim=4))
    decoded = []
    worker.decodeDone.connect(decoded.append)
    with qtbot.waitSignal(worker.decodeDone):
        worker.submit_decode(np.zeros(4), "edit", first.generation)
    second = load(qtbot, worker, make_model(latent_dim=2))
    assert second.generation > first.generation
    worker.submit_decode(np.zeros(4), "edit", first.generation)
    with qtbot.waitSignal(worker.decodeDone) as done:
        worker.submit_decode(np.zeros(2), "interp", second.generation)
    assert done.args[0].purpose == "interp" and done.args[0].image.shape == (28, 28)
    assert [d.generation for d in decoded] == [first.generation, second.generation]


def test_a_strip_is_decoded_in_one_batch(qtbot, worker):
    info = load(qtbot, worker, make_model(latent_dim=3))
    with qtbot.waitSignal(worker.stripDone) as done:
        worker.submit_strip(np.zeros((8, 3)), info.generation)
    assert done.args[0].images.shape == (8, 28, 28)


def test_a_batch_of_any_shape_is_decoded_at_once_for_its_purpose(qtbot, worker):
    info = load(qtbot, worker, make_model(latent_dim=3))
    codes = np.random.default_rng(0).normal(size=(3, 5, 3)).astype(np.float32)
    with qtbot.waitSignal(worker.batchDone) as done:
        seq = worker.submit_batch(codes, "traversal", info.generation)
    result = done.args[0]
    assert (result.seq, result.purpose, result.images.shape) == (seq, "traversal", (3, 5, 28, 28))
    np.testing.assert_array_equal(result.codes, codes)
    with qtbot.waitSignal(worker.stripDone) as strip:
        worker.submit_strip(codes[1], info.generation)
    np.testing.assert_allclose(strip.args[0].images, result.images[1], atol=1e-6)
    assert info.code_std.shape == (3,)
    with pytest.raises(ValueError, match="purpose"):
        worker.submit_batch(codes, "edit", info.generation)


def test_a_corrupt_checkpoint_is_reported_and_the_model_stays(qtbot, worker, tmp_path):
    info = load(qtbot, worker, make_model(latent_dim=5))
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"this is not a checkpoint" * 10)
    with qtbot.waitSignal(worker.modelFailed) as failed:
        worker.load_model(str(bad))
    what, why = failed.args
    assert what == str(bad) and "broken.pt" in why
    with qtbot.waitSignal(worker.drawingDone) as done:
        worker.submit_drawing(raster(20))
    assert done.args[0].generation == info.generation and done.args[0].z.shape == (5,)


def test_with_fallback_a_failed_load_opens_the_default_model_instead(qtbot, worker, tmp_path):
    from aegui import models

    info = load(qtbot, worker, str(tmp_path / "missing.pt"), fallback=True)
    assert info.problem.startswith(f"could not open {tmp_path / 'missing.pt'}")
    assert info.source is None and info.latent_dim == 16
    assert info.untrained == (models.zoo.DEFAULT not in models.available())
    assert info.name == (models.zoo.DEFAULT if models.zoo.DEFAULT in models.available() else "ae-16")


def test_stop_ends_the_thread_even_with_requests_pending(qtbot):
    worker = InferenceThread()
    worker.start()
    load(qtbot, worker, SlowModel(delay=0.05))
    for i in range(5):
        worker.submit_drawing(raster(i + 5))
    worker.stop()
    assert worker.wait(5000) and worker.isFinished()
