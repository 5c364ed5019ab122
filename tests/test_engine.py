"""The app's inference engine without Qt: a real small model loaded, drawings framed,
encoded and decoded, batches decoded, stale requests refused, the weights handed out as
a copy, the latent map fitted."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from aegui.gui.engine import Engine, fit_map
from aegui.session import Decoded, DrawingResult, LoadFailed, MapReady, ModelInfo, Request

sys.path.insert(0, str(Path(__file__).resolve().parent / "gui"))
from gui_helpers import make_model  # noqa: E402


def ask(kind, payload, generation=1, seq=1):
    return Request(kind, seq, generation, payload, 0.0)


def raster(column: int = 30) -> np.ndarray:
    image = np.zeros((64, 64), np.uint8)
    image[10:50, column:column + 4] = 255
    return image


@pytest.fixture(scope="module")
def engine():
    """One engine for the tests that only ask it things (loading is what takes time)."""
    engine = Engine()
    info = engine.answer(ask("load", (make_model(latent_dim=6), "cpu", False), 0))
    assert isinstance(info, ModelInfo)
    return engine


def test_a_loaded_model_is_described_as_plain_data(engine):
    info = engine.info
    assert (info.generation, info.latent_dim, info.kind, info.device) == (1, 6, "ae", "cpu")
    assert info.codes.shape == (5000, 6) and info.labels.shape == (5000,)       # the shipped reference digits
    assert info.map_xy.shape == (5000, 2) and info.map_cache is None             # its map, as it carries it
    assert info.code_std.shape == (6,) and info.z_limit > 0
    assert info.backend in ("cpu", "reference")


def test_the_drawings_pass_is_traced_into_one_call(engine):
    # aegui.models.one_image: the model's own pass is the fallback, with its reason shown.
    assert engine.info.drawing_pass == "traced"


def test_a_drawing_comes_back_framed_encoded_decoded_and_judged(engine):
    result = engine.answer(ask("drawing", raster(), seq=7))
    assert isinstance(result, DrawingResult) and result.seq == 7 and result.generation == 1
    assert result.frame.shape == result.reconstruction.shape == (28, 28)
    assert result.frame.max() == pytest.approx(1.0)
    assert result.z.shape == (6,)
    assert result.error == pytest.approx(np.mean((result.frame - result.reconstruction) ** 2), rel=1e-5)
    assert result.guess.kind in ("digit", "unsure", "none") and result.guess.k == 10


def test_an_empty_drawing_is_not_encoded(engine):
    result = engine.answer(ask("drawing", np.zeros((64, 64), np.uint8)))
    assert not result.frame.any() and not result.reconstruction.any()
    assert result.z is None and result.error is None
    assert result.guess.kind == "none" and result.guess.reason == "the page is empty"


def test_codes_of_any_shape_decode_in_one_batch_like_one_by_one(engine):
    codes = np.random.default_rng(0).normal(size=(3, 5, 6)).astype(np.float32)
    batch = engine.answer(ask("traversal", codes))
    assert isinstance(batch, Decoded) and batch.images.shape == (3, 5, 28, 28)
    single = engine.answer(ask("edit", codes[1, 2]))
    assert single.images.shape == (28, 28)
    np.testing.assert_allclose(batch.images[1, 2], single.images, atol=1e-6)


def test_requests_made_for_a_model_that_is_gone_are_not_answered():
    engine = Engine()
    engine.answer(ask("load", (make_model(latent_dim=6), "cpu", False), 0))
    assert engine.answer(ask("drawing", raster(), generation=0)) is None
    second = engine.answer(ask("load", (make_model(latent_dim=2), "cpu", False), 1))
    assert second.generation == 2
    assert engine.answer(ask("edit", np.zeros(6), generation=1)) is None
    assert engine.answer(ask("edit", np.zeros(2), generation=2)).images.shape == (28, 28)


def test_a_checkpoint_that_cannot_be_read_fails_and_the_model_stays(engine, tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"this is not a checkpoint" * 10)
    failed = engine.answer(ask("load", (str(bad), "cpu", False), 1, seq=3))
    assert isinstance(failed, LoadFailed) and failed.what == str(bad) and "broken.pt" in failed.why
    assert engine.info.generation == 1


def test_the_weights_are_handed_out_as_a_copy(engine):
    model = engine._loaded.model
    copy = engine.copy_model()
    assert copy is not model and copy.name == model.name
    for (name, theirs), mine in zip(copy.state_dict().items(), model.state_dict().values()):
        assert theirs.data_ptr() != mine.data_ptr(), name
        assert torch.equal(theirs, mine), name
    with torch.no_grad():
        next(copy.parameters()).add_(1.0)
    assert not torch.equal(next(copy.parameters()), next(model.parameters()))
    assert Engine().copy_model() is None


def test_the_latent_map_is_fitted_apart_from_the_model(engine):
    info = engine.info
    ready = fit_map(ask("map", (info.codes, info.labels, info.latent_dim, info.map_xy, info.map_cache, info.reference_images), seq=4))
    assert isinstance(ready, MapReady) and ready.seq == 4
    # The model carries its map of the 5,000 shipped reference digits: used as it is.
    assert ready.layout.points.shape == (5000, 2) and ready.layout.view == "map"
    np.testing.assert_array_equal(ready.layout.points, info.map_xy)
    assert set(ready.layout.views) == {"map", "linear"} and len(ready.layout.images) == 5000


def test_a_reading_gives_each_part_asked_for_and_reuses_the_drawing_for_its_own_code_size():
    from aegui.paradigm import NoiseSetting
    from aegui.session import Read, ReadingAsk

    engine = Engine()
    engine.answer(ask("load", ("ae-16", "cpu", False), 0))
    drawing = engine.answer(ask("drawing", raster(), seq=2))
    marked = np.full((28, 28), 0.5, np.float32)     # not what ae-16 gives: shows it was not run again
    read = engine.answer(ask("reading", ReadingAsk(drawing.frame, marked, True, True, NoiseSetting()), seq=3))
    assert isinstance(read, Read) and read.seq == 3
    reading = read.reading
    assert reading.pca_components == 16 and [n for n, *_ in reading.sizes] == ["ae-2", "ae-16", "ae-30"]
    sizes = {n: image for n, _k, image, _e in reading.sizes}
    assert np.array_equal(sizes["ae-16"], marked) and not np.array_equal(sizes["ae-30"], marked)
    assert reading.noisy is not None
    only = engine.answer(ask("reading", ReadingAsk(drawing.frame, marked, True, False, None), seq=4)).reading
    assert only.sizes is None and only.noise is None and only.pca_components == 16


def test_a_reading_gives_way_to_a_waiting_drawing():
    from aegui.session import ReadingAsk

    engine = Engine(interrupted=lambda: True)
    engine.answer(ask("load", (make_model(latent_dim=6), "cpu", False), 0))
    drawing = engine.answer(ask("drawing", raster(), seq=2))
    waiting = ReadingAsk(drawing.frame, drawing.reconstruction, True, True, None)
    assert engine.answer(ask("reading", waiting, seq=3)) is None
    alone = ReadingAsk(drawing.frame, drawing.reconstruction, True, False, None)
    assert engine.answer(ask("reading", alone, seq=4)).reading.pca_components == 6    # no pass to give way in
