"""The shipped models: names like ``ae-16`` mapped to files in ``resources/models/``.

Each shipped model is one checkpoint, ``<name>.pt``, beside its model card ``<name>.md``.
The folder is found by ``aegui.resources``: inside an installed package, or in the source
checkout (and an editable install).
"""

from __future__ import annotations

from pathlib import Path

from aegui.resources import resources_dir

__all__ = ["BY_CODE_SIZE", "DEFAULT", "MODELS_DIR", "SHIPPED", "available", "model_card", "path_of"]

MODELS_DIR = resources_dir() / "models"
SUFFIX = ".pt"
# The zoo the project ships, in the order the app lists them; the first is the default.
SHIPPED = ("ae-16", "ae-2", "ae-30", "vae-16")
DEFAULT = SHIPPED[0]
# The plain autoencoders of the zoo, one per code size, narrowest first: they differ in
# nothing else, so side by side they show what a narrower bottleneck forgets.
BY_CODE_SIZE = ("ae-2", "ae-16", "ae-30")


def available() -> list[str]:
    """Names of the shipped models whose files are present (listed ones first, in order,
    then any other checkpoint dropped into the folder)."""
    present = {p.stem for p in MODELS_DIR.glob(f"*{SUFFIX}") if p.is_file()}
    return [n for n in SHIPPED if n in present] + sorted(present - set(SHIPPED))


def path_of(name: str) -> Path:
    """The checkpoint file of a shipped model name (which may not exist yet)."""
    return MODELS_DIR / f"{name}{SUFFIX}"


_METRIC_ROWS = (
    ("sse", "SSE per test image (sum over 784 pixels in [0, 1])", "{:.3f}"),
    ("bce", "BCE per pixel", "{:.4f}"),
    ("nats", "BCE-sum + KL, nats per image (one sample)", "{:.2f}"),
    ("kl", "KL, nats per image", "{:.2f}"),
    ("knn5_accuracy", "5-NN accuracy in latent space (train -> test)", "{:.2%}"),
    ("latency_ms", "encode + decode, one image, median ms", "{:.3f}"),
    ("code_10nn_agreement", "10-NN label agreement of the 5,000 reference digits in the full code", "{:.2%}"),
    ("map_10nn_agreement", "10-NN label agreement on the latent map (2-D, `aegui eval --map`)", "{:.2%}"),
    ("linear_10nn_agreement", "10-NN label agreement on the linear view (two principal components)", "{:.2%}"),
)


def _head_data(meta: dict) -> str:
    """What a head fitted after training (``python -m aegui.verdict_fit``) was shown."""
    data = meta.get("head_data")
    if not data:
        return ""
    pen = (f" and {data['pen_digits'] * data.get('pen_copies', 1)} drawings of writers {data.get('pen_writers', '?')}"
           if "pen_digits" in data else "")
    return f", after training, on {data.get('mnist_images', '?')} MNIST training digits{pen}"


def model_card(model, metrics: dict | None = None) -> str:
    """The model card of a trained model, in markdown: what it is, how it was trained
    (from its checkpoint's metadata) and its test metrics (``metrics`` or its own)."""
    metrics = model.metrics if metrics is None else metrics
    meta = model.metadata
    params = sum(p.numel() for p in model.parameters())
    kind = "variational autoencoder" if model.kind == "vae" else "autoencoder"
    lines = [f"# {model.name}", "",
             f"{'An' if kind[0] in 'aeiou' else 'A'} {kind} with a {model.latent_dim}-dimensional code, "
             "on the fused bottleneck op.", "",
             "| | |", "|---|---|",
             f"| architecture | {model.config.describe()} |",
             f"| parameters | {params:,} ({params * 4 / 1e6:.1f} MB as float32) |"]
    if meta:
        tc = meta.get("train_config", {})
        loss = f"BCE + beta KL, beta {tc.get('beta')}" if model.kind == "vae" else tc.get("loss", "?")
        lines += [
            f"| data | {meta.get('data_file', '?')} (sha256 `{str(meta.get('data_sha256', '?'))[:16]}...`), "
            f"{_own_images(meta)} training images"
            + (f" and {meta['extra_images']} more (below)" if meta.get("extra_images") else "") + " |",
            f"| training | {meta.get('epochs_done', '?')} epochs, batch {tc.get('batch_size', '?')}, Adam lr "
            f"{tc.get('lr', '?')} (cosine), loss {loss}, seed {meta.get('seed', '?')}"
            + (f"; denoising: inputs corrupted up to strength {tc['corrupt']}, targets clean"
               if tc.get("corrupt") else "") + " |",
            *([f"| pen digits | {meta['pen_digits']} digits of writers {meta.get('pen_writers', '?')} in "
               f"{meta.get('pen_data_file', '?')} (sha256 `{str(meta.get('pen_data_sha256', '?'))[:16]}...`), "
               f"drawn {meta.get('pen_copies', '?')} times each ({meta.get('pen_render_seconds', '?')} s) |"]
              if "pen_digits" in meta else []),
            f"| augmentation | {'pen digits: slant, rotation, aspect, elastic; size, place, pen' if 'pen_digits' in meta else 'none'} |",
            f"| training time | {meta.get('training_seconds', 0) / 60:.1f} min on {meta.get('trained_on', '?')}"
            + (f" (a shared machine: load average {meta['load_average']:.1f} on {meta.get('cpu_count', '?')} "
               f"cores)" if meta.get("load_average", 0) > (meta.get("cpu_count") or 1) else "") + " |",
            *([f"| verdict head | trained on the frozen encoder in {meta['head_seconds']} s{_head_data(meta)} |"]
              if "head_seconds" in meta else []),
            f"| command | `{meta.get('command', '?')}` |",
            f"| saved | {meta.get('saved_at', '?')} with aegui {meta.get('versions', {}).get('aegui', '?')}, "
            f"torch {meta.get('versions', {}).get('torch', '?')} |",
        ]
    if metrics:
        lines += ["", f"## Test metrics (`aegui eval {model.name} --data mnist.npz`)", "",
                  "| metric | value |", "|---|---|"]
        for key, label, fmt in _METRIC_ROWS:
            if key in metrics:
                lines.append(f"| {label} | {fmt.format(metrics[key])} |")
        if "latency_device" in metrics:
            lines.append(f"| latency measured on | {metrics['latency_device']} |")
    if metrics and metrics.get("drawn"):
        lines += _drawn_section(model.name, metrics["drawn"])
    return "\n".join(lines) + "\n"


def _own_images(meta: dict):
    """The training images of the data file itself (not the drawings added to them)."""
    total = meta.get("train_images")
    return total - meta.get("extra_images", 0) if isinstance(total, int) else "?"


def _drawn_section(name: str, drawn: dict) -> list[str]:
    """The drawn-digits benchmark's figures (``aegui eval NAME --drawn ...``) as markdown."""
    pct = lambda v: "-" if v is None else f"{v:.1%}"  # noqa: E731
    from aegui.pen_data import VALIDATION_WRITERS, parse_writers_text

    writers = drawn.get("writers") or []
    who = (f"the validation writers ({parse_writers_text(writers)}), none of them trained on"
           if writers and set(writers) <= set(VALIDATION_WRITERS) else f"writers {parse_writers_text(writers)}")
    lines = ["", f"## Drawn digits (`aegui eval {name} --drawn pendigits-train.npz`)", "",
             f"{drawn['digits']} real pen-drawn digits of {who}, drawn "
             f"through the canvas's rasteriser at heights of 15-90% of the page, pens of 6-80 px, "
             f"anywhere on the page (seed {drawn.get('seed', 0)}), read as the app reads a drawing.", "",
             "| metric | value |", "|---|---|",
             f"| verdict right | {pct(drawn['accuracy'])} |",
             f"| wrong digit named | {pct(drawn['wrong'])} |",
             f"| not sure | {pct(drawn['unsure'])} |",
             f"| called not a digit | {pct(drawn['rejected'])} |"]
    lines += [f"| right per digit | {' · '.join(f'{d}: {pct(v)}' for d, v in drawn['per_digit'].items())} |",
              f"| right per pen width | {' · '.join(f'{b} px: {pct(v)}' for b, v in drawn['per_pen'].items())} |",
              f"| right per height | {' · '.join(f'{b}: {pct(v)}' for b, v in drawn['per_size'].items())} |"]
    if drawn.get("sse") is not None:
        lines.append(f"| reconstruction SSE per image | {drawn['sse']:.3f} |")
    for kind, share in (drawn.get("non_digits") or {}).items():
        lines.append(f"| {kind}s called not a digit | {pct(share)} |")
    confusions = ", ".join(f"{t} as {s} ({c})" for t, s, c in drawn.get("confusions", [])[:6])
    lines.append(f"| most frequent confusions | {confusions or 'none'} |")
    return lines
