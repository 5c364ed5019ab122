"""The session, without Qt or a model: the requests it posts for each intent, and which
answers it takes (the one rule for stale results). Answers are made by hand here."""

from __future__ import annotations

import numpy as np
import pytest

from aegui.session import Decoded, DrawingResult, Interpolation, LatentEdit, LoadFailed, MapReady, ModelInfo, Session

Z = 3


class Server:
    """Records what the session posts; the tests answer by hand."""

    def __init__(self):
        self.requests = []

    def __call__(self, request):
        self.requests.append(request)

    def kinds(self):
        return [r.kind for r in self.requests]

    def last(self, kind):
        return [r for r in self.requests if r.kind == kind][-1]


class Plane:
    """A map layout: the first two coordinates of the code."""

    points = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]])
    labels = np.array([1, 7, 7])
    extent = (-1.0, 3.0, -1.0, 2.0)
    axis_names = ("z₀", "z₁")

    @property
    def plane(self):
        return self       # the manifold's plane: this map itself

    def forward(self, z):
        return np.asarray(z, np.float64)[..., :2]

    def inverse(self, xy):
        xy = np.asarray(xy, np.float32)
        return np.concatenate([xy, np.zeros(xy.shape[:-1] + (Z - 2,), np.float32)], axis=-1)


def model_info(generation=1, latent_dim=Z, device="cpu"):
    return ModelInfo(generation=generation, name=f"m{generation}", kind="ae", latent_dim=latent_dim,
                     untrained=False, problem="", description="", backend="cpu", device=device,
                     cuda_available=False, shipped=(), source=None, metrics={}, codes=None, labels=None,
                     z_limit=1.0, code_std=np.ones(latent_dim, np.float32))


def drawn(request, z=(0.5, -0.5, 1.0), error=0.01):
    frame = np.full((28, 28), 0.5, np.float32)
    z = None if z is None else np.asarray(z, np.float32)
    return DrawingResult(request.seq, request.posted, request.generation, frame, z,
                         np.full((28, 28), 0.25 if z is not None else 0.0, np.float32),
                         error if z is not None else None, None)


def decoded(request, value=0.75):
    codes = np.asarray(request.payload, np.float32)
    images = np.full(codes.shape[:-1] + (28, 28), value, np.float32)
    return Decoded(request.seq, request.posted, request.generation, request.kind, codes, images)


@pytest.fixture
def server():
    return Server()


@pytest.fixture
def session(server):
    """A session whose model (generation 1) is loaded and whose map is fitted."""
    raster = np.zeros((64, 64), np.uint8)
    s = Session(server, lambda: raster.copy())
    s.open_model("m")
    s.receive(model_info())
    s.receive(MapReady(server.last("map").seq, 0.0, 1, Plane()))
    return s


def draw(session, server, z=(0.5, -0.5, 1.0)):
    session.drawing_edited()
    session.receive(drawn(server.last("drawing"), z))
    return session.drawing


def test_nothing_is_computed_before_a_model_is_loaded_then_it_frames_the_drawing():
    server = Server()
    s = Session(server, lambda: np.ones((8, 8), np.uint8))
    s.drawing_edited()
    assert server.kinds() == []
    s.open_model("ae-16", fallback=True)
    assert server.kinds() == ["load"] and server.last("load").payload == ("ae-16", "cpu", True)
    seen = []
    s.model_changed.connect(seen.append)
    s.receive(model_info(device="cpu"))
    assert seen == [s.info] and s.edit.latent_dim == Z
    assert server.kinds() == ["load", "map", "drawing"]
    assert server.last("drawing").generation == 1 and server.last("drawing").payload.shape == (8, 8)
    assert s.map is None


def test_a_drawing_answer_shows_its_frame_code_and_reconstruction(session, server):
    outputs = []
    session.output_changed.connect(outputs.append)
    drawing = draw(session, server)
    np.testing.assert_array_equal(session.edit.current, [0.5, -0.5, 1.0])
    assert session.output.image is drawing.reconstruction and not session.output.edited
    assert session.output.error == 0.01 and outputs == [session.output]
    assert session.latency_ms is not None and session.latency_ms >= 0


def test_an_answer_older_than_one_taken_is_dropped(session, server):
    session.drawing_edited()
    first = server.last("drawing")
    session.drawing_edited()
    second = server.last("drawing")
    session.receive(drawn(second, (1, 1, 1)))
    session.receive(drawn(first, (2, 2, 2)))
    assert session.drawing.seq == second.seq
    np.testing.assert_array_equal(session.edit.drawing, [1, 1, 1])


def test_answers_made_for_a_model_that_is_gone_are_dropped(session, server):
    session.drawing_edited()
    old = server.last("drawing")
    session.open_model("other")
    session.receive(model_info(generation=2))
    session.receive(drawn(old))
    assert session.drawing is None
    session.receive(drawn(server.last("drawing")))      # asked again, for the new model
    assert session.drawing.generation == 2


def test_an_edit_is_decoded_and_shown_until_a_newer_drawing_ends_it(session, server):
    draw(session, server)
    assert session.edit_value(1, 2.0)
    edit = server.last("edit")
    np.testing.assert_array_equal(edit.payload, [0.5, 2.0, 1.0])
    session.receive(decoded(edit))
    assert session.output.edited and session.output.image[0, 0] == 0.75
    assert session.output.error == 0.01                   # still the drawing's error
    draw(session, server, (0.0, 0.0, 0.0))
    assert not session.edit.is_edited and not session.output.edited
    np.testing.assert_array_equal(session.edit.current, [0, 0, 0])


def test_a_drawing_asked_before_an_edit_leaves_the_edit_on_screen(session, server):
    draw(session, server)
    session.drawing_edited()
    drawing = server.last("drawing")
    session.edit_value(0, -1.0)
    session.receive(drawn(drawing, (3.0, 3.0, 3.0)))     # answered after the edit was made
    assert session.edit.is_edited
    np.testing.assert_array_equal(session.edit.current, [-1.0, -0.5, 1.0])
    np.testing.assert_array_equal(session.edit.drawing, [3.0, 3.0, 3.0])
    session.receive(decoded(server.last("edit")))
    assert session.output.edited
    session.reset_edit()
    np.testing.assert_array_equal(session.edit.current, [3.0, 3.0, 3.0])


def test_reset_drops_the_edits_still_being_decoded(session, server):
    draw(session, server)
    drawing_output = session.output
    for value in (0.5, -0.5, 0.9):
        session.edit_value(1, value)
    in_flight = [r for r in server.requests if r.kind == "edit"]
    session.reset_edit()
    for request in in_flight:
        session.receive(decoded(request))
    assert not session.edit.is_edited and not session.output.edited
    assert session.output.image is drawing_output.image


def test_out_of_range_edits_and_edits_without_a_model_are_refused(server):
    s = Session(server, lambda: np.zeros((4, 4), np.uint8))
    assert not s.edit_value(0, 1.0)
    s.receive(model_info())
    assert not s.edit_value(Z, 1.0) and not s.edit_value(-1, 1.0)
    assert "edit" not in server.kinds()


def test_a_point_of_the_map_is_decoded_through_the_maps_inverse(session, server):
    draw(session, server)
    assert session.pick(0.25, -0.75)
    np.testing.assert_array_equal(server.last("edit").payload, [0.25, -0.75, 0.0])
    assert session.edit.edited.all()


def test_pinning_needs_a_drawing_and_two_pins_ask_for_the_strip_and_the_mix(session, server):
    assert not session.pin("a")
    draw(session, server, (0.0, 0.0, 0.0))
    assert session.pin("a")
    assert "strip" not in server.kinds()
    draw(session, server, (1.0, 2.0, 3.0))
    session.set_mix(0.25)
    assert "interp" not in server.kinds()                 # only one pin yet
    assert session.pin("b")
    strip, interp = server.last("strip"), server.last("interp")
    assert strip.payload.shape == (8, Z)
    np.testing.assert_allclose(interp.payload, [0.25, 0.5, 0.75])
    session.receive(decoded(strip))
    session.receive(decoded(interp, 0.5))
    assert session.strip.shape == (8, 28, 28) and session.mixed[0, 0] == 0.5


def test_an_edited_code_is_pinned_with_its_decoding_not_the_drawings_frame(session, server):
    draw(session, server, (0.0, 0.0, 0.0))
    session.edit_value(1, 2.0)
    session.receive(decoded(server.last("edit"), 0.9))      # the edited code, decoded, is on screen
    assert session.pin("a")
    pin = session.interpolation.a
    assert pin.edited and pin.frame[0, 0] == pytest.approx(0.9)
    np.testing.assert_allclose(pin.z, [0.0, 2.0, 0.0])
    session.edit_value(2, -1.0)                              # not decoded yet when pinned
    assert session.pin("b")
    assert session.interpolation.b.frame is None
    asked = server.last("pin")
    np.testing.assert_allclose(asked.payload, [[0.0, 2.0, -1.0]])
    pinned = []
    session.pins_changed.connect(lambda: pinned.append(session.interpolation.b.frame))
    session.receive(decoded(asked, 0.3))
    assert pinned and pinned[-1][0, 0] == pytest.approx(0.3)
    session.reset_edit()
    assert session.pin("a") and not session.interpolation.a.edited
    assert session.interpolation.a.frame[0, 0] == pytest.approx(0.5)   # the drawing's frame


def test_a_strip_asked_before_pinning_again_is_dropped(session, server):
    draw(session, server, (0.0, 0.0, 0.0))
    session.pin("a")
    session.pin("b")
    old = server.last("strip")
    draw(session, server, (1.0, 1.0, 1.0))
    session.pin("b")
    session.receive(decoded(old, 0.1))
    assert session.strip is None
    session.receive(decoded(server.last("strip"), 0.2))
    assert session.strip[0, 0, 0] == pytest.approx(0.2)


def test_a_new_model_unpins_and_empties_every_view(session, server):
    draw(session, server)
    session.pin("a")
    session.pin("b")
    session.receive(decoded(server.last("strip")))
    session.open_model("other")
    session.receive(model_info(generation=2, latent_dim=5))
    assert not session.interpolation.ready and session.strip is None and session.drawing is None
    assert session.map is None and session.edit.current.shape == (5,)


def test_the_traversal_sweeps_the_drawings_code_and_empties_once_the_drawing_is_cleared(session, server):
    session.request_traversal()
    assert "traversal" not in server.kinds() and session.traversal is None
    draw(session, server)
    session.request_traversal()
    request = server.last("traversal")
    assert request.payload.shape == (Z, 9, Z)
    session.receive(decoded(request))
    assert sorted(session.traversal.order.tolist()) == list(range(Z))
    session.request_traversal()
    late = server.last("traversal")
    draw(session, server, None)                            # cleared
    assert session.traversal is None
    session.receive(decoded(late))
    assert session.traversal is None


def test_the_manifold_grid_needs_the_map_and_is_placed_on_it(server):
    s = Session(server, lambda: np.zeros((4, 4), np.uint8))
    s.receive(model_info())
    s.request_manifold(4, 2.0)
    assert "manifold" not in server.kinds()
    s.receive(MapReady(server.last("map").seq, 0.0, 1, Plane()))
    s.request_manifold(4, 2.0)
    request = server.last("manifold")
    assert request.payload.shape == (4, 4, Z)
    shown = []
    s.manifold_changed.connect(lambda xy, images: shown.append((xy, images)))
    s.receive(decoded(request))
    xy, images = shown[0]
    assert xy.shape == (4, 4, 2) and images.shape == (4, 4, 28, 28)
    np.testing.assert_allclose(xy, request.payload[..., :2])


def test_a_map_fitted_for_another_model_is_dropped(server):
    s = Session(server, lambda: np.zeros((4, 4), np.uint8))
    s.receive(model_info())
    first = server.last("map")
    s.receive(model_info(generation=2))
    s.receive(MapReady(first.seq, 0.0, 1, Plane()))
    assert s.map is None


def test_a_failed_load_keeps_the_model_and_its_device(session, server):
    failures = []
    session.model_failed.connect(lambda what, why: failures.append((what, why)))
    session.set_device("cuda")
    assert server.last("load").payload == ("m1", "cuda", False)
    session.receive(LoadFailed(server.last("load").seq, "m1", "CUDA is not available"))
    assert failures == [("m1", "CUDA is not available")]
    assert session.device == "cpu" and session.info.generation == 1


def test_something_that_is_not_an_answer_is_an_error(session):
    with pytest.raises(TypeError):
        session.receive("not an answer")


# ---------------------------------------------------------------------- the edit and the pins


def test_editing_a_code_keeps_the_drawing_code_for_reset():
    edit = LatentEdit(3)
    edit.set_drawing([1, 2, 3])
    edit.set_value(1, -5)
    np.testing.assert_array_equal(edit.current, [1, -5, 3])
    assert edit.is_edited and edit.edited.tolist() == [False, True, False]
    edit.reset()
    np.testing.assert_array_equal(edit.current, [1, 2, 3])
    assert not edit.is_edited
    edit.set_value(0, 9)
    edit.update_drawing([4, 5, 6])          # the drawing changed under an edit
    np.testing.assert_array_equal(edit.current, [9, 2, 3])
    edit.reset()
    np.testing.assert_array_equal(edit.current, [4, 5, 6])
    edit.replace([0, 0, 0])
    assert edit.edited.all()
    with pytest.raises(IndexError):
        edit.set_value(3, 1.0)
    with pytest.raises(ValueError):
        edit.set_drawing([1, 2])


def test_interpolation_mixes_the_pinned_codes():
    mix = Interpolation()
    with pytest.raises(RuntimeError):
        mix.mix(0.5)
    mix.pin("a", [0, 0], np.zeros((28, 28)))
    mix.pin("b", [2, 4], np.ones((28, 28)))
    np.testing.assert_allclose(mix.mix(0.25), [0.5, 1.0])
    steps = mix.steps()
    assert steps.shape == (Interpolation.STEPS, 2)
    np.testing.assert_allclose(steps[0], [0, 0])
    np.testing.assert_allclose(steps[-1], [2, 4])
    with pytest.raises(ValueError):
        mix.pin("c", [0, 0], np.zeros((28, 28)))


def test_the_paradigms_reading_asks_for_the_drawings_frame_and_keeps_only_the_newest(session, server):
    from aegui.session import Read

    seen = []
    session.reading_changed.connect(seen.append)
    session.request_reading(True, False, None)
    assert "reading" not in server.kinds() and seen == [None]       # nothing drawn yet
    drawing = draw(session, server)
    session.request_reading(True, True, "noise setting")
    first = server.last("reading")
    ask = first.payload
    assert ask.frame is drawing.frame and ask.reconstruction is drawing.reconstruction
    assert (ask.pca, ask.sizes, ask.noise) == (True, True, "noise setting")
    session.request_reading(True, False, None)
    second = server.last("reading")
    session.receive(Read(second.seq, 0.0, 1, "newer reading"))
    session.receive(Read(first.seq, 0.0, 1, "older reading"))       # late: dropped
    assert session.reading == "newer reading" and seen[-1] == "newer reading"
    session.receive(Read(second.seq + 50, 0.0, 2, "another model's"))
    assert session.reading == "newer reading"
    session.receive(model_info(generation=2))
    assert session.reading is None
