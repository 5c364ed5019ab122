"""Specification of the drawn-digits benchmark: its counting on cases computed by hand,
and the whole benchmark on a tiny synthetic stroke set read by a model whose answers are
known in advance; ``aegui eval --drawn`` on it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from aegui import models
from aegui.cli import main
from aegui.drawn import drawn_benchmark, score
from aegui.models import ModelConfig
from aegui.pen_data import load_pen_digits, placements
from aegui.verdict import Verdict, VerdictHead

from test_pen_data import CROSS, LINE, RING, write_pen_file


def test_the_score_counts_right_wrong_unsure_and_rejected_overall_and_per_band():
    labels = [1, 1, 7, 4, 9, 0]
    verdicts = [Verdict("digit", 1, confidence=0.9), Verdict("digit", 7, confidence=0.8),
                Verdict("digit", 7, confidence=0.9), Verdict("unsure", 4, 9, 0.5),
                Verdict("none"), Verdict("digit", 0, confidence=0.99)]
    pens = [6.0, 12.0, 39.9, 40.0, 80.0, 20.0]
    heights = [0.15, 0.40, 0.649, 0.65, 0.90, 0.2]
    result = score(labels, verdicts, pens, heights, [1.0, 2.0, 3.0, 4.0, np.nan, 5.0])
    assert result["digits"] == 6
    assert result["accuracy"] == pytest.approx(3 / 6)            # the 1, the 7 and the 0
    assert result["wrong"] == pytest.approx(1 / 6)               # a 1 read as a 7
    assert result["unsure"] == pytest.approx(1 / 6) and result["rejected"] == pytest.approx(1 / 6)
    assert result["per_digit"]["1"] == pytest.approx(0.5) and result["per_digit"]["4"] == 0
    assert result["per_digit"]["2"] is None                      # no 2 was drawn
    # Pens 6-12: the first (right); 12-40: 12, 39.9 and 20 (wrong, right, right); 40-80: 40, 80.
    assert result["per_pen"] == {"6-12": 1.0, "12-40": pytest.approx(2 / 3), "40-80": 0.0}
    # Heights 15-40%: 0.15, 0.2 (right, right); 40-65%: 0.40, 0.649 (wrong, right); 65-90%: 0.65, 0.90.
    assert result["per_size"] == {"15%-40%": 1.0, "40%-65%": 0.5, "65%-90%": 0.0}
    assert result["confusions"] == [[1, 7, 1]]
    assert result["sse"] == pytest.approx((1 + 2 + 3 + 4 + 5) / 5)   # the empty frame has none


class CentreReader(torch.nn.Module):
    """A stand-in model: its code is the framed drawing's ink at the centre and its
    reconstruction is perfect. Its head reads a centre full of ink as a 1 (a vertical
    line passes through the centre) and an empty centre as a 0 (a ring)."""

    latent_dim = 1

    def __init__(self):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        weight = np.full((11, 1), 0.0, np.float32)
        bias = np.full(11, -50.0, np.float32)
        weight[1], bias[1] = 40.0, -8.0         # 1: ink at the centre (more than 0.2)
        weight[0], bias[0] = -40.0, 8.0         # 0: none there
        self.verdict_head = VerdictHead(np.zeros(1, np.float32), np.ones(1, np.float32), ((weight, bias),))
        self.reference = None

    def reconstruct(self, x):
        return x[:, :, 13:15, 13:15].mean((2, 3)), x.clone()


def test_the_benchmark_on_a_tiny_stroke_set_gives_the_numbers_known_in_advance(tmp_path):
    # Writer 24 draws a 1 and a 0; writer 25 a 1 (a line), a 0 (a ring) and a 4 (a cross,
    # which the stand-in reads as a 1: ink at the centre). Writer 3 is not asked for.
    path = write_pen_file(tmp_path / "pen.npz", [(1, 24, LINE), (0, 24, RING), (1, 25, LINE), (0, 25, RING),
                                                 (4, 25, CROSS), (1, 3, LINE)])
    pen = load_pen_digits(path).of_writers([24, 25])
    result = drawn_benchmark(CentreReader(), pen, seed=3, non_digits=0)
    assert result["digits"] == 5 and result["writers"] == [24, 25]
    assert result["accuracy"] == pytest.approx(4 / 5) and result["wrong"] == pytest.approx(1 / 5)
    assert result["per_digit"]["1"] == 1.0 and result["per_digit"]["0"] == 1.0 and result["per_digit"]["4"] == 0.0
    assert result["confusions"] == [[4, 1, 1]]
    assert result["sse"] == 0.0                                  # the stand-in reconstructs exactly
    # The bands hold the digits their placements put there.
    where = placements(pen.index, seed=3)
    cross_pen = where[4].pen
    band = next(b for b, (lo, hi) in zip(result["per_pen"], ((6, 12), (12, 40), (40, 80))) if lo <= cross_pen <= hi)
    others = [p.pen for p in where[:4]]
    lo, hi = map(float, band.split("-"))
    in_band = sum(lo <= p < hi or (hi == 80 and p == 80) for p in others)
    assert result["per_pen"][band] == pytest.approx(in_band / (in_band + 1))


def test_aegui_eval_drawn_runs_the_benchmark_headless_and_prints_json(tmp_path, capsys):
    path = write_pen_file(tmp_path / "pen.npz", [(1, 24, LINE), (0, 25, RING), (4, 26, CROSS)])
    model = models.create(config=ModelConfig(kind="ae", latent_dim=2, channels=(), hidden=(8,)))
    ckpt = models.save(model, tmp_path / "m.pt")
    assert main(["eval", str(ckpt), "--drawn", str(path), "--json", "--non-digits", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    drawn = report["drawn"]
    assert drawn["digits"] == 3 and drawn["writers"] == [24, 25, 26] and set(drawn["non_digits"]) == {"dot", "scribble"}
    assert "sse" not in report                                   # no --data: no MNIST metrics
    assert main(["eval", str(ckpt), "--drawn", str(path), "--writers", "0-3"]) == 2
    assert "no digits by writers 0-3" in capsys.readouterr().err
    assert main(["eval", str(ckpt), "--drawn", str(path), "--non-digits", "0", "--update"]) == 0
    assert models.load(ckpt).metrics["drawn"]["digits"] == 3
    assert "drawn digits: 3 by writers 24-26" in capsys.readouterr().out
