"""Fuzzing every reader of files: random bytes, mutated real files and crafted bombs.

Run by tests/test_fuzz.py in a process of its own, so that its peak memory is its own:

    python tests/fuzz_readers.py --cases 60 --seed 0 --out FOLDER

For each reader (checkpoints, IDX plain and gzipped, npz, the PCA fit, PNG drawings) it makes a small
valid file, then feeds the reader ``--cases`` mutations of it: bit flips, overwritten
bytes, large integers written over headers, truncations, insertions, random bytes; and
mutations *inside* the container (a zip record or a PNG chunk changed with its CRC made
right again, gzip content changed and recompressed, a checkpoint's payload changed and
its digest recomputed), which reach the parsers behind the integrity checks. Then a fixed
list of bombs: files of a few hundred kB that declare hundreds of MB.

Each case must end in a valid result (checked: shapes, dtypes, ranges, a forward pass of
a loaded model) or one of aegui's errors (``aegui.errors.InputError``) naming the file;
it must not raise the process's peak memory by more than ``--max-growth-mb`` nor take
more than ``--max-seconds``. Prints one JSON line: the counts and every failure; inputs
that failed are saved in ``--out`` to reproduce them.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import resource
import shutil
import struct
import sys
import tempfile
import time
import traceback
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from aegui import drawings, models, pca
from aegui.data import load_digits
from aegui.errors import InputError
from aegui.models import ModelConfig, Reference
from aegui.models.checkpoint import payload_digest
from aegui.preprocess import mnist_style

IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")
LARGE = (0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0x10000000, 1 << 24)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # kB on Linux


# ---------------------------------------------------------------------- valid files


def small_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x_train = rng.integers(0, 256, (6, 28, 28)).astype(np.uint8)
    x_test = rng.integers(0, 256, (4, 28, 28)).astype(np.uint8)
    return {"x_train": x_train, "y_train": rng.integers(0, 10, 6).astype(np.uint8),
            "x_test": x_test, "y_test": rng.integers(0, 10, 4).astype(np.uint8)}


def idx_bytes(array: np.ndarray) -> bytes:
    magic = 0x803 if array.ndim == 3 else 0x801
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def idx_files() -> dict[str, bytes]:
    arrays = small_arrays()
    return dict(zip(IDX_NAMES, (idx_bytes(arrays[k]) for k in ("x_train", "y_train", "x_test", "y_test"))))


def npz_bytes(compressed: bool) -> bytes:
    out = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(out, **small_arrays())
    return out.getvalue()


def checkpoint_bytes(folder: Path) -> bytes:
    model = models.create(config=ModelConfig(kind="vae", latent_dim=2, channels=(), hidden=(4,)), seed=0)
    rng = np.random.default_rng(0)
    model.reference = Reference(codes=rng.normal(size=(12, 2)).astype(np.float32),
                                labels=rng.integers(0, 10, 12).astype(np.uint8), indices=np.arange(12) * 3)
    model.metrics = {"sse": 4.5}
    model.metadata = {"history": [{"epoch": 1, "loss": 2.0}], "command": "aegui train"}
    return models.save(model, folder / "seed.pt").read_bytes()


def pca_bytes(folder: Path) -> bytes:
    rng = np.random.default_rng(0)
    fitted = pca.fit(rng.integers(0, 256, (40, 28, 28)).astype(np.uint8), 3, data_sha256="0" * 64)
    return pca.save(fitted, folder / "seed-pca.npz").read_bytes()


def png_bytes() -> bytes:
    image = np.zeros((40, 36), np.uint8)
    image[6:34, 15:21] = 255
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG")
    return out.getvalue()


# ---------------------------------------------------------------------- mutations


def mutate_bytes(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """One of the byte-level mutations, by name."""
    data = bytearray(data)
    kind = rng.choice(["flip", "overwrite", "large", "truncate", "insert", "splice", "random"])
    n = len(data)
    if kind == "random" or n == 0:
        prefix = bytes(data[: rng.integers(0, 9)]) if rng.random() < 0.5 else b""
        return prefix + rng.bytes(int(rng.integers(0, 4096))), "random"
    if kind == "flip":
        for _ in range(rng.integers(1, 9)):
            data[rng.integers(0, n)] ^= 1 << int(rng.integers(0, 8))
    elif kind == "overwrite":
        for _ in range(rng.integers(1, 17)):
            data[rng.integers(0, n)] = int(rng.integers(0, 256))
    elif kind == "large":
        at = int(rng.integers(0, max(n - 4, 1)))
        data[at:at + 4] = struct.pack(">I" if rng.random() < 0.5 else "<I", int(rng.choice(LARGE)))
    elif kind == "truncate":
        data = data[: rng.integers(0, n)]
    elif kind == "insert":
        at = int(rng.integers(0, n))
        data[at:at] = rng.bytes(int(rng.integers(1, 64)))
    else:
        a, b = sorted(rng.integers(0, n, 2))
        at = int(rng.integers(0, n))
        data[at:at] = data[a:b]
    return bytes(data), str(kind)


def mutate_zip_member(data: bytes, rng, pick: Callable[[list[str]], str] | None = None) -> tuple[bytes, str]:
    """A zip with one record's bytes mutated and its CRC right again (stored as it was)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        records = [(info, z.read(info)) for info in z.infolist()]
    names = [info.filename for info, _ in records]
    target = pick(names) if pick else names[int(rng.integers(0, len(names)))]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info, content in records:
            if info.filename == target:
                content, _ = mutate_bytes(content, rng)
            z.writestr(info, content)
    return out.getvalue(), f"record {target}"


def mutate_gzip_content(data: bytes, rng) -> tuple[bytes, str]:
    content, kind = mutate_bytes(gzip.decompress(data), rng)
    return gzip.compress(content), f"content {kind}"


def mutate_png_chunk(data: bytes, rng) -> tuple[bytes, str]:
    """A PNG with one chunk's data mutated and its CRC recomputed (IHDR's sizes included)."""
    chunks, at = [], 8
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        chunks.append((kind, data[at + 8: at + 8 + length]))
        at += 12 + length
    index = int(rng.integers(0, len(chunks)))
    kind, body = chunks[index]
    if kind == b"IHDR" and rng.random() < 0.5:
        body = struct.pack(">II", int(rng.choice(LARGE)) % (1 << 31), int(rng.integers(1, 1 << 16))) + body[8:]
    else:
        body, _ = mutate_bytes(body, rng)
    chunks[index] = (kind, body)
    out = data[:8] + b"".join(struct.pack(">I", len(b)) + k + b + struct.pack(">I", zlib.crc32(k + b))
                              for k, b in chunks)
    return out, f"chunk {kind.decode(errors='replace')}"


ODD_VALUES = [None, -1, 1 << 70, "x", float("nan"), [], {}, [1, 2], torch.zeros(0),
              torch.full((3,), float("inf")), torch.zeros(2, 2, dtype=torch.float64),
              torch.zeros(5, dtype=torch.int64) - 3, torch.ones(1 << 12, dtype=torch.uint8) * 200]


def mutate_payload(data: bytes, rng, folder: Path) -> tuple[bytes, str]:
    """A checkpoint with one value anywhere in its payload replaced by an odd one and its
    digest recomputed: only the plausibility checks stand in the way."""
    path = folder / "payload.pt"
    path.write_bytes(data)
    payload = torch.load(path, weights_only=True)
    places = []

    def collect(node, trail):
        if isinstance(node, dict):
            for key, value in node.items():
                if trail or key not in ("format", "digest"):
                    places.append((node, key, trail + [str(key)]))
                    collect(value, trail + [str(key)])
    collect(payload, [])
    node, key, trail = places[int(rng.integers(0, len(places)))]
    node[key] = ODD_VALUES[int(rng.integers(0, len(ODD_VALUES)))]
    payload["digest"] = payload_digest(payload)
    torch.save(payload, path)
    return path.read_bytes(), "payload " + ".".join(trail)


# ---------------------------------------------------------------------- readers


def read_checkpoint(path: Path) -> None:
    ckpt = models.read_checkpoint(path)
    model = ckpt.model
    assert all(torch.isfinite(p).all() for p in model.parameters())
    with torch.inference_mode():
        z, image = model.reconstruct(torch.zeros(1, 1, 28, 28))
    assert z.shape == (1, model.latent_dim) and image.shape == (1, 1, 28, 28)
    if model.reference is not None:
        assert np.isfinite(model.reference.codes).all() and model.reference.labels.max() <= 9


def read_digits(path: Path) -> None:
    digits = load_digits(path)
    for x, y in ((digits.x_train, digits.y_train), (digits.x_test, digits.y_test)):
        assert x.dtype == np.uint8 and x.ndim == 3 and x.shape[1:] == (28, 28) and len(x) >= 1
        assert y.dtype == np.uint8 and y.shape == (len(x),) and y.max() <= 9


def read_pca(path: Path) -> None:
    fitted = pca.load(path)
    k = fitted.max_components
    assert fitted.components.shape == (k, 784) and np.isfinite(fitted.components).all()
    image = fitted.reconstruct(np.full((28, 28), 0.5, np.float32), k)
    assert image.shape == (1, 28, 28) and 0 <= image.min() and image.max() <= 1


def read_drawing(path: Path) -> None:
    grey = drawings.read_grey(path)
    assert grey.dtype == np.uint8 and grey.ndim == 2 and grey.size <= drawings.MAX_PIXELS
    images, labels = drawings.load_training_set(path.parent.parent)
    assert images.shape == (1, 28, 28) and images.dtype == np.uint8 and labels.tolist() == [3]


@dataclass
class Target:
    name: str
    seed: bytes
    mutate: Callable            # (bytes, rng) -> (bytes, description)
    place: Callable             # (case folder, bytes) -> the path to read
    read: Callable              # (path) -> None, raising on a bad result


def place_file(name: str):
    def place(folder: Path, data: bytes) -> Path:
        (folder / name).write_bytes(data)
        return folder / name
    return place


def place_idx(mutated: str, gz: bool):
    def place(folder: Path, data: bytes) -> Path:
        for name, content in idx_files().items():
            target = folder / (name + (".gz" if gz else ""))
            target.write_bytes(data if name == mutated else gzip.compress(content) if gz else content)
        return folder
    return place


def place_drawing(folder: Path, data: bytes) -> Path:
    (folder / "3").mkdir()
    (folder / "3" / "case.png").write_bytes(data)
    return folder / "3" / "case.png"


def targets(work: Path) -> list[Target]:
    idx = idx_files()
    ckpt = checkpoint_bytes(work)
    scratch = work / "scratch"
    scratch.mkdir()
    pkl = lambda names: next(n for n in names if n.endswith("data.pkl"))  # noqa: E731
    return [
        Target("checkpoint", ckpt, mutate_bytes, place_file("model.pt"), read_checkpoint),
        Target("checkpoint record", ckpt, mutate_zip_member, place_file("model.pt"), read_checkpoint),
        Target("checkpoint pickle", ckpt, lambda d, r: mutate_zip_member(d, r, pkl), place_file("model.pt"),
               read_checkpoint),
        Target("checkpoint payload", ckpt, lambda d, r: mutate_payload(d, r, scratch), place_file("model.pt"),
               read_checkpoint),
        Target("idx images", idx[IDX_NAMES[0]], mutate_bytes, place_idx(IDX_NAMES[0], False), read_digits),
        Target("idx labels", idx[IDX_NAMES[3]], mutate_bytes, place_idx(IDX_NAMES[3], False), read_digits),
        Target("idx.gz", gzip.compress(idx[IDX_NAMES[2]]), mutate_bytes, place_idx(IDX_NAMES[2], True),
               read_digits),
        Target("idx.gz content", gzip.compress(idx[IDX_NAMES[0]]), mutate_gzip_content,
               place_idx(IDX_NAMES[0], True), read_digits),
        Target("npz", npz_bytes(True), mutate_bytes, place_file("data.npz"), read_digits),
        Target("npz member", npz_bytes(False), mutate_zip_member, place_file("data.npz"), read_digits),
        Target("pca", pca_bytes(scratch), mutate_bytes, place_file("pca.npz"), read_pca),
        Target("pca member", pca_bytes(scratch), mutate_zip_member, place_file("pca.npz"), read_pca),
        Target("png", png_bytes(), mutate_bytes, place_drawing, read_drawing),
        Target("png chunk", png_bytes(), mutate_png_chunk, place_drawing, read_drawing),
    ]


# ---------------------------------------------------------------------- bombs


def deflated_zeros(size: int) -> bytes:
    """A raw deflate stream of ``size`` zero bytes, whole blocks, final: anything deflated
    with a sync flush can go before it."""
    z = zlib.compressobj(1, zlib.DEFLATED, -15)
    block = bytes(1 << 20)
    return b"".join(z.compress(block) for _ in range(size >> 20)) + z.flush()


def raw_deflate_prefix(prefix: bytes) -> bytes:
    z = zlib.compressobj(1, zlib.DEFLATED, -15)
    return z.compress(prefix) + z.flush(zlib.Z_SYNC_FLUSH)


def crc_of_zeros(size: int, start: int = 0) -> int:
    crc, block = start, bytes(1 << 20)
    for _ in range(size >> 20):
        crc = zlib.crc32(block, crc)
    return crc


def build_zip(records: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip archive written by hand: (name, bytes as stored, method, CRC-32, size) per
    record, so that a deflated record can be any stream, however much it inflates to."""
    out, central = bytearray(), bytearray()
    for name, body, method, crc, size in records:
        encoded, offset = name.encode(), len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(body), size,
                           len(encoded), 0) + encoded + body
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc, len(body), size,
                               len(encoded), 0, 0, 0, 0, 0, offset) + encoded
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(records), len(records), len(central), len(out), 0)
    return bytes(out + central + end)


def stored(name: str, content: bytes) -> tuple[str, bytes, int, int, int]:
    return name, content, 0, zlib.crc32(content), len(content)


def deflated(name: str, prefix: bytes, zeros: bytes, size: int) -> tuple[str, bytes, int, int, int]:
    """A record of ``prefix`` and then ``size`` zeros (``zeros``: their deflate stream)."""
    return name, raw_deflate_prefix(prefix) + zeros, 8, crc_of_zeros(size, zlib.crc32(prefix)), len(prefix) + size


def bombs(work: Path, size: int) -> list[tuple[str, Callable[[Path], Path], Callable]]:
    """(name, make the file in a folder, reader): each declares ``size`` bytes or more."""
    zeros = deflated_zeros(size)
    ckpt = checkpoint_bytes(work)

    def checkpoint_bomb(folder):
        with zipfile.ZipFile(io.BytesIO(ckpt)) as z:
            records = [deflated(i.filename, b"", zeros, size) if i.filename.endswith("data/0")
                       else stored(i.filename, z.read(i)) for i in z.infolist()]
        (folder / "bomb.pt").write_bytes(build_zip(records))
        return folder / "bomb.pt"

    def idx_gz_bomb(folder):
        place_idx(IDX_NAMES[0], True)(folder, b"")
        header = struct.pack(">IIII", 0x803, 10, 28, 28)
        crc, length = crc_of_zeros(size, zlib.crc32(header)), len(header) + size
        body = raw_deflate_prefix(header) + zeros
        gz = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + body + struct.pack("<II", crc, length & 0xFFFFFFFF)
        (folder / (IDX_NAMES[0] + ".gz")).write_bytes(gz)
        return folder

    def npz_bomb(folder):
        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(buffer, {"descr": "|u1", "fortran_order": False,
                                                      "shape": (10, 28, 28)})
        arrays = small_arrays()
        records = [deflated("x_train.npy", buffer.getvalue(), zeros, size)]
        for key in ("y_train", "x_test", "y_test"):
            member = io.BytesIO()
            np.save(member, arrays[key])
            records.append(stored(f"{key}.npy", member.getvalue()))
        (folder / "bomb.npz").write_bytes(build_zip(records))
        return folder / "bomb.npz"

    def big_png(folder):
        (folder / "3").mkdir()
        side = 12000
        z = zlib.compressobj(1)
        row = bytes(side + 1)
        idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
        chunk = lambda k, b: struct.pack(">I", len(b)) + k + b + struct.pack(">I", zlib.crc32(k + b))  # noqa: E731
        header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
        (folder / "3" / "case.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat)
                                                + chunk(b"IEND", b""))
        return folder / "3" / "case.png"

    def wide_config(folder):
        path = folder / "wide.pt"
        path.write_bytes(ckpt)
        payload = torch.load(path, weights_only=True)
        payload["config"]["hidden"] = [1 << 20, 1 << 20]
        payload["digest"] = payload_digest(payload)
        torch.save(payload, path)
        return path

    def stride_zero(folder):
        path = folder / "view.pt"
        path.write_bytes(ckpt)
        payload = torch.load(path, weights_only=True)
        payload["metadata"]["view"] = torch.zeros(1).expand(size)
        torch.save(payload, path)       # the digest cannot even be computed for it
        return path

    return [("checkpoint with a deflated record", checkpoint_bomb, read_checkpoint),
            ("IDX .gz holding more than declared", idx_gz_bomb, read_digits),
            ("npz member declaring more than its header", npz_bomb, read_digits),
            ("144 Mpx PNG drawing", big_png, read_drawing),
            ("config of hidden 2^20 x 2^20", wide_config, read_checkpoint),
            ("stride-0 tensor of many elements", stride_zero, read_checkpoint)]


def frame_huge_canvas(folder: Path) -> None:
    """mnist_style of a 12000x12000 canvas: the canvas is 144 MB (counted), framing it must
    cost little more (a float copy would be 576 MB). Run last: it raises the high-water mark."""
    canvas = np.full((12000, 12000), 3, np.uint8)
    canvas[3000:9000, 5000:7000] = 255
    frame = mnist_style(canvas)
    assert frame.shape == (28, 28) and frame.max() == 1.0


# ---------------------------------------------------------------------- running


class Run:
    def __init__(self, out: Path, max_growth_mb: float, max_seconds: float):
        self.out, self.max_growth_mb, self.max_seconds = out, max_growth_mb, max_seconds
        self.cases = self.valid = self.refused = 0
        self.failures: list[dict] = []
        self.baseline = peak_rss_mb()
        self.growth_reported = False
        self.slowest = 0.0

    def case(self, folder: Path, name: str, how: str, make: Callable[[Path], Path], read: Callable,
             data: bytes | None = None) -> None:
        self.cases += 1
        failure = None
        started = time.perf_counter()
        try:
            path = make(folder)
            read(path)
            self.valid += 1
        except InputError as err:
            self.refused += 1
            if str(folder) not in str(err):
                failure = f"error does not name the file: {err}"
        except Exception as err:  # noqa: BLE001 - what the fuzzer is looking for
            failure = "".join(traceback.format_exception_only(err)).strip()[-600:]
        seconds = time.perf_counter() - started
        self.slowest = max(self.slowest, seconds)
        growth = peak_rss_mb() - self.baseline
        if growth > self.max_growth_mb and not self.growth_reported:
            self.growth_reported = True
            failure = (failure + "; " if failure else "") + f"peak memory grew by {growth:.0f} MB"
        if seconds > self.max_seconds:
            failure = (failure + "; " if failure else "") + f"took {seconds:.1f} s"
        if failure:
            saved = None
            if data is not None:
                saved = self.out / f"case-{len(self.failures)}.bin"
                saved.write_bytes(data)
            self.failures.append({"reader": name, "input": how, "failure": failure,
                                  "saved": str(saved) if saved else None})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=60, help="mutations per reader")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("fuzz-failures"))
    parser.add_argument("--bomb-mb", type=int, default=320, help="what each bomb declares")
    parser.add_argument("--max-growth-mb", type=float, default=200)
    parser.add_argument("--max-seconds", type=float, default=20)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        readers = targets(work)
        for i, target in enumerate(readers):        # every seed file is valid, and warms up its reader
            folder = work / f"warm-{i}"
            folder.mkdir()
            target.read(target.place(folder, target.seed))
        made = bombs(work, args.bomb_mb << 20)
        run = Run(args.out, args.max_growth_mb, args.max_seconds)
        for i, (name, make, read) in enumerate(made):
            folder = work / f"bomb-{i}"
            folder.mkdir()
            run.case(folder, name, "bomb", make, read)
            shutil.rmtree(folder)
        rng = np.random.default_rng(args.seed)
        for target in readers:
            for i in range(args.cases):
                data, how = target.mutate(target.seed, rng)
                folder = work / "case"
                folder.mkdir()
                run.case(folder, target.name, f"seed {args.seed} case {i}: {how}",
                         lambda f, d=data, t=target: t.place(f, d), target.read, data)
                shutil.rmtree(folder)
        run.case(work, "mnist_style", "a 12000x12000 canvas", lambda f: f, frame_huge_canvas)
    print(json.dumps({"cases": run.cases, "valid": run.valid, "refused": run.refused, "bombs": len(made),
                      "readers": len(readers), "peak_growth_mb": round(peak_rss_mb() - run.baseline, 1),
                      "slowest_s": round(run.slowest, 2), "failures": run.failures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
