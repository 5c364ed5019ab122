"""The ``aegui`` command: the app by default, and ``bench``, ``train``, ``eval``,
``screenshot`` subcommands. Arguments are parsed in ``main()``, never at import time,
and each subcommand imports what it needs only when it runs (``aegui bench ops`` works
on a machine without Qt)."""

from __future__ import annotations

import argparse
import sys


def _add_bench(sub) -> None:
    bench = sub.add_parser("bench", help="benchmarks that print ratios measured side by side")
    which = bench.add_subparsers(dest="bench", required=True)
    o = which.add_parser("ops", help="fused bottleneck op vs eager PyTorch and torch.compile")
    o.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    o.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    o.add_argument("--activation", default="relu", choices=("relu", "gelu", "silu", "tanh", "identity"))
    o.add_argument("--dtype", default="float32", choices=("float32", "float64", "float16", "bfloat16"))
    o.add_argument("--batches", default="1,64,4096,65536", help="comma-separated batch sizes")
    o.add_argument("--hidden", default="256,1024", help="comma-separated hidden sizes H")
    o.add_argument("--latent", type=int, default=16, help="latent size Z")
    o.add_argument("--modes", default="inference,fwd+bwd")
    o.add_argument("--no-compile", action="store_true", help="skip torch.compile (saves minutes)")
    o.add_argument("--rounds", type=int, default=15, help="interleaved timing rounds per case")
    a = which.add_parser("app", help="stroke-to-screen latency of the real window, offscreen")
    a.add_argument("--json", metavar="PATH")
    a.add_argument("--model", default=None, help="shipped model name or checkpoint path")
    a.add_argument("--events", type=int, default=600, help="mouse-move events to replay (>= 500)")


def _run_bench(args) -> int:
    if args.bench == "ops":
        from .bench import run_ops_benchmark

        ints = lambda s: tuple(int(x) for x in s.split(",") if x)  # noqa: E731
        run_ops_benchmark(device=args.device, activation=args.activation, dtype=args.dtype,
                          batches=ints(args.batches), hidden=ints(args.hidden), latent=args.latent,
                          modes=tuple(m for m in args.modes.split(",") if m),
                          with_compile=not args.no_compile, rounds=args.rounds, json_path=args.json)
        return 0
    from .gui.bench_app import run_app_benchmark

    return run_app_benchmark(model=args.model, events=args.events, json_path=args.json)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aegui", description="See what an autoencoder learns.")
    parser.add_argument("--model", default=None, help="model to open: a shipped name or a checkpoint path")
    sub = parser.add_subparsers(dest="command")
    _add_bench(sub)
    shot = sub.add_parser("screenshot", help="draw a sample digit offscreen and save the window as PNG")
    shot.add_argument("path")
    shot.add_argument("--model", default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "bench":
        return _run_bench(args)
    if args.command == "screenshot":
        from .gui.app import screenshot

        return screenshot(args.path, model=args.model)
    from .gui.app import run_app

    return run_app(model=args.model)


if __name__ == "__main__":
    sys.exit(main())
