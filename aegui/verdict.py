"""What a drawing looks like: the one place that turns a latent code into a verdict.

The app shows the verdict under the latent map, ``aegui eval`` scores it (the MNIST 5-NN
accuracy and the drawn-digits benchmark), and both get it from here:

* ``knn_vote``: the majority digit among the ``k`` reference codes nearest to a code
  (Euclidean). A tie between digits goes to the one whose nearest member is nearer. This
  is the neighbours' vote the app shows beside the verdict, and the MNIST 5-NN metric.
* ``VerdictHead``: a small classifier on the code (a model's own, stored in its
  checkpoint; ``aegui.verdict_fit`` trains it with the encoder frozen). Its eleven classes
  are the ten digits and ``NOT_A_DIGIT`` (dots, scribbles): it says what the code knows.
* ``decide``: the verdict from the head's probabilities, or from the neighbours' vote for a
  model without a head. A drawing is *not a digit* when the page is empty, when the
  model reconstructs it worse than anything like what it was trained on (the head's
  ``max_sse``: random tangles, mostly), or when the head's most likely class is
  ``NOT_A_DIGIT``; *not sure* (naming the two candidates)
  when the likeliest digit has less than ``SURE`` of the probability; otherwise the digit,
  with its probability as the confidence.

Why the head decides and the neighbours only vote: on the validation writers' drawings
the head reads the code better than a vote among MNIST codes does (the measurements are
in ``resources/models/README.md``), and only the head was shown examples of what is not a
digit. The neighbours stay on screen: they say which digits of the data set the drawing
lies among.

Pure numpy: no torch, no Qt (the app runs it on its inference thread, after the network).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

__all__ = ["CLASSES", "DIGITS", "NEIGHBOURS", "NOT_A_DIGIT", "SURE", "Verdict", "VerdictHead", "article",
           "decide", "judge", "knn_vote", "squared_norms", "vote"]

DIGITS = 10
NOT_A_DIGIT = 10          # the head's eleventh class
CLASSES = DIGITS + 1
# The likeliest digit is named when it is at least as likely as all the other classes
# together; below that the verdict is "not sure" between the two likeliest. (On the
# validation writers, 0.6 instead turned about as many right answers into "not sure" as
# it saved wrong ones: resources/models/README.md.)
SURE = 0.5
# Without a head: the share of the k neighbours the winner needs to be named.
SURE_VOTES = 0.6
# Neighbours in the vote shown beside the verdict.
NEIGHBOURS = 10


@dataclass(frozen=True)
class Verdict:
    """What the drawing looks like. ``kind``: "digit" (``digit`` is the answer),
    "unsure" (``digit`` and ``runner_up`` are the two candidates), "none" (not a digit;
    ``reason`` says why when there is more to say) or "unknown" (the model has nothing
    to judge with). ``confidence`` is the probability of
    ``digit`` (for a vote: its share of the neighbours). ``votes`` of ``k`` neighbours
    chose ``neighbour_digit`` (k is 0 when there were no reference codes)."""

    kind: str
    digit: int | None = None
    runner_up: int | None = None
    confidence: float = 0.0
    reason: str = ""
    neighbour_digit: int | None = None
    votes: int = 0
    k: int = 0

    @property
    def answer(self) -> int | None:
        """The digit named, or None when not sure or not a digit."""
        return self.digit if self.kind == "digit" else None

    def describe(self) -> str:
        """One line for the user, e.g. "Looks like an 8 (97% sure) · 9 of 10 neighbours"."""
        if self.kind == "none":
            return "Not a digit" + (f": {self.reason}" if self.reason else "")
        if self.kind == "unknown":
            return f"No verdict: {self.reason}"
        if self.kind == "unsure" and self.runner_up is not None:
            text = (f"Not sure: {article(self.digit)} {self.digit} or {article(self.runner_up)} "
                    f"{self.runner_up}? ({self.confidence:.0%} for the {self.digit})")
        elif self.kind == "unsure":
            text = f"Not sure: perhaps {article(self.digit)} {self.digit}?"
        else:
            text = f"Looks like {article(self.digit)} {self.digit} ({self.confidence:.0%} sure)"
        if self.k:
            text += f" · neighbours: {self.votes} of {self.k} are {self.neighbour_digit}s"
        return text


def article(digit: int | None) -> str:
    """"an" before a digit whose name starts with a vowel sound (8: "an eight"), else "a"."""
    return "an" if digit == 8 else "a"


def squared_norms(codes) -> np.ndarray:
    """Each reference code's squared length, as ``knn_vote`` uses it: for codes voted
    with again and again (the app's, at every drawing), computed once."""
    codes = np.ascontiguousarray(codes, np.float32)
    return np.einsum("ij,ij->i", codes, codes)


def knn_vote(codes: np.ndarray, labels: np.ndarray, queries: np.ndarray, k: int = NEIGHBOURS,
             chunk: int | None = None, code_norms: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """The majority label of the ``k`` codes nearest to each query (Euclidean), and how
    many of the k voted for it: ``(winners (Q,), votes (Q,), k)``; ``k`` is at most the
    number of codes. A tie goes to the label that appears first in order of distance,
    i.e. whose nearest member is nearer. ``code_norms``: ``squared_norms(codes)``, when
    kept from an earlier call."""
    codes = np.ascontiguousarray(codes, np.float32)
    labels = np.asarray(labels)
    queries = np.ascontiguousarray(queries, np.float32).reshape(-1, codes.shape[1])
    k = min(int(k), len(codes))
    if k < 1:
        raise ValueError("knn_vote needs at least one reference code")
    code_norms = squared_norms(codes) if code_norms is None else code_norms
    # Queries per pass: about 8 M distances (32 MB) at a time, however many codes.
    chunk = chunk or max(1, (1 << 23) // max(len(codes), 1))
    winners = np.empty(len(queries), np.intp)
    votes = np.empty(len(queries), np.intp)
    for start in range(0, len(queries), chunk):
        q = queries[start:start + chunk]
        rows = np.arange(len(q))[:, None]
        # Squared distances less |q|^2, which orders nothing within a row.
        d2 = code_norms[None, :] - 2.0 * (q @ codes.T)
        nearest = np.argpartition(d2, k - 1, axis=1)[:, :k] if k < len(codes) else \
            np.broadcast_to(np.arange(len(codes)), (len(q), len(codes)))
        order = np.argsort(d2[rows, nearest], axis=1, kind="stable")
        winners[start:start + len(q)], votes[start:start + len(q)] = vote(labels[nearest[rows, order]])
    return winners, votes, k


def vote(nearest_labels) -> tuple[np.ndarray, np.ndarray]:
    """The vote among each query's neighbours, given their labels (Q, k) nearest first:
    ``(winners (Q,), votes (Q,))``, a tie going to the label whose nearest member is
    nearer (``knn_vote``'s rule)."""
    rows = np.asarray(nearest_labels).tolist()
    winners, votes = np.empty(len(rows), np.intp), np.empty(len(rows), np.intp)
    # In plain Python: for the app's one drawing, a dozen numpy calls on ten labels cost
    # more than the counting (the batches of ``aegui eval`` take milliseconds either way).
    for i, row in enumerate(rows):
        counts = Counter(row)
        votes[i] = max(counts.values())
        winners[i] = next(label for label in row if counts[label] == votes[i])     # nearest of the tied
    return winners, votes


@dataclass(frozen=True, eq=False)
class VerdictHead:
    """A small MLP from a latent code to the eleven classes: the code is standardised
    (``(z - mean) / scale``), then each layer but the last is followed by a ReLU.
    ``layers`` holds (weight (out, in), bias (out,)) pairs, float32.

    ``max_sse``: a drawing the model reconstructs worse than this (squared error summed
    over the frame) is unlike what it was trained on, whatever the head makes of its code:
    not a digit. ``aegui.verdict_fit`` sets it from the training images (see there)."""

    mean: np.ndarray
    scale: np.ndarray
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    max_sse: float = float("inf")

    def __post_init__(self) -> None:
        if not self.layers:
            raise ValueError("a verdict head needs at least one layer")
        if not self.max_sse > 0:
            raise ValueError(f"max_sse must be positive, got {self.max_sse!r}")
        width = len(self.mean)
        if self.scale.shape != (width,) or self.mean.ndim != 1:
            raise ValueError(f"mean and scale must both be (Z,), got {self.mean.shape} and {self.scale.shape}")
        for weight, bias in self.layers:
            if weight.ndim != 2 or weight.shape[1] != width or bias.shape != (weight.shape[0],):
                raise ValueError(f"layer shapes do not chain: weight {weight.shape}, bias {bias.shape} "
                                 f"after width {width}")
            width = weight.shape[0]
        if width != CLASSES:
            raise ValueError(f"the head must end in {CLASSES} classes, not {width}")

    @property
    def latent_dim(self) -> int:
        return len(self.mean)

    def logits(self, codes) -> np.ndarray:
        """(N, Z) or (Z,) codes -> (N, 11) logits."""
        h = (np.asarray(codes, np.float32).reshape(-1, self.latent_dim) - self.mean) / self.scale
        for i, (weight, bias) in enumerate(self.layers):
            h = h @ weight.T + bias
            if i < len(self.layers) - 1:
                np.maximum(h, 0.0, out=h)
        return h

    def probabilities(self, codes) -> np.ndarray:
        """(N, 11) class probabilities (softmax of the logits)."""
        logits = self.logits(codes).astype(np.float64)
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(1, keepdims=True)


def decide(probabilities=None, *, neighbours: tuple[int, int, int] | None = None,
           empty: bool = False, unlike: bool = False) -> Verdict:
    """The verdict on one drawing. ``probabilities``: the head's (11,) output, or None for
    a model without a head; ``neighbours``: (digit, votes, k) of the neighbours' vote, or
    None without reference codes; ``empty``: the page holds no ink; ``unlike``: the model
    reconstructs it worse than its head's ``max_sse``."""
    digit_n, votes, k = neighbours if neighbours is not None else (None, 0, 0)
    shown = dict(neighbour_digit=digit_n, votes=int(votes), k=int(k))
    if empty:
        return Verdict("none", reason="the page is empty", **shown)
    if unlike:
        return Verdict("none", reason="unlike any digit this model knows", **shown)
    if probabilities is not None:
        p = np.asarray(probabilities, np.float64).reshape(-1)
        if int(p.argmax()) == NOT_A_DIGIT:
            return Verdict("none", confidence=float(p[NOT_A_DIGIT]), **shown)
        first, second = (int(i) for i in np.argsort(-p[:DIGITS], kind="stable")[:2])
        kind = "digit" if p[first] >= SURE else "unsure"
        return Verdict(kind, first, second, float(p[first]), **shown)
    if neighbours is None:
        return Verdict("unknown", reason="this model has no verdict head and no reference digits")
    share = votes / k
    kind = "digit" if share >= SURE_VOTES else "unsure"
    return Verdict(kind, int(digit_n), None, float(share), **shown)


def judge(codes, empty, head: VerdictHead | None = None, reference_codes=None, reference_labels=None,
          k: int = NEIGHBOURS, sse=None, reference_norms=None, nearest=None, probabilities=None) -> list[Verdict]:
    """The verdicts on a batch of drawings from their codes (N, Z) and ``empty`` flags (N,):
    ``head``'s probabilities (if the model has a head), the reconstructions' squared errors
    ``sse`` (N,) against its ``max_sse`` (when given), and the vote of the ``k`` nearest
    reference codes (if it has any; ``reference_norms``: their ``squared_norms``, if kept;
    ``nearest``: the indices (N, k) of each code's k nearest, nearest first, and
    ``probabilities``: the head's (N, 11), when computed already, as the app's pass through
    the model does). What the app shows and what ``aegui eval`` scores."""
    codes = np.asarray(codes, np.float32).reshape(len(empty), -1)
    if probabilities is not None and head is not None:
        probabilities = np.asarray(probabilities, np.float64).reshape(len(codes), -1)
    else:
        probabilities = head.probabilities(codes) if head is not None and len(codes) else None
    winners = votes = None
    if nearest is not None and len(codes):
        nearest = np.asarray(nearest).reshape(len(codes), -1)
        (winners, votes), k = vote(np.asarray(reference_labels)[nearest]), nearest.shape[1]
    elif reference_codes is not None and len(reference_codes) and len(codes):
        winners, votes, k = knn_vote(reference_codes, reference_labels, codes, k, code_norms=reference_norms)
    out = []
    for i, is_empty in enumerate(np.asarray(empty, bool)):
        neighbours = (int(winners[i]), int(votes[i]), k) if winners is not None else None
        unlike = head is not None and sse is not None and bool(sse[i] > head.max_sse)
        out.append(decide(None if probabilities is None else probabilities[i], neighbours=neighbours,
                          empty=bool(is_empty), unlike=unlike))
    return out
