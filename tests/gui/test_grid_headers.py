"""Column labels of an image grid never overlap or leave the widget, however narrow the
cells (fine-tuning's "drawing / before / after" over 28-pixel cells, the traversal's)."""

from __future__ import annotations

import numpy as np
import pytest

from aegui.gui.grid import ImageGrid


@pytest.mark.parametrize("width", [120, 200, 320, 600])
@pytest.mark.parametrize("labels", [["drawing", "before", "after"], ["-2σ", "", "", "", "0", "", "", "", "+2σ"]])
def test_column_labels_stay_apart_and_inside(qtbot, width, labels):
    grid = ImageGrid(min_cell=28, preferred_cell=42, max_cell=56)
    qtbot.addWidget(grid)
    grid.set_images(np.zeros((4, len(labels), 28, 28)), [f"{d}: 0.0123 → 0.0045" for d in range(4)], labels)
    grid.resize(max(width, grid.minimumSizeHint().width()), 400)
    metrics = grid.fontMetrics()
    spans = []
    for col, text in enumerate(labels):
        if text:
            rect = grid.header_rect(col)
            assert rect.width() >= metrics.horizontalAdvance(text), text       # not cut
            spans.append((rect.left(), rect.right()))
    for (_, right), (left, _) in zip(spans, spans[1:]):
        assert right <= left, spans
    assert spans[0][0] >= 0 and spans[-1][1] <= grid.width()
    # The cells stay in order, apart, and each under its label.
    for col, text in enumerate(labels):
        if text:
            assert grid.header_rect(col).center().x() == pytest.approx(grid.cell_rect(0, col).center().x(), abs=2)
