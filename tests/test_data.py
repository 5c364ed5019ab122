"""Specification of aegui.data: reading MNIST-like data sets from the layouts users have.

Every test writes its own small files under tmp_path; one test reads the real
shared/data/mnist.npz and skips with the reason when it is absent.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import struct
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from aegui import data
from aegui.data import DataError, Digits, file_sha256, load_digits, resolve_data_path
from aegui.preprocess import mnist_style, to_uint8

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def small_set(side: int = 28, n_train: int = 6, n_test: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """A tiny digit set: a bright square somewhere in each image, labels 0..9."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in (("train", n_train), ("test", n_test)):
        images = np.zeros((count, side, side), np.uint8)
        for image in images:
            top, left = rng.integers(0, side // 2, 2)
            image[top : top + side // 3, left : left + side // 4] = rng.integers(100, 256)
        arrays[f"x_{split}"] = images
        arrays[f"y_{split}"] = rng.integers(0, 10, count).astype(np.uint8)
    return arrays


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    np.savez_compressed(path, **arrays)
    return path


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    if magic is None:
        magic = IMAGES_MAGIC if array.ndim == 3 else LABELS_MAGIC
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, np.uint8).tobytes()


def write_idx_set(directory: Path, arrays: dict[str, np.ndarray], gz: bool = False) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for split, stem in IDX_NAMES.items():
        content = idx_bytes(arrays[split])
        if gz:
            (directory / f"{stem}.gz").write_bytes(gzip.compress(content))
        else:
            (directory / stem).write_bytes(content)
    return directory


def assert_same_set(digits: Digits, arrays: dict[str, np.ndarray]) -> None:
    for split in ("x_train", "y_train", "x_test", "y_test"):
        got = getattr(digits, split)
        assert got.dtype == np.uint8, split
        assert got.flags.writeable, f"{split} is read-only"
        np.testing.assert_array_equal(got, arrays[split], err_msg=split)


# --- layouts -----------------------------------------------------------------


def test_keras_npz_is_read_with_its_file_digest(tmp_path):
    arrays = small_set()
    path = write_npz(tmp_path / "mnist.npz", arrays)
    digits = load_digits(path)
    assert_same_set(digits, arrays)
    assert digits.source == str(path)
    assert digits.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_idx_directory_is_read(tmp_path):
    arrays = small_set()
    digits = load_digits(write_idx_set(tmp_path / "raw_dir", arrays))
    assert_same_set(digits, arrays)
    assert digits.source == str(tmp_path / "raw_dir")


def test_idx_digest_covers_the_four_decompressed_files_in_fixed_order(tmp_path):
    arrays = small_set()
    plain = load_digits(write_idx_set(tmp_path / "plain", arrays))
    gzipped = load_digits(write_idx_set(tmp_path / "gzipped", arrays, gz=True))
    expected = hashlib.sha256(b"".join(idx_bytes(arrays[split]) for split in IDX_NAMES)).hexdigest()
    assert plain.sha256 == gzipped.sha256 == expected


def test_gzipped_idx_files_are_read(tmp_path):
    arrays = small_set()
    assert_same_set(load_digits(write_idx_set(tmp_path, arrays, gz=True)), arrays)


def test_torchvision_root_with_mnist_raw_is_read(tmp_path):
    arrays = small_set()
    write_idx_set(tmp_path / "MNIST" / "raw", arrays, gz=True)
    digits = load_digits(tmp_path)
    assert_same_set(digits, arrays)
    assert digits.source == str(tmp_path / "MNIST" / "raw")


def test_parent_of_a_raw_directory_is_read(tmp_path):
    arrays = small_set()
    write_idx_set(tmp_path / "raw", arrays)
    assert_same_set(load_digits(tmp_path), arrays)


def test_path_of_one_idx_file_reads_its_directory(tmp_path):
    arrays = small_set()
    write_idx_set(tmp_path, arrays, gz=True)
    assert_same_set(load_digits(tmp_path / "t10k-labels-idx1-ubyte.gz"), arrays)


def test_plain_idx_file_is_preferred_over_its_gz_copy(tmp_path):
    arrays = small_set()
    write_idx_set(tmp_path, arrays)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"stale, corrupt download")
    assert_same_set(load_digits(tmp_path), arrays)


def test_directory_holding_mnist_npz_reads_it(tmp_path):
    arrays = small_set()
    write_npz(tmp_path / "mnist.npz", arrays)
    assert_same_set(load_digits(tmp_path), arrays)


def test_npz_of_16x16_images_is_framed_to_28x28_uint8(tmp_path):
    arrays = small_set(side=16)
    digits = load_digits(write_npz(tmp_path / "usps.npz", arrays))
    assert digits.x_train.shape == (6, 28, 28) and digits.x_test.shape == (4, 28, 28)
    assert digits.x_train.dtype == np.uint8
    np.testing.assert_array_equal(digits.x_test[2], to_uint8(mnist_style(arrays["x_test"][2])))
    np.testing.assert_array_equal(digits.y_train, arrays["y_train"])


def test_integer_arrays_that_fit_uint8_are_converted(tmp_path):
    arrays = {key: value.astype(np.int64) for key, value in small_set().items()}
    digits = load_digits(write_npz(tmp_path / "wide.npz", arrays))
    assert_same_set(digits, arrays)


def test_digits_repr_is_a_short_summary(tmp_path):
    text = repr(load_digits(write_npz(tmp_path / "mnist.npz", small_set())))
    assert "train=6" in text and "test=4" in text and "mnist.npz" in text
    assert len(text) < 200


# --- errors: each names the file ---------------------------------------------


def test_missing_path_is_a_data_error_naming_it(tmp_path):
    with pytest.raises(DataError, match="nowhere.npz.*no such file"):
        load_digits(tmp_path / "nowhere.npz")


def test_directory_without_data_says_what_it_looked_for(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty.*train-images-idx3-ubyte.*MNIST/raw"):
        load_digits(tmp_path / "empty")


def test_idx_directory_missing_one_file_names_it(tmp_path):
    write_idx_set(tmp_path, small_set())
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.*missing"):
        load_digits(tmp_path)


def test_truncated_idx_file_is_reported(tmp_path):
    write_idx_set(tmp_path, small_set())
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.*truncated"):
        load_digits(tmp_path)


def test_idx_file_cut_inside_its_header_is_reported(tmp_path):
    write_idx_set(tmp_path, small_set())
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:10])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.*truncated"):
        load_digits(tmp_path)


def test_truncated_gzip_idx_file_is_reported(tmp_path):
    write_idx_set(tmp_path, small_set(), gz=True)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz.*truncated"):
        load_digits(tmp_path)


def test_wrong_magic_number_is_reported(tmp_path):
    arrays = small_set()
    write_idx_set(tmp_path, arrays)
    # Labels where images belong: a file swapped by hand.
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(arrays["y_train"]))
    with pytest.raises(DataError, match="train-images-idx3-ubyte.*magic number 0x00000801.*0x00000803"):
        load_digits(tmp_path)


def test_idx_label_count_must_match_image_count(tmp_path):
    arrays = small_set()
    write_idx_set(tmp_path, arrays)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(arrays["y_test"][:-1]))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.*3 labels for 4 images"):
        load_digits(tmp_path)


def test_idx_labels_must_be_digits(tmp_path):
    arrays = small_set()
    arrays["y_train"][3] = 10
    write_idx_set(tmp_path, arrays)
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.*0..10.*0..9"):
        load_digits(tmp_path)


def test_npz_missing_a_key_names_it(tmp_path):
    arrays = small_set()
    del arrays["y_test"]
    path = write_npz(tmp_path / "partial.npz", arrays)
    with pytest.raises(DataError, match="partial.npz.*missing key.*y_test"):
        load_digits(path)


def test_npz_label_count_must_match_image_count(tmp_path):
    arrays = small_set()
    arrays["y_train"] = arrays["y_train"][:5]
    path = write_npz(tmp_path / "uneven.npz", arrays)
    with pytest.raises(DataError, match="uneven.npz: y_train: 5 labels for 6 images"):
        load_digits(path)


def test_npz_labels_must_be_digits(tmp_path):
    arrays = small_set()
    arrays["y_test"] = arrays["y_test"].astype(np.int64) - 1
    arrays["y_test"][0] = -1
    path = write_npz(tmp_path / "signed.npz", arrays)
    with pytest.raises(DataError, match="signed.npz: y_test: labels range -1.*0..9"):
        load_digits(path)


def test_npz_images_must_be_a_stack_of_2d_images(tmp_path):
    arrays = small_set()
    arrays["x_train"] = arrays["x_train"].reshape(6, -1)
    path = write_npz(tmp_path / "flat.npz", arrays)
    with pytest.raises(DataError, match=r"flat.npz: x_train: expected images of shape \(N, rows, cols\)"):
        load_digits(path)


def test_npz_images_must_be_uint8_compatible(tmp_path):
    arrays = small_set()
    arrays["x_test"] = arrays["x_test"] / 255.0
    path = write_npz(tmp_path / "floats.npz", arrays)
    with pytest.raises(DataError, match="floats.npz: x_test: expected uint8.*float64"):
        load_digits(path)


@pytest.mark.parametrize(
    "content",
    [b"", b"not a data set at all\n" * 10, b"PK\x03\x04" + b"\0" * 40],
    ids=["empty file", "text", "broken zip"],
)
def test_garbage_file_is_not_taken_for_npz(tmp_path, content):
    path = tmp_path / "garbage.bin"
    path.write_bytes(content)
    with pytest.raises(DataError, match="garbage.bin: not a .npz archive with keys x_train"):
        load_digits(path)


def test_truncated_npz_is_reported(tmp_path):
    path = write_npz(tmp_path / "cut.npz", small_set())
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match="cut.npz: not a .npz archive"):
        load_digits(path)


def test_single_npy_array_is_not_taken_for_npz(tmp_path):
    path = tmp_path / "images.npy"
    np.save(path, small_set()["x_train"])
    with pytest.raises(DataError, match="images.npy: a single .npy array"):
        load_digits(path)


def test_data_error_is_a_value_error():
    assert issubclass(DataError, ValueError)


# --- digests and the data path -----------------------------------------------


def test_file_sha256_is_the_hex_digest_of_the_bytes(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"aegui" * 100_000)
    assert file_sha256(path) == hashlib.sha256(b"aegui" * 100_000).hexdigest()


def test_file_sha256_of_a_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="absent.npz"):
        file_sha256(tmp_path / "absent.npz")


def test_data_path_argument_wins_over_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("AEGUI_DATA", str(tmp_path / "from-env"))
    assert resolve_data_path(str(tmp_path / "from-arg")) == tmp_path / "from-arg"


def test_data_path_falls_back_to_aegui_data(monkeypatch, tmp_path):
    monkeypatch.setenv("AEGUI_DATA", str(tmp_path / "mnist.npz"))
    assert resolve_data_path(None) == tmp_path / "mnist.npz"
    assert resolve_data_path("") == tmp_path / "mnist.npz"


def test_no_data_path_says_how_to_give_one(monkeypatch):
    monkeypatch.delenv("AEGUI_DATA", raising=False)
    with pytest.raises(DataError, match=r"--data PATH.*AEGUI_DATA.*nothing is downloaded"):
        resolve_data_path(None)


# --- the real thing ------------------------------------------------------------


def test_real_mnist_npz_has_mnists_shapes_and_first_labels():
    if not SHARED_MNIST.exists():
        pytest.skip(f"real MNIST not found: {SHARED_MNIST} is absent")
    digits = load_digits(SHARED_MNIST)
    assert digits.x_train.shape == (60000, 28, 28) and digits.y_train.shape == (60000,)
    assert digits.x_test.shape == (10000, 28, 28) and digits.y_test.shape == (10000,)
    assert (digits.y_train[0], digits.y_test[0]) == (5, 7)
    assert digits.sha256 == "da231c08013e217002c4f393e0f38583bf5a62a5ead805d541bdacd45803e00f"


# --- hostile files: declared sizes are bounded before anything is inflated ------------------


def traced_peak(function, *args):
    """The peak of Python and numpy allocations while ``function`` runs (both report to
    tracemalloc), and the exception it raised."""
    tracemalloc.start()
    try:
        function(*args)
        raised = None
    except Exception as err:  # noqa: BLE001 - returned to the test
        raised = err
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, raised


def gzip_stream(path: Path, header: bytes, zeros: int) -> None:
    """A .gz of ``header`` followed by ``zeros`` zero bytes, written without holding them."""
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(header)
        for _ in range(zeros >> 20):
            out.write(bytes(1 << 20))


def test_an_idx_gz_holding_far_more_than_its_header_declares_is_not_inflated(tmp_path):
    write_idx_set(tmp_path, small_set(), gz=True)
    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    gzip_stream(bomb, struct.pack(">IIII", IMAGES_MAGIC, 10, 28, 28), 64 << 20)
    assert bomb.stat().st_size < 1 << 20
    peak, raised = traced_peak(load_digits, tmp_path)
    assert isinstance(raised, DataError) and "train-images-idx3-ubyte.gz" in str(raised)
    assert "trailing bytes" in str(raised)
    assert peak < 8 << 20


@pytest.mark.parametrize("dims", [(0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (1 << 31, 28, 28)],
                         ids=["overflowing", "2^31 images"])
def test_idx_headers_declaring_too_much_are_refused_before_reading_naming_the_file(tmp_path, dims):
    for gz in (False, True):
        write_idx_set(tmp_path, small_set(), gz=gz)
        name = "t10k-images-idx3-ubyte" + (".gz" if gz else "")
        header = struct.pack(">IIII", IMAGES_MAGIC, *dims) + bytes(100)
        (tmp_path / name).write_bytes(gzip.compress(header) if gz else header)
        peak, raised = traced_peak(load_digits, tmp_path)
        assert isinstance(raised, DataError) and name in str(raised), raised
        assert "declares" in str(raised) and f"{dims[0]}" in str(raised).replace(",", "")
        assert peak < 8 << 20
        for path in tmp_path.iterdir():
            path.unlink()


def npz_with_member(path: Path, key: str, member: bytes, arrays: dict | None = None) -> Path:
    """The small set as .npz, with the member ``key``.npy replaced by raw ``member`` bytes."""
    arrays = small_set() if arrays is None else arrays
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, array in arrays.items():
            if name != key:
                buffer = io.BytesIO()
                np.save(buffer, array)
                z.writestr(f"{name}.npy", buffer.getvalue())
        z.writestr(f"{key}.npy", member)
    return path


def npy_header(shape, dtype="|u1") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def test_an_npz_member_declaring_more_than_it_holds_is_refused_before_allocating(tmp_path):
    path = npz_with_member(tmp_path / "liar.npz", "x_train", npy_header((1_000_000, 28, 28)) + bytes(784))
    peak, raised = traced_peak(load_digits, path)
    assert isinstance(raised, DataError), raised
    assert "liar.npz" in str(raised) and "x_train" in str(raised) and "declares" in str(raised)
    assert peak < 16 << 20


def test_an_npz_declaring_more_data_than_the_reader_takes_is_refused(tmp_path):
    huge = data.MAX_DATA_BYTES + 784
    path = npz_with_member(tmp_path / "huge.npz", "x_test", npy_header((huge // 784, 28, 28)))
    peak, raised = traced_peak(load_digits, path)
    assert isinstance(raised, DataError) and "huge.npz" in str(raised), raised
    assert peak < 16 << 20


def test_an_npz_of_python_objects_says_so_and_loads_none_of_them(tmp_path):
    arrays = small_set()
    arrays["y_train"] = np.array([object()] * 6, dtype=object)
    path = tmp_path / "objects.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=r"objects\.npz: y_train .*Python objects"):
        load_digits(path)


def test_a_data_folder_that_cannot_be_read_says_so(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.listdir

    def listdir(folder="."):
        if Path(folder) == locked:
            raise PermissionError(13, "Permission denied", str(folder))
        return real(folder)

    monkeypatch.setattr(os, "listdir", listdir)
    with pytest.raises(DataError, match=r"locked: cannot read the folder: Permission denied"):
        load_digits(locked)


def test_an_npz_member_with_a_garbled_header_is_a_data_error(tmp_path):
    """numpy parses .npy headers with Python's tokenizer, which fails in its own ways (found
    by tests/test_fuzz.py)."""
    header = b"\x93NUMPY\x01\x00" + struct.pack("<H", 22) + b"{'descr': '|u1', 'sha\n"
    path = npz_with_member(tmp_path / "garbled.npz", "y_test", header)
    with pytest.raises(DataError, match=r"garbled\.npz: y_test: not a \.npy array"):
        load_digits(path)
