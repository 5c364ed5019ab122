"""Specification of model cards with pictures (aegui.cards) and the figures they hold
(aegui.figures), drawn without Qt."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from aegui import cards, figures, models, paradigm
from aegui.cli import main
from aegui.pca import fit
from aegui.train import Trainer, TrainConfig

from synthetic_digits import TINY, synthetic_digits


def colours(image: Image.Image) -> set[tuple[int, int, int]]:
    return {tuple(c) for c in np.asarray(image.convert("RGB")).reshape(-1, 3)}


def hex_rgb(code: str) -> tuple[int, int, int]:
    return tuple(int(code[i:i + 2], 16) for i in (1, 3, 5))


@pytest.mark.parametrize("lo, hi, log, expected", [
    (0, 10, False, [0, 5, 10]),
    (4.3, 17.2, False, [5, 10, 15]),
    (-1, 1, False, [-1, -0.5, 0, 0.5, 1]),
    (55, 230, True, [60, 80, 100, 150, 200]),
    (3, 400, True, [5, 10, 20, 50, 100, 200]),
    (1e-3, 1e4, True, [1e-3, 1e-2, 0.1, 1, 10, 100, 1e3, 1e4]),
])
def test_ticks_fall_on_round_numbers_within_the_range(lo, hi, log, expected):
    assert figures.nice_ticks(lo, hi, log=log) == pytest.approx(expected)


def test_a_line_chart_draws_each_series_in_its_colour_with_a_legend():
    chart = figures.line_chart([("train", [1, 2, 3], [100, 50, 40]), ("validation", [1, 2, 3], [90, 60, 45])],
                               title="t", xlabel="epoch", ylabel="loss", log_y=True, size=(500, 300))
    assert chart.size == (500, 300)
    found = colours(chart)
    assert hex_rgb(figures.PALETTE[0]) in found and hex_rgb(figures.PALETTE[1]) in found
    assert hex_rgb(figures.PALETTE[2]) not in found
    with pytest.raises(ValueError, match="positive"):
        figures.line_chart([("a", [1], [0])], title="", xlabel="", ylabel="", log_y=True)
    with pytest.raises(ValueError, match="as many xs as ys"):
        figures.line_chart([("a", [1, 2], [1])], title="", xlabel="", ylabel="")


def test_image_rows_place_each_image_in_its_cell_at_its_scale():
    white, black = np.ones((3, 28, 28)), np.zeros((2, 28, 28))
    grid = figures.image_rows([("a", white), ("b", black)], scale=2, gap=4)
    pixels = np.asarray(grid.convert("L"))
    cell = 28 * 2 + 4
    assert grid.size[1] == 8 + 2 * cell + 4
    left = grid.size[0] - 3 * cell - 4
    assert (pixels[8:8 + 56, left:left + 56] == 255).all()                 # row a, column 0: white
    assert (pixels[8 + cell:8 + cell + 56, left:left + 56] == 0).all()     # row b, column 0: black
    assert (pixels[8 + cell:8 + cell + 56, left + 2 * cell:left + 2 * cell + 56] == 255).all()  # empty: paper


def test_a_matrix_chart_needs_a_label_per_row_and_column():
    chart = figures.matrix_chart(np.eye(3, dtype=int) * 5, ["a", "b", "c"], ["x", "y", "z"], title="t",
                                 xlabel="verdict", ylabel="drawn")
    assert chart.size[0] > 3 * 38 and chart.size[1] > 3 * 38
    with pytest.raises(ValueError, match="labels"):
        figures.matrix_chart(np.eye(3), ["a", "b"], ["x", "y", "z"], title="", xlabel="", ylabel="")


@pytest.fixture(scope="module")
def trained():
    data = synthetic_digits(n_train=128, n_test=40)
    trainer = Trainer(TrainConfig(model=TINY, epochs=2, batch_size=32, warmup_steps=2), data)
    list(trainer.run())
    trainer.model.metadata = trainer.metadata()
    return trainer.model, data, fit(data.x_train, 6)


def test_a_card_file_comes_with_its_pictures_and_the_paradigms_numbers(tmp_path, trained):
    model, data, pca = trained
    extra = {"pca": paradigm.pca_comparison(model, data.x_test, pca=pca),
             "denoising": paradigm.denoising(model, data.x_test, strengths=(0.5,), pca=pca)}
    written = cards.write_card(model, {"sse": extra["pca"]["sse"]}, extra, data, pca, tmp_path / "tiny.md")
    names = sorted(p.name for p in written)
    assert names == ["tiny-denoising.png", "tiny-loss.png", "tiny-reconstructions.png", "tiny-traversal.png",
                     "tiny.md"]
    text = (tmp_path / "tiny.md").read_text()
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", text)
    assert sorted(links) == sorted(f"figures/{n}" for n in names if n.endswith(".png"))
    for link in links:
        with Image.open(tmp_path / link) as picture:
            assert picture.size[0] > 100
    assert f"| PCA, 4 components, clipped to [0, 1] | {extra['pca']['pca_sse']:.3f} |" in text
    row = extra["denoising"]["rows"][0]
    assert f"| speckle | 0.5 | {row['input']:.2f} | {row['output']:.2f} | {row['pca']:.2f} | {row['gain']:.2f}x |" \
        in text


def test_a_model_without_a_history_has_no_loss_picture(tmp_path, trained):
    _model, data, pca = trained
    fresh = models.create(config=TINY)
    assert cards.loss_figure(fresh) is None
    written = cards.write_card(fresh, {}, {}, data, pca, tmp_path / "fresh.md")
    assert "fresh-loss.png" not in {p.name for p in written}
    assert "loss" not in (tmp_path / "fresh.md").read_text().lower().split("## pictures")[1]


def test_the_loss_curves_are_the_histories_training_and_validation_losses(trained):
    model, _data, _pca = trained
    series, ylabel = cards._history_series(model)
    history = model.metadata["history"]
    assert series[0][2] == [h["loss"] for h in history]
    assert series[1][2] == pytest.approx([h["val_bce"] * 784 for h in history])
    assert ylabel == "BCE summed over pixels, per image"


def test_aegui_eval_card_path_writes_the_card_and_its_pictures(tmp_path, trained, capsys):
    model, data, _pca = trained
    checkpoint = models.save(model, tmp_path / "tiny.pt")
    npz = tmp_path / "mini.npz"
    np.savez(npz, x_train=data.x_train, y_train=data.y_train, x_test=data.x_test, y_test=data.y_test)
    card = tmp_path / "cards" / "tiny.md"
    assert main(["eval", str(checkpoint), "--data", str(npz), "--card", str(card)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {card}" in out and (card.parent / "figures" / "tiny-traversal.png").is_file()
    text = card.read_text()
    assert "## Linear versus learned" in text and "## Noise in, essence out" in text


def test_a_card_from_stored_metrics_reports_the_checkpoints_own(tmp_path, trained, capsys, monkeypatch):
    model, data, _pca = trained
    monkeypatch.setattr(model, "metrics", {"sse": 123.456, "latency_ms": 0.25})
    checkpoint = models.save(model, tmp_path / "stored.pt")
    npz = tmp_path / "mini.npz"
    np.savez(npz, x_train=data.x_train, y_train=data.y_train, x_test=data.x_test, y_test=data.y_test)
    assert main(["eval", str(checkpoint), "--data", str(npz), "--stored-metrics", "--card"]) == 0
    card = capsys.readouterr().out
    assert "| SSE per test image (sum over 784 pixels in [0, 1]) | 123.456 |" in card
    assert "| encode + decode, one image, median ms | 0.250 |" in card
    assert main(["eval", str(checkpoint), "--data", str(npz), "--stored-metrics", "--update"]) == 2
    assert "--update measures them anew" in capsys.readouterr().err
