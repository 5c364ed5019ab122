"""The inference thread: newest request of a kind wins, posting never waits, answers come
back as signals, the latent map is fitted apart, a copy of the model is handed out."""

from __future__ import annotations

import time

import numpy as np
import pytest
from gui_helpers import make_model

from aegui.gui.worker import InferenceThread
from aegui.session import Decoded, DrawingResult, LoadFailed, MapReady, ModelInfo, Request


class SlowModel:
    """A real model that takes ``delay`` seconds per encode (``encode`` or the fused
    ``reconstruct`` the engine uses for a drawing): lets requests pile up."""

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


class Poster:
    """Numbers requests like a session does."""

    def __init__(self, worker):
        self.worker, self.seq = worker, 0

    def __call__(self, kind, payload, generation=1) -> int:
        self.seq += 1
        self.worker.post(Request(kind, self.seq, generation, payload, time.perf_counter()))
        return self.seq


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


def answers(qtbot, worker, post, kind, payload, generation=1):
    with qtbot.waitSignal(worker.answered, timeout=60000) as done:
        post(kind, payload, generation)
    return done.args[0]


def test_a_model_loads_and_a_drawing_comes_back_framed_encoded_and_decoded(qtbot, worker):
    post = Poster(worker)
    info = answers(qtbot, worker, post, "load", (make_model(latent_dim=6), "cpu", False), 0)
    assert isinstance(info, ModelInfo) and info.latent_dim == 6 and info.device == "cpu"
    result = answers(qtbot, worker, post, "drawing", raster(30), info.generation)
    assert isinstance(result, DrawingResult) and result.seq == post.seq and result.z.shape == (6,)
    assert worker.served["drawing"] == 1 and worker.cpu_seconds["drawing"] > 0
    assert worker.cpu_time() > 0


def test_while_the_model_is_busy_only_the_newest_drawing_is_computed(qtbot, worker):
    post = Poster(worker)
    model = SlowModel(delay=0.1)
    answers(qtbot, worker, post, "load", (model, "cpu", False), 0)
    results = []
    worker.answered.connect(results.append)
    started = time.perf_counter()
    seqs = [post("drawing", raster(10 + i)) for i in range(20)]
    # Posting never waits for the model (waiting would take 20 x 0.1 s).
    assert time.perf_counter() - started < 0.5
    qtbot.waitUntil(lambda: bool(results) and results[-1].seq == seqs[-1], timeout=10000)
    qtbot.wait(150)
    # At most the one in progress, the newest, and one per 0.1 s of posting.
    assert len(results) < len(seqs) / 2
    assert model.encoded == len(results) + 1      # + the warm-up pass when loading
    assert [r.seq for r in results] == sorted(r.seq for r in results)


def test_requests_for_a_model_that_is_gone_are_not_answered(qtbot, worker):
    post = Poster(worker)
    first = answers(qtbot, worker, post, "load", (make_model(latent_dim=4), "cpu", False), 0)
    second = answers(qtbot, worker, post, "load", (make_model(latent_dim=2), "cpu", False), 0)
    got = []
    worker.answered.connect(got.append)
    post("edit", np.zeros(4), first.generation)
    done = answers(qtbot, worker, post, "interp", np.zeros(2), second.generation)
    assert isinstance(done, Decoded) and done.kind == "interp" and done.images.shape == (28, 28)
    assert [a.generation for a in got] == [second.generation]


def test_a_corrupt_checkpoint_is_reported_and_the_model_stays(qtbot, worker, tmp_path):
    post = Poster(worker)
    info = answers(qtbot, worker, post, "load", (make_model(latent_dim=5), "cpu", False), 0)
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"this is not a checkpoint" * 10)
    failed = answers(qtbot, worker, post, "load", (str(bad), "cpu", False), 0)
    assert isinstance(failed, LoadFailed) and failed.what == str(bad) and "broken.pt" in failed.why
    done = answers(qtbot, worker, post, "drawing", raster(20), info.generation)
    assert done.generation == info.generation and done.z.shape == (5,)


def test_with_fallback_a_failed_load_opens_the_default_model_instead(qtbot, worker, tmp_path):
    from aegui import models

    info = answers(qtbot, worker, Poster(worker), "load", (str(tmp_path / "missing.pt"), "cpu", True), 0)
    assert info.problem.startswith(f"could not open {tmp_path / 'missing.pt'}")
    assert info.source is None and info.latent_dim == 16
    assert info.untrained == (models.zoo.DEFAULT not in models.available())
    assert info.name == (models.zoo.DEFAULT if models.zoo.DEFAULT in models.available() else "ae-16")


def test_the_latent_map_is_fitted_on_another_thread_and_every_answer_reaches_the_ui_thread(qtbot, worker):
    import threading

    post = Poster(worker)
    received_on = []
    worker.answered.connect(lambda _answer: received_on.append(threading.current_thread()))
    info = answers(qtbot, worker, post, "load", (make_model(latent_dim=6), "cpu", False), 0)
    ready = answers(qtbot, worker, post, "map", (info.codes, info.labels, info.latent_dim, info.map_xy, info.map_cache, info.reference_images), info.generation)
    assert isinstance(ready, MapReady) and ready.layout.points.shape == (5000, 2)
    assert worker.served["map"] == 0            # not on the inference thread
    assert received_on == [threading.main_thread()] * 2
    qtbot.waitUntil(worker.is_idle)


def test_a_copy_of_the_model_is_handed_out_never_the_model(qtbot, worker):
    assert worker.request_copy().result(timeout=10) is None     # nothing loaded yet
    model = make_model(latent_dim=3)
    answers(qtbot, worker, Poster(worker), "load", (model, "cpu", False), 0)
    copy = worker.request_copy().result(timeout=10)
    assert copy is not model and copy.latent_dim == 3
    assert all(a.data_ptr() != b.data_ptr() for a, b in zip(copy.parameters(), model.parameters()))


def test_stop_ends_the_thread_even_with_requests_pending(qtbot):
    worker = InferenceThread()
    worker.start()
    post = Poster(worker)
    answers(qtbot, worker, post, "load", (SlowModel(delay=0.05), "cpu", False), 0)
    for i in range(5):
        post("drawing", raster(i + 5))
    worker.stop()
    assert worker.wait(5000) and worker.isFinished()


def test_making_the_thread_changes_nothing_process_wide_and_unknown_kinds_are_refused(qtbot):
    import sys

    before = sys.getswitchinterval()
    worker = InferenceThread()
    assert sys.getswitchinterval() == before
    with pytest.raises(ValueError, match="kind"):
        worker.post(Request("bogus", 1, 1, None, 0.0))
    worker.stop()
