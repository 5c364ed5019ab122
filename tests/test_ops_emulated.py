"""The CUDA kernels' own source, run on the CPU by the emulator (csrc/emu/cuda_emu.h): every
op, forward and backward, in every dtype, against the float64 reference, over shapes that
reach every padded latent size, partial and multi-block tiles, and with the threads of each
block run in several seeded orders between barriers. What this cannot see (warp-level
behaviour, the memory model, timing) is listed in the emulator's header and in README.

Marked `emulated`: `pytest -m emulated` runs these alone. They skip, saying why, where no
C++ compiler or CUDA headers are present; AEGUI_REQUIRE_EMULATION=1 (CI) makes that a
failure instead.
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

import cuda_emulator as E
from aegui.ops import _reference as ref
from ops_cases import OPS, assert_close, make_case

pytestmark = pytest.mark.emulated

ACTIVATIONS = ("relu", "gelu", "silu", "tanh", "identity")
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
DTYPE_IDS = ["f32", "f64", "f16", "bf16"]

# (B, H, Z). Tiles are 64 rows (32 in float64), chunks of H 32 columns, Z padded to 8, 16,
# 32 or 64, in slices of 64 beyond; batches of up to 4 rows take the small-batch forward.
SHAPES = [
    (0, 7, 5),       # empty batch: no launch forward, zero weight gradients backward
    (1, 1, 1),       # the smallest of everything
    (1, 300, 16),    # one drawing: the app's latency path, H over three encoder blocks
    (3, 33, 2),      # a partial chunk of H
    (4, 50, 100),    # the largest small batch, Z = 100
    (5, 130, 40),    # the smallest tiled batch
    (67, 45, 100),   # Z = 100 in two slices, two tiles
    (40, 20, 130),   # three slices, the last of two latents
    (65, 7, 17),     # a partial second tile; Z padded to 32
    (70, 100, 30),   # ae-30's latent size, two tiles, four chunks
    (33, 64, 64),    # Z = 64 exactly; two tiles in float64
    (5, 40, 33),     # Z in 33-63
    (130, 20, 8),    # three tiles (five in float64)
    (300, 3, 3),     # many small tiles
]


@pytest.fixture(scope="module", autouse=True)
def emulator():
    try:
        return E.library()
    except E.Unavailable as e:
        if os.environ.get("AEGUI_REQUIRE_EMULATION") == "1":
            pytest.fail(f"AEGUI_REQUIRE_EMULATION=1 but {e}")
        pytest.skip(str(e))


# ---------------------------------------------------------------------- the oracle


def reference_outputs(case, outs):
    """The float64 reference of every output. The decoder is checked from the z the
    kernel stored (in its dtype): that is the contract, and it keeps float16 apart from
    rounding noise at relu's kink."""
    x = {k: v.double() for k, v in case.inputs.items()}
    act = case.activation
    if case.op == "decode_head":
        return {"y": ref.decode_head(x["z"], x["w_dec"], x["b_dec"], act)}
    y = ref.decode_head(outs["z"].double(), x["w_dec"], x["b_dec"], act)
    if case.op == "bottleneck":
        return {"z": F.linear(x["h"], x["w_enc"], x["b_enc"]), "y": y}
    mu, logvar, z, _ = ref.variational_bottleneck(x["h"], x["w_mu"], x["b_mu"], x["w_logvar"], x["b_logvar"],
                                                  x["w_dec"], x["b_dec"], x.get("eps"), act)
    return {"mu": mu, "logvar": logvar, "z": z, "y": y}


GRADS_IN = {"bottleneck": ("grad_z", "grad_y"), "decode_head": ("grad_y",),
            "variational_bottleneck": ("grad_mu", "grad_logvar", "grad_z", "grad_y")}
ALL_WANTED = {"bottleneck": ["grad_h", "grad_w_enc", "grad_b_enc", "grad_w_dec", "grad_b_dec"],
              "decode_head": ["grad_z_in", "grad_w_dec", "grad_b_dec"],
              "variational_bottleneck": ["grad_h", "grad_w_enc", "grad_b_enc", "grad_w_lv", "grad_b_lv",
                                         "grad_w_dec", "grad_b_dec", "grad_eps"]}


def saved_for_backward(case, outs):
    """What the binding hands the backward kernels: inputs and the forward's own outputs."""
    i = case.inputs
    if case.op == "decode_head":
        return {"z": i["z"], "y": outs["y"], "w_dec": i["w_dec"], "b_dec": i["b_dec"]}
    saved = {"h": i["h"], "z": outs["z"], "y": outs["y"], "w_dec": i["w_dec"], "b_dec": i["b_dec"]}
    if case.op == "bottleneck":
        return {**saved, "w_enc": i["w_enc"]}
    return {**saved, "w_enc": i["w_mu"], "w_lv": i["w_logvar"], "eps": i.get("eps"), "logvar": outs["logvar"]}


def reference_grads(case, saved, grads_in):
    """The float64 analytic backward (itself tested against autograd in test_ops), from the
    same saved tensors the kernels get."""
    d = {k: (v.double() if v is not None else None) for k, v in {**saved, **grads_in}.items()}
    act = case.activation
    if case.op == "decode_head":
        g = ref.decode_head_backward(d.get("grad_y"), d["z"], d["w_dec"], d["b_dec"], act)
        return dict(zip(ALL_WANTED["decode_head"], g))
    if case.op == "bottleneck":
        g = ref.bottleneck_backward(d.get("grad_z"), d.get("grad_y"), d["h"], d["w_enc"], d["z"], d["w_dec"],
                                    d["b_dec"], act)
        return dict(zip(ALL_WANTED["bottleneck"], g))
    g = ref.variational_bottleneck_backward(d.get("grad_mu"), d.get("grad_logvar"), d.get("grad_z"),
                                            d.get("grad_y"), d["h"], d["w_enc"], d["w_lv"], d["eps"],
                                            d["logvar"], d["z"], d["w_dec"], d["b_dec"], act)
    return dict(zip(ALL_WANTED["variational_bottleneck"], g))


def random_grads(outs, names):
    g = torch.Generator().manual_seed(1000)
    dtype = outs["y"].dtype
    shape = {"grad_y": outs["y"].shape, "grad_z": outs.get("z", outs["y"]).shape}
    shape["grad_mu"] = shape["grad_logvar"] = shape["grad_z"]
    return {n: torch.randn(shape[n], generator=g, dtype=torch.float64).to(dtype) for n in names}


def check_case(case, dtype, seed, grads_in_names=None, wanted=None):
    """Forward and backward of the emulated kernels agree with the reference; `seed` draws
    the order of threads and blocks (the data come from the case)."""
    label = f"{case.op} {case.activation} {dtype} seed {seed}"
    outs = E.forward(case.op, case.inputs, case.activation, seed)
    for name, want in reference_outputs(case, outs).items():
        assert_close(outs[name], want, dtype, f"{label}: {name}")
    saved = saved_for_backward(case, outs)
    names = GRADS_IN[case.op] if grads_in_names is None else grads_in_names
    grads_in = random_grads(outs, names)
    wanted = ALL_WANTED[case.op] if wanted is None else wanted
    if "grad_eps" in wanted and saved.get("eps") is None:
        wanted = [w for w in wanted if w != "grad_eps"]
    got = E.backward(case.op, saved, grads_in, wanted, case.activation, seed)
    want = reference_grads(case, saved, grads_in)
    for name in wanted:
        assert_close(got[name], want[name], dtype, f"{label}: {name}")
    return outs, got


# ------------------------------------------------------------------------ the grid


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("op", OPS)
def test_kernels_match_reference_over_the_shape_grid(op, dtype):
    """Each shape with a different activation and fiber order (all five activations come
    round for every op and dtype)."""
    for k, (B, H, Z) in enumerate(SHAPES):
        act = ACTIVATIONS[(k + OPS.index(op)) % len(ACTIVATIONS)]
        case = make_case(op, B, H, Z, act, dtype, seed=k)
        check_case(case, dtype, seed=k + 1)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_on_a_two_tile_shape(op, activation, dtype):
    """relu included in float16 and bfloat16."""
    B = 40 if dtype == torch.float64 else 70  # two tiles either way
    case = make_case(op, B, 37, 12, activation, dtype, seed=3)
    check_case(case, dtype, seed=7)


@pytest.mark.parametrize("op", OPS)
def test_results_do_not_depend_on_the_order_of_threads(op):
    """Forward outputs, and the per-row gradients (no atomics), are bitwise the same for
    every seeded order of threads and blocks: a race on shared memory would show here."""
    case = make_case(op, 70, 45, 20, "silu", torch.float32, seed=5)
    first_outs, first_grads = check_case(case, torch.float32, seed=0)
    for seed in (1, 2, 3):
        outs, grads = check_case(case, torch.float32, seed=seed)
        for name in outs:
            assert torch.equal(outs[name], first_outs[name]), f"{op}: {name} changed with seed {seed}"
        for name in ("grad_h", "grad_eps", "grad_z_in"):
            if name in grads:
                assert torch.equal(grads[name], first_grads[name]), f"{op}: {name} changed with seed {seed}"


@pytest.mark.parametrize("op", OPS)
def test_incoming_gradients_may_be_absent_and_outputs_unwanted(op):
    """A null incoming gradient is zero; a null output is not written (and not needed)."""
    case = make_case(op, 66, 30, 9, "tanh", torch.float32, seed=8)
    for names in ([], ["grad_y"], [n for n in GRADS_IN[op] if n != "grad_y"]):
        check_case(case, torch.float32, seed=2, grads_in_names=names)
    for wanted in ALL_WANTED[op][:1], ALL_WANTED[op][1:]:
        check_case(case, torch.float32, seed=3, wanted=wanted)


@pytest.mark.parametrize("op", OPS)
def test_a_small_batch_is_spread_over_blocks(op):
    """One row does not run a 64-row tile on one block: the encoder's sums over H are split
    across blocks (and latent groups), and the decoder's columns too."""
    case = make_case(op, 1, 600, 64, "gelu", torch.float32, seed=12)
    check_case(case, torch.float32, seed=5)
    E.forward(op, case.inputs, "gelu", seed=5)
    blocks = [grid[0] * grid[1] * grid[2] for grid, _, _ in E.launches()]
    if op == "decode_head":
        assert blocks == [3]  # 600 columns of y, 256 per block
    else:
        factor = 2 if op == "variational_bottleneck" else 1  # w_mu and w_logvar
        assert blocks == [5 * 2 * factor, 3]  # 5 chunks of H x 2 groups of 32 latents; 3 for y
    tiled = make_case(op, 5, 600, 64, "gelu", torch.float32, seed=12)
    E.forward(op, tiled.inputs, "gelu", seed=5)
    assert [grid for grid, _, _ in E.launches()] == [(1, 1, 1)]  # five rows: one tile


def test_latents_beyond_64_are_handled_in_slices():
    """Z = 100 and 130: one launch per slice of 64 latents, forward and backward."""
    case = make_case("bottleneck", 67, 45, 130, "silu", torch.float32, seed=13)
    check_case(case, torch.float32, seed=6)
    E.forward("bottleneck", case.inputs, "silu", seed=6)
    assert len(E.launches()) == 3


def test_variational_without_eps():
    case = make_case("variational_bottleneck", 67, 25, 6, "gelu", torch.float32, seed=9, with_eps=False)
    outs, _ = check_case(case, torch.float32, seed=4)
    assert torch.equal(outs["z"], outs["mu"])


# --------------------------------------------------------------- determinism alert


def uses_atomics(op, B, wanted, grads_in=("grad_y",)):
    """The host-side decision behind torch's nondeterminism alert, for given null-ness."""
    import ctypes

    so = E.library()
    names = so.aegui_emu_backward_slots().decode().split()
    dummy = torch.zeros(1)
    arr = (ctypes.c_void_p * len(names))()
    for k, name in enumerate(names):
        given = name in wanted or name in grads_in or not name.startswith("grad_")
        arr[k] = dummy.data_ptr() if given else None
    return bool(so.aegui_emu_backward_uses_atomics(E.MODE_CODE[op], 1, B, 8, 4, arr))


@pytest.mark.parametrize("op", OPS)
def test_weight_gradients_are_reported_as_nondeterministic(op):
    """Weight and bias gradients are summed with float atomics: the binding raises torch's
    alert for them (an error under torch.use_deterministic_algorithms(True))."""
    assert uses_atomics(op, 5, ["grad_w_dec"])
    assert uses_atomics(op, 5, ["grad_b_dec"])
    if op != "decode_head":
        assert uses_atomics(op, 5, ["grad_w_enc"], grads_in=())
        assert uses_atomics(op, 5, ["grad_b_enc"], grads_in=())


@pytest.mark.parametrize("op", OPS)
def test_input_gradients_alone_are_deterministic(op):
    """Per-row gradients have no atomics, nor has an empty batch."""
    row_grads = {"decode_head": ["grad_z_in"], "bottleneck": ["grad_h"],
                 "variational_bottleneck": ["grad_h", "grad_eps"]}[op]
    assert not uses_atomics(op, 5, row_grads)
    assert not uses_atomics(op, 0, ALL_WANTED[op])
    assert not uses_atomics(op, 5, ["grad_w_dec", "grad_b_dec"], grads_in=())  # no grad_y: zeros


# ----------------------------------------------------------- the emulator itself


def selftest(which, seed=0):
    import ctypes

    out = torch.full((3 * 2048,), float("nan"))
    msg = ctypes.create_string_buffer(512)
    rc = E.library().aegui_emu_selftest(which, ctypes.c_void_p(out.data_ptr()), seed, msg, len(msg))
    return out, (msg.value.decode() if rc else None)


def test_emulator_catches_a_missing_barrier_in_every_order():
    expected = torch.tensor([float(255 - t + 1000 * b) for b in range(3) for t in range(256)])
    for seed in range(4):
        out, err = selftest(0, seed)  # with the barrier
        assert err is None and torch.equal(out[:768], expected)
        out, err = selftest(1, seed)  # without it: some threads read before the write
        assert err is None and not torch.equal(out[:768], expected)


@pytest.mark.parametrize("which,message", [
    (2, "exited while others wait at __syncthreads"),
    (3, "wait at different __syncthreads"),
    (4, "shared memory over 48 KB"),
    (5, "misaligned 128-bit load"),
    (7, "invalid configuration argument"),
])
def test_emulator_reports_what_a_device_would_not_forgive(which, message):
    _, err = selftest(which, seed=1)
    assert err is not None and message in err


def test_emulator_indices_are_cudas():
    out, err = selftest(6, seed=3)
    assert err is None
    n = 2 * 3 * 2 * 4 * 2 * 3
    block, thread = torch.arange(n) // 24, torch.arange(n) % 24
    assert torch.equal(out[:n], (1000 * block + thread).float())
