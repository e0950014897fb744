"""The one safe image loader (personseg.data.images) and the commands that decode through it:
format sniffed from the bytes, pixel count checked before decoding, truncated files refused,
odd PNGs accepted; data check, train and predict on broken files."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from badimages import bomb_png, encode, odd_pngs, photo_like, truncated_jpeg
from conftest import TINY_TRAIN
from PIL import Image

from personseg.cli import main
from personseg.data import load_image
from personseg.data.images import (
    CorruptImageError,
    ImageTooLargeError,
    NotAnImageError,
    decode_image,
    read_image,
)


def test_the_format_comes_from_the_bytes_not_the_name(tmp_path):
    rgb = photo_like(20, 30)
    (tmp_path / "really_a_png.jpg").write_bytes(encode(rgb, ".png"))
    assert np.array_equal(load_image(tmp_path / "really_a_png.jpg"), rgb)
    (tmp_path / "notes.png").write_text("a text file named like a photo\n")
    with pytest.raises(NotAnImageError, match=r"notes\.png is not an image"):
        load_image(tmp_path / "notes.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(NotAnImageError, match="empty"):
        load_image(tmp_path / "empty.jpg")
    gif = tmp_path / "anim.gif"
    Image.fromarray(rgb).save(gif)  # a format personseg does not read: refused by content
    with pytest.raises(NotAnImageError):
        read_image(gif)


def test_a_truncated_jpeg_is_an_error_where_opencv_returns_half_a_photo(tmp_path):
    path = tmp_path / "cut.jpg"
    path.write_bytes(truncated_jpeg(3000))
    assert cv2.imread(str(path)) is not None  # the old loader's answer: grey-padded pixels
    with pytest.raises(CorruptImageError, match=r"cut\.jpg is truncated"):
        load_image(path)


def test_a_bomb_is_refused_from_its_header_before_decoding(tmp_path):
    bomb = bomb_png(60000, 60000)
    assert len(bomb) < 10_000
    t0 = time.perf_counter()
    with pytest.raises(ImageTooLargeError, match="over the limit of 40 MP"):
        decode_image(bomb)
    assert time.perf_counter() - t0 < 1.0  # nothing decoded
    # under Pillow's own bomb limit, our header check says how large it is
    with pytest.raises(ImageTooLargeError, match=r"8000x6000 = 48 MP, over the limit of 40 MP"):
        decode_image(bomb_png(8000, 6000))
    (tmp_path / "ok.png").write_bytes(encode(photo_like(40, 50)))
    assert read_image(tmp_path / "ok.png", max_pixels=2000).shape == (40, 50, 3)
    with pytest.raises(ImageTooLargeError, match="50x40"):
        read_image(tmp_path / "ok.png", max_pixels=1999)


@pytest.mark.parametrize("kind", ["grey16", "rgb16", "rgba", "grey", "palette"])
def test_odd_pngs_become_the_rgb_opencv_gave(tmp_path, kind):
    data = odd_pngs()[kind]
    got = decode_image(data)
    assert got.dtype == np.uint8 and got.shape == (30, 40, 3)
    # what load_image returned before (cv2.imread: 16-bit keeps its high byte, alpha dropped)
    expected = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), 4)
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("orientation", [2, 3, 5, 6, 8])
def test_exif_orientation_is_applied_as_opencv_did(tmp_path, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.jpg"
    Image.fromarray(photo_like(24, 40)).save(path, exif=exif, quality=95)
    expected = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    assert np.array_equal(load_image(path), expected)


def _root_with_a_truncated_photo(root: Path) -> Path:
    """Two good pairs and one photo cut after 3 kB whose mask is intact."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    mask = np.zeros((400, 300), np.uint8)  # the size of truncated_jpeg's photo
    mask[50:350, 80:220] = 255
    for i in range(2):
        (root / "images" / f"ok{i}.jpg").write_bytes(encode(photo_like(400, 300, i), ".jpg"))
        cv2.imwrite(str(root / "masks" / f"ok{i}.png"), mask)
    (root / "images" / "cut.jpg").write_bytes(truncated_jpeg(3000))
    cv2.imwrite(str(root / "masks" / "cut.png"), mask)
    return root


def test_data_check_reports_a_truncated_photo_as_an_error(tmp_path, capsys):
    root = _root_with_a_truncated_photo(tmp_path / "d")
    assert main(["data", "check", str(root)]) == 1
    out = capsys.readouterr().out
    assert "ERROR: 1 unreadable pair(s): cut (" in out and "truncated" in out
    assert "result: 1 error(s)" in out


def test_training_stops_on_a_truncated_photo_in_one_line(tmp_path, capsys, monkeypatch):
    root = _root_with_a_truncated_photo(tmp_path / "d")
    monkeypatch.chdir(tmp_path)
    args = [
        "train",
        "-q",
        "--data",
        str(root),
        *TINY_TRAIN,
        "--epochs",
        "1",
        "--val-fraction",
        "0.34",
    ]
    assert main([*args, "--out", str(tmp_path / "run")]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("personseg train: error: ")
    assert "cut.jpg is truncated" in err[0]
    assert not (tmp_path / "run" / "best.pt").exists()


def test_predict_on_a_bomb_is_one_line(tmp_path, capsys):
    (tmp_path / "bomb.png").write_bytes(bomb_png())
    args = ["predict", str(tmp_path / "bomb.png"), "--out", str(tmp_path / "out")]
    assert main([*args, "--backend", "onnx"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "Traceback" not in err[0]
    assert err[0].startswith("personseg predict: error: ") and "bomb.png claims more than" in err[0]
    (tmp_path / "small.png").write_bytes(encode(photo_like(40, 50)))
    args = ["predict", str(tmp_path / "small.png"), "--out", str(tmp_path / "out")]
    assert main([*args, "--backend", "onnx", "--max-pixels", "1000"]) == 2
    assert "small.png is 50x40 = 0.002 MP, over the limit of 0.001 MP" in capsys.readouterr().err
