"""A drawing's pass through the model, as the inference thread runs it: traced into one
call when that gives exactly the model's own numbers, the model's own pass otherwise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aegui import models
from aegui.models.one_image import one_image_pass


def frames(count: int = 4) -> list[torch.Tensor]:
    rng = np.random.default_rng(7)
    out = [torch.zeros(28, 28), torch.ones(28, 28)]
    out += [torch.from_numpy(rng.random((28, 28), dtype=np.float32)) for _ in range(count - 2)]
    return out


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_the_traced_pass_gives_exactly_the_models_code_and_reconstruction(kind):
    model = models.create(kind, 6, seed=3)
    pass_ = one_image_pass(model)
    assert pass_.traced, pass_.why_eager
    with torch.inference_mode():
        for frame in frames():
            z, image, error, nearest, probabilities = pass_(frame)
            assert nearest is None and probabilities is None      # no reference codes, no head asked for
            want_z, want_image = model.reconstruct(frame.reshape(1, 1, 28, 28))
            assert z.shape == (6,) and image.shape == (28, 28) and error.shape == ()
            assert torch.equal(z, want_z.reshape(-1)) and torch.equal(image, want_image.reshape(28, 28))
            assert float(error) == pytest.approx(float(((image - frame) ** 2).mean()), rel=1e-6)


def test_the_traced_pass_follows_the_models_weights_as_loaded():
    # The trace is of this model: another model's weights give another code.
    a, b = models.create("ae", 6, seed=1), models.create("ae", 6, seed=2)
    frame = frames()[2]
    with torch.inference_mode():
        za, zb = one_image_pass(a)(frame)[0], one_image_pass(b)(frame)[0]
    assert not torch.equal(za, zb)


class _Branchy(torch.nn.Module):
    """Decides in Python on the image's values: a trace would keep one branch only."""

    def reconstruct(self, x):
        return x.flatten(1)[:, :3], (x + 1 if float(x.sum()) > 10 else x - 1)


class _ThroughNumpy(torch.nn.Module):
    """Computes in numpy: a trace would keep the traced image's result as a constant."""

    def reconstruct(self, x):
        return x.flatten(1)[:, :3], torch.from_numpy(np.tanh(x.numpy()))


class _NotTraceable(torch.nn.Module):
    def reconstruct(self, x):
        if torch.jit.is_tracing():
            raise RuntimeError("this model cannot be traced")
        return x.flatten(1)[:, :3], x


class _NotAModule:
    def reconstruct(self, x):
        return x.flatten(1)[:, :3], x


@pytest.mark.parametrize("model, why", [(_Branchy(), "differs"), (_ThroughNumpy(), "differs"),
                                        (_NotTraceable(), "could not be traced: RuntimeError: this model cannot"),
                                        (_NotAModule(), "not a torch module")])
def test_a_model_the_trace_would_get_wrong_runs_its_own_pass_and_says_why(model, why):
    pass_ = one_image_pass(model)
    assert not pass_.traced and why in pass_.why_eager
    with torch.inference_mode():
        for frame in frames():
            z, image, _error, _nearest, _probabilities = pass_(frame)
            want_z, want_image = model.reconstruct(frame.reshape(1, 1, 28, 28))
            assert torch.equal(z, want_z.reshape(-1)) and torch.equal(image, want_image.reshape(28, 28))


def test_something_without_a_reconstruction_is_refused():
    with pytest.raises(TypeError, match="reconstruct"):
        one_image_pass(object())


def test_models_of_one_kind_share_one_trace_each_with_its_own_weights():
    # Each trace makes TorchScript types that live as long as the process (about 0.8 MB):
    # a session switching models must not grow with every switch.
    from aegui.models import one_image

    passes = [one_image_pass(models.create("ae", 5, seed=s)) for s in range(3)]
    kinds = len(one_image._TRACED)
    passes += [one_image_pass(models.create("ae", 5, seed=s)) for s in range(3, 6)]
    assert len(one_image._TRACED) == kinds
    frame = frames()[3]
    with torch.inference_mode():
        codes = [p(frame)[0] for p in passes]
    assert all(not torch.equal(codes[0], z) for z in codes[1:])


def test_the_kept_trace_does_not_keep_the_model_it_was_traced_from():
    # A user who moves on from the first model of a kind gets its memory back.
    import gc
    import weakref

    from aegui.models import one_image

    model = models.create("ae", 7, seed=11)      # a kind no other test traces
    gone, traces = weakref.ref(model), len(one_image._TRACED)
    one_pass = one_image_pass(model)
    assert one_pass.traced and len(one_image._TRACED) == traces + 1     # traced from this model
    del model, one_pass
    gc.collect()
    assert gone() is None


def test_the_pass_finds_the_nearest_reference_codes_as_the_neighbours_vote_does():
    from aegui.verdict import judge

    rng = np.random.default_rng(5)
    model = models.create("ae", 6, seed=3)
    references = rng.normal(size=(500, 6)).astype(np.float32)
    labels = rng.integers(0, 10, 500).astype(np.uint8)
    pass_ = one_image_pass(model, reference_codes=references, k=10)
    assert pass_.traced, pass_.why_eager
    with torch.inference_mode():
        for frame in frames(6):
            z, _image, _error, nearest, _probabilities = pass_(frame)
            z, nearest = z.numpy(), nearest.numpy()
            distances = ((references - z) ** 2).sum(1)
            assert nearest.shape == (10,)
            assert set(nearest) == set(np.argsort(distances)[:10])
            assert np.all(np.diff(distances[nearest]) >= 0)           # nearest first
            found = judge(z[None], [False], reference_codes=references, reference_labels=labels, nearest=nearest[None])
            searched = judge(z[None], [False], reference_codes=references, reference_labels=labels)
            assert found == searched


def test_fewer_reference_codes_than_neighbours_are_all_found():
    model = models.create("ae", 4, seed=3)
    pass_ = one_image_pass(model, reference_codes=np.eye(4, dtype=np.float32)[:3], k=10)
    with torch.inference_mode():
        nearest = pass_(frames()[2])[3]
    assert sorted(nearest.tolist()) == [0, 1, 2]


def test_the_pass_gives_the_verdict_heads_probabilities_as_the_head_computes_them():
    from aegui.verdict import CLASSES, VerdictHead, judge

    rng = np.random.default_rng(8)
    model = models.create("ae", 6, seed=3)
    for widths in ((6, CLASSES), (6, 32, CLASSES), (6, 64, 20, CLASSES)):
        layers = tuple((rng.normal(size=(o, i)).astype(np.float32), rng.normal(size=o).astype(np.float32))
                       for i, o in zip(widths[:-1], widths[1:]))
        head = VerdictHead(rng.normal(size=6).astype(np.float32), rng.uniform(0.5, 2, 6).astype(np.float32), layers)
        pass_ = one_image_pass(model, head=head)
        assert pass_.traced, pass_.why_eager
        with torch.inference_mode():
            for frame in frames(6):
                z, _image, _error, _nearest, probabilities = pass_(frame)
                want = head.probabilities(z.numpy())[0]
                assert probabilities.dtype == torch.float64 and probabilities.shape == (CLASSES,)
                np.testing.assert_allclose(probabilities.numpy(), want, rtol=1e-5, atol=1e-7)
                given = judge(z.numpy()[None], [False], head, probabilities=probabilities.numpy()[None])[0]
                computed = judge(z.numpy()[None], [False], head)[0]
                assert (given.kind, given.digit, given.runner_up) == (computed.kind, computed.digit, computed.runner_up)
                assert given.confidence == pytest.approx(computed.confidence, abs=1e-6)


@pytest.mark.parametrize("traceable", [True, False])
def test_a_numpy_frame_gives_numpy_results_outside_inference_mode(traceable, monkeypatch):
    # The inference thread calls of_frame as it is, with autograd on: neither pass may
    # record a graph (reading a tensor that needs grad into numpy would raise).
    from aegui.models import one_image

    if not traceable:
        monkeypatch.setattr(one_image, "_TRACED", {})
        monkeypatch.setattr(torch.jit, "trace", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no trace")))
    model = models.create("ae", 6, seed=3)
    references = np.random.default_rng(2).normal(size=(50, 6)).astype(np.float32)
    pass_ = one_image_pass(model, reference_codes=references, k=5)
    assert pass_.traced == traceable
    frame = frames()[3].numpy()
    z, image, error, nearest, probabilities = pass_.of_frame(frame)
    assert z.dtype == np.float32 and z.shape == (6,) and image.dtype == np.float32 and image.shape == (28, 28)
    assert isinstance(error, float) and nearest.shape == (5,) and probabilities is None
    with torch.inference_mode():
        want_z, want_image = model.reconstruct(torch.from_numpy(frame).reshape(1, 1, 28, 28))
    np.testing.assert_array_equal(z, want_z.numpy().reshape(-1))
    np.testing.assert_array_equal(image, want_image.numpy().reshape(28, 28))
