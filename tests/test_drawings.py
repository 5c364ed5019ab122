"""The user's drawings folder: a documented layout of labelled PNGs that the app writes and
deletes and that training reads (``aegui train --extra-data DIR``)."""

from __future__ import annotations

import os
import struct
import time
import zlib

import numpy as np
import pytest
from drawn_digits import canvas_digit
from PIL import Image, ImageFile

from aegui import drawings
from aegui.drawings import DrawingsError, Sample
from aegui.paper import ink_from_picture
from aegui.preprocess import mnist_style, to_uint8


def test_saving_writes_the_canvas_and_its_28x28_framing_under_the_label(tmp_path):
    canvas = canvas_digit("3")
    sample = drawings.save_drawing(tmp_path, 3, canvas)
    assert sample.original_path == tmp_path / "3" / f"{sample.id}.png"
    assert sample.frame_path == tmp_path / "3" / f"{sample.id}.28.png"
    with Image.open(sample.original_path) as original, Image.open(sample.frame_path) as frame:
        assert (original.mode, original.size) == ("L", (512, 512))
        assert (frame.mode, frame.size) == ("L", (28, 28))
        np.testing.assert_array_equal(np.asarray(original), canvas)
        np.testing.assert_array_equal(np.asarray(frame), to_uint8(mnist_style(canvas)))
    assert sorted(os.listdir(tmp_path / "3")) == sorted([f"{sample.id}.png", f"{sample.id}.28.png"])


def test_drawings_are_listed_per_digit_in_the_order_they_were_saved(tmp_path):
    saved = [drawings.save_drawing(tmp_path, label, canvas_digit(d, seed=i))
             for i, (label, d) in enumerate([(7, "7"), (1, "1"), (7, "7"), (7, "7")])]
    assert len({s.id for s in saved}) == 4
    assert drawings.list_drawings(tmp_path, 7) == [saved[0], saved[2], saved[3]]
    assert drawings.list_drawings(tmp_path) == [saved[1], saved[0], saved[2], saved[3]]
    assert drawings.counts(tmp_path) == {**dict.fromkeys(range(10), 0), 1: 1, 7: 3}
    assert drawings.counts(tmp_path / "nothing here") == dict.fromkeys(range(10), 0)


def test_deleting_a_drawing_removes_both_of_its_files(tmp_path):
    keep = drawings.save_drawing(tmp_path, 0, canvas_digit("0"))
    gone = drawings.save_drawing(tmp_path, 0, canvas_digit("0", seed=1))
    drawings.delete_drawing(gone)
    assert not gone.original_path.exists() and not gone.frame_path.exists()
    assert drawings.list_drawings(tmp_path) == [keep]
    drawings.delete_drawing(gone)            # deleting twice is harmless


@pytest.mark.parametrize("label, canvas, why", [
    (4, np.zeros((512, 512), np.uint8), "empty"),
    (10, canvas_digit("1"), "0..9"),
    (-1, canvas_digit("1"), "0..9"),
    ("3", canvas_digit("1"), "0..9"),
])
def test_an_empty_drawing_or_a_label_that_is_no_digit_is_refused_and_writes_nothing(tmp_path, label, canvas, why):
    with pytest.raises(DrawingsError, match=why):
        drawings.save_drawing(tmp_path, label, canvas)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_a_write_that_fails_leaves_neither_the_file_nor_a_temporary_one(tmp_path, monkeypatch):
    def broken_disk(fd):
        raise OSError("no space left on device")

    monkeypatch.setattr(os, "fsync", broken_disk)
    with pytest.raises(OSError, match="no space"):
        drawings.save_drawing(tmp_path, 2, canvas_digit("2"))
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_the_training_set_is_every_framing_with_its_label(tmp_path):
    a = drawings.save_drawing(tmp_path, 8, canvas_digit("8"))
    b = drawings.save_drawing(tmp_path, 2, canvas_digit("2"))
    images, labels = drawings.load_training_set(tmp_path)
    assert images.dtype == np.uint8 and images.shape == (2, 28, 28)
    assert labels.dtype == np.uint8 and labels.tolist() == [2, 8]
    np.testing.assert_array_equal(images[0], b.frame())
    np.testing.assert_array_equal(images[1], a.frame())


def test_the_training_set_is_what_the_trainer_takes_as_extra_images(tmp_path):
    from synthetic_digits import TINY, synthetic_digits

    from aegui.train import TrainConfig, Trainer

    for digit in ("0", "1", "2"):
        drawings.save_drawing(tmp_path, int(digit), canvas_digit(digit))
    data = synthetic_digits(n_train=64)
    trainer = Trainer(TrainConfig(model=TINY, epochs=1), data, extra=drawings.load_training_set(tmp_path))
    assert trainer.extra_count == 3 and len(trainer.images) == 64 + 3
    assert trainer.labels[-3:].tolist() == [0, 1, 2]


def test_a_folder_filled_by_hand_is_read_too(tmp_path):
    """Any PNG under a digit's folder is a drawing: other sizes are framed, dark ink on
    light paper is inverted, a lone .28.png is taken as it is; the rest is ignored."""
    (tmp_path / "1").mkdir()
    (tmp_path / "5").mkdir()
    (tmp_path / "notes").mkdir()
    paper = np.full((90, 60), 255, np.uint8)
    paper[10:80, 25:33] = 0                                  # a dark "1" on white
    Image.fromarray(paper).save(tmp_path / "1" / "scan.png")
    frame = np.zeros((28, 28), np.uint8)
    frame[4:24, 12:16] = 200
    Image.fromarray(frame).save(tmp_path / "5" / "mine.28.png")
    Image.fromarray(frame).save(tmp_path / "5" / ".half-written.png", format="PNG")
    Image.fromarray(frame).save(tmp_path / "notes" / "x.png")
    (tmp_path / "5" / "readme.txt").write_text("not a drawing")
    images, labels = drawings.load_training_set(tmp_path)
    assert labels.tolist() == [1, 5]
    np.testing.assert_array_equal(images[0], to_uint8(mnist_style(255 - paper)))
    np.testing.assert_array_equal(images[1], frame)


def test_reading_a_bad_folder_names_what_is_wrong(tmp_path):
    with pytest.raises(DrawingsError, match="no such folder"):
        drawings.load_training_set(tmp_path / "missing")
    with pytest.raises(DrawingsError, match="holds no drawings"):
        drawings.load_training_set(tmp_path)
    (tmp_path / "6").mkdir()
    (tmp_path / "6" / "broken.png").write_bytes(b"\x89PNG truncated")
    with pytest.raises(DrawingsError, match="broken.png"):
        drawings.load_training_set(tmp_path)
    Image.fromarray(np.zeros((30, 30), np.uint8)).save(tmp_path / "6" / "broken.png")
    os.replace(tmp_path / "6" / "broken.png", tmp_path / "6" / "big.28.png")
    with pytest.raises(DrawingsError, match="must be 28x28"):
        drawings.load_training_set(tmp_path)


def test_a_drawing_whose_framing_is_missing_is_framed_from_the_original(tmp_path):
    sample = drawings.save_drawing(tmp_path, 4, canvas_digit("4"))
    expected = sample.frame()
    sample.frame_path.unlink()
    np.testing.assert_array_equal(Sample(tmp_path, 4, sample.id).frame(), expected)
    sample.original_path.unlink()
    with pytest.raises(DrawingsError, match="gone"):
        sample.original()


# ------------------------------------------------------------------ hostile and odd folders


def test_upper_case_png_drawings_are_read_and_deleted_like_any_other(tmp_path):
    (tmp_path / "3").mkdir()
    drawing = canvas_digit("3")
    Image.fromarray(drawing).save(tmp_path / "3" / "SCAN.PNG")
    Image.fromarray(to_uint8(mnist_style(canvas_digit("3", seed=1)))).save(tmp_path / "3" / "Mine.28.Png")
    samples = drawings.list_drawings(tmp_path)
    assert [s.id for s in samples] == ["Mine", "SCAN"]
    images, labels = drawings.load_training_set(tmp_path)
    assert labels.tolist() == [3, 3]
    np.testing.assert_array_equal(images[1], to_uint8(mnist_style(drawing)))
    np.testing.assert_array_equal(samples[1].original(), drawing)
    for sample in samples:
        drawings.delete_drawing(sample)
    assert os.listdir(tmp_path / "3") == []


def png_of_size(path, width: int, height: int, rows: int | None = None) -> None:
    """An all-black 8-bit grey PNG of any size, written without holding its pixels (a
    12000x12000 one is about 150 kB); with ``rows``, only that many rows of pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    deflate = zlib.compressobj(9)
    row = bytes(width + 1)                       # filter byte 0, then the pixels
    idat = b"".join(deflate.compress(row) for _ in range(height if rows is None else rows)) + deflate.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [12000, 20000], ids=["144 Mpx", "400 Mpx (a Pillow bomb)"])
def test_an_enormous_image_in_the_folder_is_refused_by_its_header_naming_the_file(tmp_path, monkeypatch, side):
    (tmp_path / "5").mkdir()
    png_of_size(tmp_path / "5" / "huge.png", side, side, rows=None if side == 12000 else 1)
    real_load = ImageFile.ImageFile.load

    def load(image):
        assert image.size[0] * image.size[1] <= drawings.MAX_PIXELS, "decoded an image larger than allowed"
        return real_load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    pixels = rf"({side}x{side}|{side * side:,})"      # Pillow's own refusal gives the count only
    with pytest.raises(DrawingsError, match=rf"huge\.png: the image is {pixels} pixels, larger .*at most"):
        drawings.load_training_set(tmp_path)


def test_a_large_jpeg_photo_is_decoded_at_a_reduced_size(tmp_path):
    photo = np.full((4400, 4000), 230, np.uint8)         # 17.6 Mpx: above the bound
    photo[800:3600, 1800:2200] = 20                       # a dark "1" on paper
    Image.fromarray(photo).save(tmp_path / "photo.jpg", quality=90)
    grey = drawings.read_grey(tmp_path / "photo.jpg")
    assert grey.size <= drawings.MAX_PIXELS and grey.shape == (2200, 2000)
    with Image.open(tmp_path / "photo.jpg") as full:
        full_size = ink_from_picture(np.asarray(full.convert("L")))     # the same reading, at full size
    # The same framing, but for a row or column: a sharp-edged bar's centre of mass can
    # round the other way at another scale.
    reduced, full_frame = mnist_style(grey), mnist_style(full_size)
    assert min(np.abs(np.roll(reduced, (dy, dx), (0, 1)) - full_frame).max()
               for dy in (-1, 0, 1) for dx in (-1, 0, 1)) < 0.1


def test_a_digit_folder_that_cannot_be_read_says_so(tmp_path, monkeypatch):
    drawings.save_drawing(tmp_path, 4, canvas_digit("4"))
    real = os.listdir

    def listdir(folder="."):
        if str(folder) == str(tmp_path / "4"):
            raise PermissionError(13, "Permission denied", str(folder))
        return real(folder)

    monkeypatch.setattr(os, "listdir", listdir)
    with pytest.raises(DrawingsError, match=r"4: cannot read the folder: Permission denied"):
        drawings.load_training_set(tmp_path)


def test_saving_cleans_the_stale_temporaries_of_killed_saves(tmp_path):
    (tmp_path / "7").mkdir()
    stale = tmp_path / "7" / ".20240101-000000-000000.png.k2j4_x9a.aegui.tmp"
    stale.write_bytes(b"half a png")
    then = time.time() - 7200
    os.utime(stale, (then, then))
    drawings.save_drawing(tmp_path, 7, canvas_digit("7"))
    assert not stale.exists() and len(drawings.list_drawings(tmp_path, 7)) == 1


def test_drawings_moved_to_the_trash_are_not_listed_and_come_back_as_they_were(tmp_path):
    root = tmp_path / "drawings"
    keep = drawings.save_drawing(root, 4, canvas_digit("4"))
    gone = [drawings.save_drawing(root, 4, canvas_digit("4", seed=s)) for s in (1, 2)]
    before = {p: p.read_bytes() for s in gone for p in (s.original_path, s.frame_path)}
    trashed = drawings.move_to_trash(gone, root)
    assert drawings.list_drawings(root) == [keep]
    assert all(not p.exists() for p in before)
    assert drawings.load_training_set(root)[0].shape == (1, 28, 28)       # training never reads the trash
    back = trashed.restore()
    assert back == gone and drawings.list_drawings(root) == [keep, *gone]
    assert all(p.read_bytes() == data for p, data in before.items())
    drawings.empty_trash(root)
    assert not (root / drawings.TRASH).exists()


def test_a_trash_move_that_fails_halfway_leaves_every_drawing_in_place(tmp_path, monkeypatch):
    root = tmp_path / "drawings"
    samples = [drawings.save_drawing(root, 1, canvas_digit("1", seed=s)) for s in range(3)]
    real, calls = os.replace, []

    def fails_third(src, dst):
        calls.append(src)
        if len(calls) == 3:
            raise PermissionError(13, "Permission denied", str(src))
        return real(src, dst)

    monkeypatch.setattr(os, "replace", fails_third)
    with pytest.raises(PermissionError):
        drawings.move_to_trash(samples, root)
    monkeypatch.undo()
    assert drawings.list_drawings(root) == samples
    assert all(s.original_path.exists() and s.frame_path.exists() for s in samples)
