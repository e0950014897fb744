"""Shared fixtures: tiny synthetic data made in tmp_path, and the real data of ../shared/data.

Real-data tests skip when the folder is absent; PERSONSEG_REQUIRE_DATA=1 (set by .ci/run) turns
that skip into a failure. PERSONSEG_DATA points at another copy of the data.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def make_pair(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """A noisy background with a bright ellipse 'person'; mask 0/255."""
    image = rng.integers(0, 90, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    center = (int(rng.integers(w // 4, 3 * w // 4)), int(rng.integers(h // 4, 3 * h // 4)))
    axes = (int(rng.integers(w // 8, w // 4)), int(rng.integers(h // 6, h // 3)))
    cv2.ellipse(mask, center, axes, 0, 0, 360, 255, -1)
    image[mask > 0] = np.clip(image[mask > 0].astype(int) + 150, 0, 255).astype(np.uint8)
    return image, mask


def write_root(
    root: Path, n: int = 12, size: tuple[int, int] = (48, 40), seed: int = 0, splits: bool = False
) -> Path:
    """A data root with ``n`` JPEG images and PNG masks (optionally train.txt / val.txt)."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        image, mask = make_pair(rng, *size)
        cv2.imwrite(str(root / "images" / f"im{i:03d}.jpg"), image)
        cv2.imwrite(str(root / "masks" / f"im{i:03d}.png"), mask)
    if splits:
        stems = [f"im{i:03d}" for i in range(n)]
        (root / "train.txt").write_text("\n".join(stems[: n * 3 // 4]) + "\n")
        (root / "val.txt").write_text("\n".join(stems[n * 3 // 4 :]) + "\n")
    return root


@pytest.fixture
def tiny_root(tmp_path: Path) -> Path:
    return write_root(tmp_path / "tiny")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = Path(os.environ.get("PERSONSEG_DATA", REPO.parent / "shared" / "data"))
    if not (root / "ccp" / "images").is_dir():
        msg = f"real person data not found at {root} (set PERSONSEG_DATA)"
        if os.environ.get("PERSONSEG_REQUIRE_DATA") == "1":
            pytest.fail(msg + "; PERSONSEG_REQUIRE_DATA=1 requires it")
        pytest.skip(msg)
    return root


def real_subset(shared: Path, dest: Path, set_name: str, n_train: int, n_val: int) -> Path:
    """A data root of symlinks to the first ids of a real set's train.txt and val.txt."""
    src = (shared / set_name).resolve()
    (dest / "images").mkdir(parents=True)
    (dest / "masks").mkdir()
    splits = {}
    for split, n in (("train", n_train), ("val", n_val)):
        stems = (src / f"{split}.txt").read_text().split()[:n]
        splits[split] = stems
        for s in stems:
            (dest / "images" / f"{s}.jpg").symlink_to(src / "images" / f"{s}.jpg")
            (dest / "masks" / f"{s}.png").symlink_to(src / "masks" / f"{s}.png")
        (dest / f"{split}.txt").write_text("\n".join(stems) + "\n")
    return dest


ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def run(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "personseg", *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"personseg {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


TINY_TRAIN = [
    *("--model", "unet-small", "--model-arg", "base_channels=4"),
    *("--input-size", "32", "--workers", "0"),
]


@pytest.fixture(scope="session")
def default_segmenter():
    """The bundled default model, loaded once for the whole session (do not change it)."""
    from personseg.inference.segmenter import Segmenter

    return Segmenter.from_pretrained()


@pytest.fixture(scope="session")
def default_onnx_segmenter():
    """The bundled default model on ONNX Runtime (int8), as video and the server run it."""
    from personseg.inference.segmenter import Segmenter

    return Segmenter.load("default", backend="onnx")


def val_mean_iou(seg, root: Path, n: int) -> float:
    """Mean IoU of ``seg`` on the first ``n`` photos of ``root``'s val.txt, at each mask's size."""
    from personseg.data import load_image, load_mask
    from personseg.data.splits import load_root, read_split, select
    from personseg.metrics import MetricAccumulator

    acc = MetricAccumulator(seg.threshold)
    for s in select(load_root(root), read_split(root / "val.txt")[:n], "val.txt"):
        truth = load_mask(s.mask)
        prob = seg.predict(load_image(s.image), size=truth.shape)
        acc.update(prob > seg.threshold, truth.astype(bool))
    return acc.compute()["mean_iou"]
