"""File ▸ Open Checkpoint on files that are not checkpoints: the message says what the file
is, never passes on advice to load it unsafely, and the model in use stays."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from gui_helpers import settle

# What a file starts with, what the message must say it is.
NOT_CHECKPOINTS = {
    "notes": (b"My notes on the model.\nlr 3e-4, 30 epochs, it looked fine.\n", "a text file"),
    "picture": (b"\x89PNG\r\n\x1a\n" + bytes(64), "a PNG image"),
    "photo": (b"\xff\xd8\xff\xe0" + bytes(64), "a JPEG image"),
    "pickled": (pickle.dumps({"weights": [1.0, 2.0]}), "a pickle"),
}
UNSAFE_ADVICE = ("weights_only", "Python objects", "trust", "WeightsUnpickler", "add_safe_globals")


@pytest.mark.parametrize("name", sorted(NOT_CHECKPOINTS))
def test_a_file_that_is_not_a_checkpoint_is_named_for_what_it_is(window, qtbot, tmp_path, name):
    content, kind = NOT_CHECKPOINTS[name]
    path = tmp_path / f"{name}.pt"
    path.write_bytes(content)
    before = window.session.info
    window.dialogs.ask_open_path = lambda *args: str(path)
    window.models.open_checkpoint_action.trigger()
    settle(qtbot, window)
    [(title, text)] = window.errors
    assert title == "Cannot open the model"
    assert str(path) in text and f"not an aegui checkpoint: it is {kind}" in text, text
    for advice in UNSAFE_ADVICE:
        assert advice.lower() not in text.lower(), advice
    assert window.session.info is before and "current model stays" in text


def test_a_pickle_asking_for_python_objects_is_refused_without_advice_to_load_it(window, qtbot, tmp_path):
    import torch

    path = tmp_path / "made-elsewhere.pt"
    torch.save({"model": np.dtype("float32"), "steps": 3}, path)     # a zip archive asking for numpy objects
    window.dialogs.ask_open_path = lambda *args: str(path)
    window.models.open_checkpoint_action.trigger()
    settle(qtbot, window)
    [(_title, text)] = window.errors
    assert "nothing of it was loaded or called" in text, text
    for advice in UNSAFE_ADVICE:
        assert advice.lower() not in text.lower(), advice
