"""Bad input into the op raises a Python exception whose message names the argument, on
the compiled path and on the reference path alike. Never a crash."""

from __future__ import annotations

import pytest
import torch

from aegui import ops
from aegui.ops.bottleneck import BOTTLENECK


def good(B=4, H=6, Z=3, dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)  # noqa: E731
    return dict(h=r(B, H), w_enc=r(Z, H), b_enc=r(Z), w_dec=r(H, Z), b_dec=r(H))


def compiled(**kw):
    a = {**good(), **kw}
    return ops.bottleneck(a["h"], a["w_enc"], a["b_enc"], a["w_dec"], a["b_dec"], kw.get("activation", "relu"))


def reference(**kw):
    """The pure-PyTorch path, as it runs when the compiled op is unavailable."""
    a = {**good(), **kw}
    return BOTTLENECK.checked_reference(a["h"], a["w_enc"], a["b_enc"], a["w_dec"], a["b_dec"],
                                        kw.get("activation", "relu"))


PATHS = {"compiled": compiled, "reference": reference}

BAD = {
    "mismatched H in w_enc": (dict(w_enc=torch.randn(3, 7)), ValueError, ["w_enc", "(3, 7)", "H = 6", "from h"]),
    "mismatched Z in b_enc": (dict(b_enc=torch.randn(4)), ValueError, ["b_enc", "Z = 3", "from w_enc"]),
    "mismatched H in w_dec": (dict(w_dec=torch.randn(5, 3)), ValueError, ["w_dec", "H = 6"]),
    "mismatched Z in w_dec": (dict(w_dec=torch.randn(6, 2)), ValueError, ["w_dec", "Z = 3"]),
    "1-D input": (dict(h=torch.randn(6)), ValueError, ["h", "must be 2-D", "1-D"]),
    "3-D input": (dict(h=torch.randn(2, 4, 6)), ValueError, ["h", "must be 2-D"]),
    "2-D bias": (dict(b_dec=torch.randn(6, 1)), ValueError, ["b_dec", "must be 1-D"]),
    "mixed dtypes": (dict(b_enc=torch.randn(3, dtype=torch.float64)), TypeError, ["b_enc", "float64", "float32"]),
    "integer input": (dict(h=torch.ones(4, 6, dtype=torch.int64)), TypeError, ["h", "int64"]),
    "half on the CPU": (dict(**{k: v.half() for k, v in good().items()}), TypeError, ["h", "float16", "CPU"]),
    "unknown activation": (dict(activation="swish"), ValueError, ["activation", "swish", "relu, gelu"]),
}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", BAD)
def test_bad_input_raises_naming_the_argument(path, name):
    if path == "compiled" and ops.backend("cpu") != "cpu":
        pytest.skip("compiled op not loaded")
    overrides, error, words = BAD[name]
    with pytest.raises(error) as info:
        PATHS[path](**overrides)
    for word in words:
        assert word in str(info.value), f"{word!r} not in: {info.value}"


@pytest.mark.parametrize("path", PATHS)
def test_mixed_devices_are_refused(path):
    # A meta tensor stands in for a second device where there is no GPU.
    other = "cuda" if torch.cuda.is_available() else "meta"
    with pytest.raises(ValueError) as info:
        PATHS[path](w_dec=torch.randn(6, 3, device=other))
    assert "w_dec" in str(info.value) and "device" in str(info.value)


def test_variational_and_decode_head_check_their_arguments_too():
    a = good()
    with pytest.raises(ValueError, match="eps"):
        ops.variational_bottleneck(a["h"], a["w_enc"], a["b_enc"], a["w_enc"], a["b_enc"], a["w_dec"], a["b_dec"],
                                   eps=torch.randn(4, 5))
    with pytest.raises(ValueError, match="w_logvar"):
        ops.variational_bottleneck(a["h"], a["w_enc"], a["b_enc"], torch.randn(2, 6), a["b_enc"], a["w_dec"],
                                   a["b_dec"])
    with pytest.raises(ValueError, match="z must be 2-D"):
        ops.decode_head(torch.randn(3), a["w_dec"], a["b_dec"])
    with pytest.raises(ValueError, match="b_dec"):
        ops.decode_head(torch.randn(2, 3), a["w_dec"], torch.randn(5))


def test_the_backward_op_checks_its_arguments():
    if ops.backend("cpu") != "cpu":
        pytest.skip("compiled op not loaded")
    a = good()
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match="grad_y"):
        torch.ops.aegui.bottleneck_backward(None, torch.randn(4, 5), a["h"], a["w_enc"], a["w_dec"], a["b_dec"], z,
                                            None, "relu", [True] * 5)
    with pytest.raises(ValueError, match="output_mask"):
        torch.ops.aegui.bottleneck_backward(None, None, a["h"], a["w_enc"], a["w_dec"], a["b_dec"], z, None, "relu",
                                            [True] * 4)


def test_a_failed_call_leaves_the_op_usable():
    with pytest.raises(ValueError):
        compiled(h=torch.randn(6))
    z, y = compiled()
    assert z.shape == (4, 3) and y.shape == (4, 6)
