"""Integrity of checkpoint files: the zip container checked before torch reads it, and one
digest over every record of the payload after.

A checkpoint is the zip archive ``torch.save`` writes: one pickle (``data.pkl``) and one
record per tensor storage, each stored uncompressed with its CRC-32. ``check_archive``
reads the archive's directory and refuses, before torch allocates anything, what torch.save
never writes: compressed records (a few kB that inflate to gigabytes), records that declare
more bytes than the file has, a pickle larger than any checkpoint's; then it reads every
record once to check its CRC, so a flipped bit anywhere is caught, not only in the weights.

``inspect`` walks the loaded payload (any records, including ones a later version adds)
with bounded depth and item count, refuses tensors that declare more elements than they
store (a stride-0 view of 2^40 elements over one float), notes the tensors holding NaN or
infinity, and returns the sha256 of a canonical encoding of it all: the digest a version-2
checkpoint records over every record but the digest itself.

Standard library and torch only; errors are ``ArchiveError`` and ``RecordError``, which
``checkpoint`` turns into ``CheckpointError`` naming the file.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zipfile
from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = ["ArchiveError", "MAX_ITEMS", "MAX_NESTING", "MAX_PICKLE_BYTES", "MAX_RECORDS", "RecordError",
           "Inspection", "check_archive", "inspect"]

# Far beyond any aegui checkpoint (about 20 records, a pickle of a few kB, a few hundred
# items), far below what would cost memory or time to check.
MAX_RECORDS = 10_000
MAX_PICKLE_BYTES = 64 << 20
MAX_ITEMS = 200_000
MAX_NESTING = 32
_CHUNK = 1 << 20


class ArchiveError(ValueError):
    """The file is not a sound torch.save archive; the message says why (without the path)."""


class RecordError(ValueError):
    """A record of the payload is malformed; ``path`` says which (``metadata.history[0]``)."""

    def __init__(self, path: str, why: str):
        super().__init__(f"record {path or 'payload'} {why}")
        self.path = path


def check_archive(path: str | os.PathLike, size: int) -> None:
    """Refuse what torch.save never writes, by the archive's directory alone, then check
    every record's CRC-32 (reading the file once, a chunk at a time)."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            _check_directory(infos, size)
            for info in infos:
                with archive.open(info) as record:   # checks the CRC when the end is read
                    while record.read(_CHUNK):
                        pass
    except ArchiveError:
        raise
    except zipfile.BadZipFile as err:
        if "CRC" in str(err):
            raise ArchiveError(f"corrupt checkpoint: {err} (the file was changed after it was written)") from None
        kind = what_it_is(path)
        if kind:
            raise ArchiveError(f"not an aegui checkpoint: it is {kind}") from None
        raise ArchiveError(f"truncated or damaged, or not an aegui checkpoint: not a complete zip archive "
                           f"as torch.save writes ({err})") from None
    except (OSError, EOFError, RuntimeError, ValueError, NotImplementedError, struct.error) as err:
        raise ArchiveError(f"truncated or damaged, or not an aegui checkpoint: an unreadable zip archive "
                           f"({type(err).__name__}: {err})") from None


# What a file is, told by how it starts (checked in order; text is told apart last).
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
               (b"BM", "a BMP image"), (b"\x1f\x8b", "a gzip file"), (b"\x93NUMPY", "a numpy array (.npy)"),
               (b"%PDF", "a PDF document"), (b"\x89HDF", "an HDF5 file (Keras, not PyTorch)"))


def what_it_is(path: str | os.PathLike) -> str:
    """What a file that is no zip archive is, by its first bytes ("" when not known): an
    image, a pickle (torch's legacy format or a plain one: aegui only reads the zip archives
    torch.save writes, whose every record can be checked before loading), a text file..."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(512)
    except OSError:
        return ""
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return ("a pickle (torch's legacy format, or a plain pickle), not the zip archive aegui checkpoints "
                "are; it is not read")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as err:
        text = head[:err.start].decode("utf-8") if err.start >= len(head) - 3 else ""
    if text and sum(c.isprintable() or c in "\n\r\t" for c in text) >= 0.95 * len(text):
        return "a text file"
    return ""


def _check_directory(infos: list[zipfile.ZipInfo], size: int) -> None:
    if not infos or len(infos) > MAX_RECORDS:
        raise ArchiveError(f"not an aegui checkpoint: a zip archive of {len(infos)} records, not what "
                           f"torch.save writes")
    pickles = [info for info in infos if info.filename.rsplit("/", 1)[-1] == "data.pkl"]
    if len(pickles) != 1:
        raise ArchiveError("not an aegui checkpoint: a zip archive without the one data.pkl torch.save writes")
    declared = 0
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
            raise ArchiveError(f"not an aegui checkpoint as aegui writes them: record {info.filename!r} is "
                               f"compressed ({info.file_size:,} bytes from {info.compress_size:,}), which "
                               f"torch.save never does; refused before reading it")
        declared += info.file_size
    if declared > size:
        raise ArchiveError(f"damaged checkpoint: its records declare {declared:,} bytes, more than the "
                           f"file's {size:,}")
    if pickles[0].file_size > MAX_PICKLE_BYTES:
        raise ArchiveError(f"not an aegui checkpoint: its pickle is {pickles[0].file_size:,} bytes, more than "
                           f"the {MAX_PICKLE_BYTES:,} any checkpoint needs")


@dataclass
class Inspection:
    """What ``inspect`` found: the digest of every record and where NaN or inf are."""

    digest: str
    nonfinite: list[str] = field(default_factory=list)


def inspect(payload: dict, skip: tuple[str, ...] = ("digest",)) -> Inspection:
    """Walk every record of ``payload`` (but the top-level keys in ``skip``): bounded, each
    tensor's declared size checked against its storage; the sha256 of it all."""
    walker = _Walker()
    walker.add({k: v for k, v in payload.items() if k not in skip}, "", 0)
    return Inspection(walker.digest.hexdigest(), walker.nonfinite)


class _Walker:
    """A canonical, type-tagged encoding fed to sha256: equal payloads give equal digests
    whatever their dict order; a tensor is its dtype, shape and bytes."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.items = 0
        self.nonfinite: list[str] = []

    def add(self, value, path: str, depth: int) -> None:
        self.items += 1
        if self.items > MAX_ITEMS:
            raise RecordError(path, f"holds too many items (over {MAX_ITEMS:,})")
        if depth > MAX_NESTING:
            raise RecordError(path, f"is nested too deep (over {MAX_NESTING} levels)")
        if isinstance(value, torch.Tensor):
            self._tensor(value, path)
        elif isinstance(value, dict):
            self._dict(value, path, depth)
        elif isinstance(value, (list, tuple)):
            tag = b"S" if isinstance(value, torch.Size) else b"t" if isinstance(value, tuple) else b"l"
            self.digest.update(tag + _length(len(value)))
            for i, item in enumerate(value):
                self.add(item, f"{path}[{i}]", depth + 1)
        elif isinstance(value, (set, frozenset)):
            keys = sorted(_key(item, path) for item in value)
            self.items += len(keys)
            self.digest.update(b"e" + _length(len(keys)) + b"".join(keys))
        else:
            self.digest.update(_key(value, path))

    def _dict(self, value: dict, path: str, depth: int) -> None:
        keyed = sorted(((_key(k, path), k) for k in value), key=lambda pair: pair[0])
        self.digest.update(b"d" + _length(len(keyed)))
        for encoded, k in keyed:
            self.digest.update(encoded)
            self.add(value[k], f"{path}.{k}" if path else str(k), depth + 1)

    def _tensor(self, t: torch.Tensor, path: str) -> None:
        if t.layout != torch.strided or t.device.type != "cpu" or t.is_quantized or t.is_nested \
                or t.is_conj() or t.is_neg():
            raise RecordError(path, f"is a kind of tensor aegui never writes ({t.layout}, {t.device}, {t.dtype})")
        self.digest.update(f"x{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel() == 0:     # no bytes (and any strides and offset, which view() would refuse)
            return
        stored = t.untyped_storage().nbytes() - t.storage_offset() * t.element_size()
        if t.numel() * t.element_size() > stored:
            raise RecordError(path, f"declares more elements than it stores ({t.numel():,} elements of "
                                    f"{t.element_size()} bytes in {stored:,} bytes)")
        flat = t.detach().contiguous().reshape(-1)
        self.digest.update(flat.view(torch.uint8).numpy())
        if (t.is_floating_point() or t.is_complex()) and not _finite(flat):
            self.nonfinite.append(path)


def _finite(flat: torch.Tensor) -> bool:
    # numpy where it can: torch.isfinite starts its thread pool, which costs more than the
    # check itself on a busy machine.
    if flat.dtype in (torch.float16, torch.float32, torch.float64, torch.complex64, torch.complex128):
        return bool(np.isfinite(flat.numpy()).all())
    return bool(torch.isfinite(flat).all())


def _length(n: int) -> bytes:
    return struct.pack("<Q", n)


def _key(value, path: str, depth: int = 0) -> bytes:
    """The encoding of a scalar (and of dict keys and set items, which may be tuples)."""
    if value is None:
        return b"N"
    if isinstance(value, bool):
        return b"T" if value else b"F"
    if isinstance(value, int):
        raw = value.to_bytes(value.bit_length() // 8 + 1, "little", signed=True)
        return b"i" + _length(len(raw)) + raw
    if isinstance(value, float):
        return b"f" + struct.pack("<d", value)
    if isinstance(value, complex):
        return b"c" + struct.pack("<dd", value.real, value.imag)
    if isinstance(value, str):
        raw = value.encode("utf-8", "surrogatepass")
        return b"s" + _length(len(raw)) + raw
    if isinstance(value, (bytes, bytearray)):
        return b"b" + _length(len(value)) + bytes(value)
    if isinstance(value, (torch.dtype, torch.device)):
        raw = str(value).encode()
        return b"y" + _length(len(raw)) + raw
    if isinstance(value, tuple) and depth < MAX_NESTING:
        return b"t" + _length(len(value)) + b"".join(_key(v, path, depth + 1) for v in value)
    raise RecordError(path, f"holds a {type(value).__name__}, which aegui checkpoints never hold")
