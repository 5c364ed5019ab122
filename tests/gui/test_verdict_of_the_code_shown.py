"""The verdict under the map is about the code shown: the drawing's, or, while an edited
code is decoded in its place, the edited code's (and says so)."""

from __future__ import annotations

import numpy as np
from gui_helpers import draw_digit, settle


def test_the_verdict_follows_the_code_shown(window, qtbot):
    engine, info = window.worker._engine, window.session.info
    draw_digit(window.canvas, "1")
    settle(qtbot, window)
    label = window.map_panel.guess_label
    drawing = window.session.drawing
    assert label.text() == engine.verdict(info, drawing.z).describe().capitalize()
    # Show the code of a reference digit of another class: its own verdict, as an edit.
    other = int(np.flatnonzero(info.labels != drawing.guess.digit)[0])
    for dim, value in enumerate(info.codes[other]):
        window.session.edit_value(dim, float(value))
    settle(qtbot, window)
    shown = window.session.output
    assert shown.edited and np.allclose(shown.code, info.codes[other])
    expected = engine.verdict(info, shown.code)
    assert label.text() == f"Edited code: {expected.describe()}"
    assert expected.digit == info.labels[other]          # its neighbours are its own kind
    window.latent_views.reset_action.trigger()
    settle(qtbot, window)
    assert label.text() == drawing.guess.describe().capitalize()
