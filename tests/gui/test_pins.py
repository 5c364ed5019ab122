"""Pinning in the window: the thumbnail of a pin is what was pinned (the drawing as the
network saw it, or an edited code's decoding) and the interpolation starts from it."""

from __future__ import annotations

import numpy as np
from gui_helpers import draw_digit, settle

from aegui.preprocess import to_uint8


def test_an_edited_code_is_pinned_with_the_decoding_shown(window, qtbot):
    draw_digit(window.canvas, "3")
    settle(qtbot, window)
    window.latent_views.edit(2, 2.5)
    settle(qtbot, window)
    shown = window.network.reconstruction.pixels()
    window.interpolation.pin_a_action.trigger()
    panel = window.interpolation_panel
    np.testing.assert_array_equal(panel.view_a.pixels(), shown)
    assert not np.array_equal(panel.view_a.pixels(), window.network.model_input.pixels())
    window.latent_views.reset_action.trigger()
    window.document.clear()
    draw_digit(window.canvas, "7")
    settle(qtbot, window)
    window.interpolation.pin_b_action.trigger()
    settle(qtbot, window)
    np.testing.assert_array_equal(panel.view_b.pixels(), window.network.model_input.pixels())
    strip = window.session.strip
    np.testing.assert_allclose(strip[0], window.session.interpolation.a.frame, atol=1e-4)   # starts where A shows
    np.testing.assert_array_equal(panel.view_a.pixels(), to_uint8(window.session.interpolation.a.frame))
