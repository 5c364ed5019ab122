"""Specification of the verdict: the neighbours' vote and its tie rule, the head, the
decision (a digit, not sure, not a digit) and what the user reads; and, on the shipped
default model, that an empty page, a dot and a scribble are not digits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aegui import models
from aegui.document import draw_strokes
from aegui.models import ModelConfig
from aegui.preprocess import mnist_style
from aegui.verdict import (NOT_A_DIGIT, SURE, Verdict, VerdictHead, article, decide, judge, knn_vote,
                           squared_norms)


def test_the_vote_is_the_majority_among_the_k_nearest_codes():
    codes = np.array([[0, 0], [0, 1], [1, 0], [10, 10], [10, 11], [11, 10], [11, 11]], np.float32)
    labels = np.array([7, 7, 1, 3, 3, 3, 3])
    winners, votes, k = knn_vote(codes, labels, [[0.2, 0.2], [10.5, 10.5]], k=3)
    assert winners.tolist() == [7, 3] and votes.tolist() == [2, 3] and k == 3
    # k larger than the reference: all of it votes, and k says so.
    winners, votes, k = knn_vote(codes, labels, [[10.5, 10.5]], k=10)
    assert (winners[0], votes[0], k) == (3, 4, 7)


def test_a_tied_vote_goes_to_the_label_whose_nearest_member_is_nearer():
    codes = np.array([[0.0], [1.0], [-1.5], [3.0]], np.float32)
    labels = np.array([4, 9, 9, 4])
    assert knn_vote(codes, labels, [[0.1]], k=4)[0][0] == 4      # 4 at 0.1, 9 at 0.9
    assert knn_vote(codes, labels, [[0.9]], k=4)[0][0] == 9      # 9 at 0.1, 4 at 0.9
    # Answered in chunks, the same; and with the codes' squared lengths kept from before.
    queries = np.linspace(-2, 4, 25, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(knn_vote(codes, labels, queries, k=2, chunk=4)[0],
                                  knn_vote(codes, labels, queries, k=2)[0])
    kept = knn_vote(codes, labels, queries, k=3, code_norms=squared_norms(codes))
    for got, want in zip(kept, knn_vote(codes, labels, queries, k=3)):
        np.testing.assert_array_equal(got, want)


def head_for(latent_dim: int = 2) -> VerdictHead:
    """A linear head: class c scores 10 * z[0] when z[1] == c (one-hot-ish), for tests."""
    weight = np.zeros((11, latent_dim), np.float32)
    weight[:, 0] = np.arange(11)          # logit of class c = c * z0 + bias
    bias = np.zeros(11, np.float32)
    return VerdictHead(mean=np.zeros(latent_dim, np.float32), scale=np.ones(latent_dim, np.float32),
                       layers=((weight, bias),))


def test_the_head_standardises_the_code_then_runs_its_layers():
    w1 = np.array([[1.0, 0.0], [0.0, -1.0]], np.float32)
    b1 = np.array([0.0, 0.5], np.float32)
    w2 = np.zeros((11, 2), np.float32)
    w2[3] = [1.0, 2.0]
    head = VerdictHead(mean=np.array([1.0, 1.0], np.float32), scale=np.array([2.0, 4.0], np.float32),
                       layers=((w1, b1), (w2, np.zeros(11, np.float32))))
    # z = (3, -3) -> standardised (1, -1) -> layer 1: (1, 1.5) -> relu -> class 3: 1 + 3 = 4
    logits = head.logits([3.0, -3.0])
    assert logits.shape == (1, 11) and logits[0, 3] == pytest.approx(4.0) and logits[0, 0] == 0
    p = head.probabilities([3.0, -3.0])[0]
    assert p.sum() == pytest.approx(1.0) and p[3] == pytest.approx(np.exp(4) / (np.exp(4) + 10))


def test_a_head_whose_shapes_do_not_chain_is_refused():
    with pytest.raises(ValueError, match="do not chain"):
        VerdictHead(np.zeros(3, np.float32), np.ones(3, np.float32),
                    ((np.zeros((11, 2), np.float32), np.zeros(11, np.float32)),))
    with pytest.raises(ValueError, match="11 classes"):
        VerdictHead(np.zeros(2, np.float32), np.ones(2, np.float32),
                    ((np.zeros((10, 2), np.float32), np.zeros(10, np.float32)),))


def probabilities(**mass) -> np.ndarray:
    p = np.zeros(11)
    for key, value in mass.items():
        p[NOT_A_DIGIT if key == "none" else int(key[1:])] = value
    return p


def test_a_likely_digit_is_named_with_its_confidence_and_the_neighbours_vote():
    v = decide(probabilities(d8=0.9, d3=0.1), neighbours=(8, 9, 10))
    assert (v.kind, v.digit, v.answer, v.confidence) == ("digit", 8, 8, pytest.approx(0.9))
    assert v.describe() == "Looks like an 8 (90% sure) · neighbours: 9 of 10 are 8s"
    assert decide(probabilities(d7=1.0)).describe() == "Looks like a 7 (100% sure)"


def test_below_sure_the_verdict_is_not_sure_and_names_the_two_candidates():
    v = decide(probabilities(d4=SURE - 0.01, d9=0.3, d1=0.11))
    assert (v.kind, v.digit, v.runner_up, v.answer) == ("unsure", 4, 9, None)
    assert v.describe().startswith(f"Not sure: a 4 or a 9? ({SURE - 0.01:.0%} for the 4)")
    assert decide(probabilities(d4=SURE, d9=1 - SURE)).kind == "digit"


def test_not_a_digit_when_that_class_is_likeliest_or_the_page_is_empty():
    v = decide(probabilities(none=0.5, d0=0.3, d6=0.2), neighbours=(0, 10, 10))
    assert (v.kind, v.answer) == ("none", None) and v.describe().startswith("Not a digit")
    empty = decide(probabilities(d1=1.0), empty=True)
    assert empty.kind == "none" and empty.describe().startswith("Not a digit: the page is empty")


def test_a_drawing_the_model_cannot_reconstruct_is_not_a_digit_whatever_its_code_says():
    head = head_for()
    head = VerdictHead(head.mean, head.scale, head.layers, max_sse=20.0)
    codes = np.array([[-1.0, 0.0], [-1.0, 0.0]], np.float32)     # class 0 scores highest: a 0
    kept, unlike = judge(codes, [False, False], head, sse=[19.5, 20.5])
    assert kept.answer == 0
    assert unlike.kind == "none" and unlike.describe() == "Not a digit: unlike any digit this model knows"
    # Without errors to compare (or a head without a bound) the code decides alone.
    assert judge(codes, [False, False], head)[1].answer == 0
    assert judge(codes, [False, False], head_for(), sse=[1e9, 1e9])[1].answer == 0
    with pytest.raises(ValueError, match="max_sse"):
        VerdictHead(head.mean, head.scale, head.layers, max_sse=0.0)


def test_without_a_head_the_neighbours_decide_and_without_either_nothing_is_claimed():
    assert decide(None, neighbours=(2, 7, 10)).answer == 2
    unsure = decide(None, neighbours=(2, 5, 10))
    assert unsure.kind == "unsure" and unsure.describe().startswith("Not sure: perhaps a 2?")
    nothing = decide(None, neighbours=None)
    assert nothing.kind == "unknown" and nothing.answer is None and nothing.describe().startswith("No verdict")


def test_the_article_is_an_before_eight_only():
    assert [article(d) for d in range(10)] == ["a"] * 8 + ["an", "a"]


def test_judge_gives_one_verdict_per_code_from_head_and_neighbours():
    head = head_for()
    codes = np.array([[0.0, 0.0], [5.0, 0.0], [9.0, 0.0]], np.float32)
    verdicts = judge(codes, [True, False, False], head, codes, np.array([1, 2, 3]), k=1)
    assert verdicts[0].kind == "none" and verdicts[0].reason
    # z0 = 5: class c has logit 5c: class 10 (not a digit) wins.
    assert verdicts[1].kind == "none" and verdicts[1].neighbour_digit == 2
    assert [v.k for v in verdicts] == [1, 1, 1]


# --------------------------------------------------------------- the shipped model


def _default_with_head():
    if models.zoo.DEFAULT not in models.available():
        pytest.skip(f"the default model {models.zoo.DEFAULT} is not installed")
    model = models.load(models.zoo.DEFAULT)
    if model.verdict_head is None:
        pytest.skip(f"{models.zoo.DEFAULT} has no verdict head yet (retrain it: resources/models/README.md)")
    return model


def verdict_on(model, page: np.ndarray) -> Verdict:
    """The app's path: frame, encode and reconstruct, judge."""
    frame = mnist_style(page)
    if not frame.any():
        return judge(np.zeros((1, model.latent_dim)), [True])[0]
    x = torch.from_numpy(frame).reshape(1, 1, 28, 28)
    with torch.inference_mode():
        z, recon = model.reconstruct(x)
    sse = [float(((recon - x) ** 2).sum())]
    return judge(z.numpy(), [False], model.verdict_head, model.reference.codes, model.reference.labels, sse=sse)[0]


def test_the_default_model_says_an_empty_page_a_dot_and_a_scribble_are_not_digits():
    model = _default_with_head()
    assert verdict_on(model, np.zeros((512, 512), np.uint8)).kind == "none"
    for pen in (8.0, 32.0, 70.0):
        dot = verdict_on(model, draw_strokes([[(300.0, 200.0)]], pen))
        assert dot.kind == "none", (pen, dot)
    rng = np.random.default_rng(2024)
    scribble = [rng.uniform(150, 370, (12, 2)), rng.uniform(150, 370, (9, 2))]
    assert verdict_on(model, draw_strokes(scribble, 14.0)).kind == "none"


def test_the_default_model_names_clear_digits():
    from drawn_digits import DIGITS, canvas_digit

    model = _default_with_head()
    for digit in DIGITS:
        v = verdict_on(model, canvas_digit(digit))
        assert v.answer == int(digit), (digit, v)


def test_a_verdict_head_round_trips_through_a_checkpoint_and_a_bad_one_is_refused(tmp_path):
    model = models.create(config=ModelConfig(kind="ae", latent_dim=2, channels=(), hidden=(8,)))
    model.verdict_head = VerdictHead(*(lambda h: (h.mean, h.scale, h.layers))(head_for(2)), max_sse=21.5)
    loaded = models.load(models.save(model, tmp_path / "h.pt"))
    assert loaded.verdict_head.max_sse == 21.5
    np.testing.assert_array_equal(loaded.verdict_head.layers[0][0], model.verdict_head.layers[0][0])
    np.testing.assert_array_equal(loaded.verdict_head.scale, model.verdict_head.scale)
    assert models.load(models.save(models.create(config=model.config), tmp_path / "none.pt")).verdict_head is None

    from aegui.models.checkpoint import payload_digest

    raw = torch.load(tmp_path / "h.pt", weights_only=True)
    raw["verdict_head"]["weights"][0] = torch.zeros(11, 5)
    raw["digest"] = payload_digest(raw)      # consistent: only the head's shapes are wrong
    torch.save(raw, tmp_path / "bad.pt")
    with pytest.raises(models.CheckpointError, match="verdict head"):
        models.load(tmp_path / "bad.pt")
