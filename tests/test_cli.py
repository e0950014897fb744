"""The command line as a user meets it: help, one-line errors, and one real end-to-end run."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from conftest import ENV, REPO, TINY_TRAIN, real_subset, run


def test_help_lists_the_subcommands():
    out = run("--help").stdout
    for cmd in ("train", "evaluate", "predict", "data", "doctor"):
        assert cmd in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--data", "no/such/folder", "--epochs", "1"], "no/such/folder/images not found"),
        (["train", "--data", "x", "--input-size", "100"], "multiple of 16"),
        (["train", "--data", "x", "--model", "nope"], None),  # fails on data first, still 1 line
        (["predict", "missing.jpg", "--model", "x.pt"], "input not found: missing.jpg"),
        (["evaluate", "--model", "missing.pt", "--data", "."], "checkpoint not found"),
        (["evaluate", "--model", "m.pt", "--data", ".", "--input-size", "50"], "multiple of 32"),
        (["data", "check", "nowhere"], "nowhere/images not found"),
        (["train", "--resume", "runs/x", "--lr", "0.1"], "--lr cannot change when resuming"),
        (["video", "in.mp4", "--out", "o.mp4", "--effect", "replace"], "needs --background"),
        (["video", "missing.mp4", "--out", "o.mp4"], "video not found: missing.mp4"),
        (["video", "in.mp4", "--out", "o.mp4", "--background", "#12"], "#RRGGBB"),
        (["demo", "--image", "missing.jpg"], "missing.jpg"),
    ],
)
def test_user_errors_are_one_line_without_traceback(tmp_path, args, message):
    proc = run(*args, cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"personseg {args[0]}: error: ")
    if message:
        assert message in lines[0]


def test_train_without_data_says_where_to_put_it(tmp_path):
    proc = run("train", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "data/images + data/masks" in proc.stderr


def script(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run one of the seed's root scripts; fail with its output if it fails."""
    proc = subprocess.run(
        [sys.executable, str(REPO / name), *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_broken_image_is_skipped_and_reported(tmp_path, tiny_root):
    run(
        "train",
        "--data",
        str(tiny_root),
        *TINY_TRAIN,
        "--epochs",
        "1",
        "--out",
        str(tmp_path / "run"),
    )
    (tmp_path / "broken.jpg").write_bytes(b"no jpeg")
    good = str(tiny_root / "images" / "im000.jpg")
    proc = run(
        "predict",
        good,
        str(tmp_path / "broken.jpg"),
        "--model",
        str(tmp_path / "run" / "best.pt"),
        "--out",
        str(tmp_path / "p"),
        check=False,
    )
    assert proc.returncode == 1 and "skipped 1 unreadable" in proc.stderr
    assert (tmp_path / "p" / "im000_mask.png").is_file()


def test_seed_quick_commands(tmp_path, tiny_root):
    """python train.py / inference.py / test_setup.py work as the seed's README says."""
    data = tmp_path / "data"
    tiny_root.rename(data)
    script("train.py", "--epochs", "1", "--batch-size", "4", *TINY_TRAIN, cwd=tmp_path)
    script(
        "inference.py", "--image", str(data / "images" / "im001.jpg"), "--visualize", cwd=tmp_path
    )
    for suffix in ("mask", "overlay", "figure"):
        assert (tmp_path / "predictions" / f"im001_{suffix}.png").is_file()
    out = script("test_setup.py", cwd=tmp_path).stdout
    assert "all checks OK" in out and "[  OK] model unet-small" in out
    assert "data: data: 12 image/mask pairs" in out


@pytest.mark.slow
@pytest.mark.realdata
def test_end_to_end_on_real_images(tmp_path, shared_data):
    """Train unet-small 2 epochs on 16 real photos, evaluate on 8 with --json, predict 2."""
    root = real_subset(shared_data, tmp_path / "ccp16", "ccp", n_train=16, n_val=8)
    run_dir = tmp_path / "run"
    run(
        "train",
        "--data",
        str(root),
        "--model",
        "unet-small",
        "--epochs",
        "2",
        "--input-size",
        "96",
        "--batch-size",
        "2",
        "--out",
        str(run_dir),
    )
    for name in ("best.pt", "last.pt", "metrics.csv", "curves.png", "config.yaml"):
        assert (run_dir / name).is_file()
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert float(rows[1]["train_loss"]) < float(rows[0]["train_loss"]) * 1.05

    summary = tmp_path / "eval.json"
    per_image = tmp_path / "per_image.csv"
    run(
        "evaluate",
        "--model",
        str(run_dir / "best.pt"),
        "--data",
        str(root),
        "--json",
        str(summary),
        "--csv",
        str(per_image),
        "--gallery",
        str(tmp_path / "worst.png"),
    )
    res = json.loads(summary.read_text())
    assert res["n_images"] == 8
    for key in (
        "mean_iou",
        "mean_dice",
        "pooled_iou",
        "pooled_dice",
        "mean_precision",
        "mean_recall",
        "mean_boundary_f1",
    ):
        assert 0.0 <= res[key] <= 1.0, key
    # after 16 steps the model must find people (IoU 0 would mean it marks nothing; it reached
    # about 0.48 when this test was written)
    assert res["mean_iou"] > 0.15
    assert res["mean_dice"] >= res["mean_iou"]
    assert res["ms_per_image"] > 0
    rows = list(csv.DictReader(per_image.open()))
    assert len(rows) == 8
    for r in rows:
        iou, dice = float(r["iou"]), float(r["dice"])
        assert dice == pytest.approx(2 * iou / (1 + iou), abs=1e-9)
    assert (tmp_path / "worst.png").stat().st_size > 0
    assert res["refine"] == "guided"  # scored with the edge that predict writes by default
    raw = tmp_path / "raw.json"
    for option, value, expected in (("--refine", "none", "none"), ("--input-size", "64", 64)):
        run(
            "evaluate",
            "--model",
            str(run_dir),
            "--data",
            str(root),
            option,
            value,
            "--json",
            str(raw),
        )
        assert json.loads(raw.read_text())[option[2:].replace("-", "_")] == expected

    images = sorted((root / "images").iterdir())[:2]
    out = tmp_path / "pred"
    run(
        "predict",
        *map(str, images),
        "--model",
        str(run_dir / "best.pt"),
        "--out",
        str(out),
        "--visualize",
    )
    for img in images:
        mask = cv2.imread(str(out / f"{img.stem}_mask.png"), cv2.IMREAD_UNCHANGED)
        photo = cv2.imread(str(img))
        assert mask.shape == photo.shape[:2]  # original resolution
        assert set(mask.ravel().tolist()) <= {0, 255}
        assert (out / f"{img.stem}_overlay.png").is_file()
        assert (out / f"{img.stem}_figure.png").is_file()

    proc = run("train", "--resume", str(run_dir), "--epochs", "3")
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert "resuming" in proc.stderr and "at epoch 3" in proc.stderr


@pytest.mark.realdata
def test_data_check_cli_reports_mismatches_without_failing(shared_data):
    proc = run("data", "check", str(shared_data / "humanseg290"))
    assert "198 mask(s) differ in size" in proc.stdout and "result: OK" in proc.stdout
