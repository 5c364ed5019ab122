"""A typed or dragged value far outside what the data set's digits use is shown as such:
each bar has its dimension's usual range behind it, and a line says when an edited value
lies outside it (the decoder has rarely seen such a value: it may decode noise)."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import draw_digit, settle


@pytest.fixture
def drawn(window, qtbot):
    draw_digit(window.canvas, "3")
    settle(qtbot, window)
    return window


def type_value(window, dim: int, value: float) -> None:
    window.latent_panel.dim_spin.setValue(dim)
    window.latent_panel.value_spin.setValue(value)


def test_every_bar_shows_its_dimensions_usual_range(drawn):
    bars, codes = drawn.latent_panel.bars, drawn.session.info.codes
    low, high = bars.usual
    assert low.shape == high.shape == (drawn.session.info.latent_dim,)
    inside = ((codes >= low) & (codes <= high)).mean(axis=0)
    assert np.all(inside >= 0.98)
    assert bars.limit >= np.abs(np.concatenate([low, high])).max()     # the ranges fit the plot


def test_a_value_far_outside_the_usual_range_is_told(drawn, qtbot):
    warning = drawn.latent_panel.warning
    assert warning.text() == ""
    type_value(drawn, 3, -40.0)
    settle(qtbot, drawn)
    assert drawn.session.edit.current[3] == pytest.approx(-40.0)        # the user's value is kept
    text = warning.text()
    assert text.startswith("⚠ z[3] = -40.00 is outside what 99% of the digits use") and "noise" in text
    low, high = drawn.latent_panel.bars.usual
    type_value(drawn, 3, float((low[3] + high[3]) / 2))
    settle(qtbot, drawn)
    assert warning.text() == ""
    type_value(drawn, 5, 50.0)
    settle(qtbot, drawn)
    assert "z[5]" in warning.text()
    drawn.latent_views.reset_action.trigger()
    settle(qtbot, drawn)
    assert warning.text() == ""
