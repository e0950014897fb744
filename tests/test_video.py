"""Video: same frames, size and rate out as in; temporal smoothing; flicker; webcam errors."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from conftest import ENV, REPO

from personseg.bench import synthetic_clip, write_video
from personseg.checkpoint import Checkpoint, ModelSpec
from personseg.inference import Segmenter
from personseg.inference.video import STAGES, TemporalSmoother, segment_video, still_pixels
from personseg.models import create_model

SPEC = ModelSpec("unet-small", input_size=32, mean=(0.5,) * 3, std=(0.25,) * 3)


@pytest.fixture(scope="module")
def tiny_segmenter() -> Segmenter:
    torch.manual_seed(0)
    model = create_model("unet-small", base_channels=4)
    return Segmenter(model, SPEC, precision="fp32")


def make_clip(path, n=12, size=(48, 64), fps=12.0, motion="pan"):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    mask = np.zeros((60, 80), np.uint8)
    mask[10:50, 30:50] = 1
    frames = (f for f, _ in synthetic_clip(image, mask, n, motion, size))
    assert write_video(frames, path, fps) == n
    return path


def read_props(path):
    cap = cv2.VideoCapture(str(path))
    props = (
        int(cap.get(cv2.CAP_PROP_FRAME_COUNT)),
        cap.get(cv2.CAP_PROP_FPS),
        int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
        int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
    )
    cap.release()
    return props


@pytest.mark.parametrize(
    ("suffix", "effect"),
    [(".mp4", "blur"), (".avi", "overlay"), (".webm", "cutout"), (".mov", "blur")],
)
def test_video_keeps_frame_count_rate_and_size(tmp_path, tiny_segmenter, suffix, effect):
    src = make_clip(tmp_path / "in.avi", n=11, fps=12.0)
    out = tmp_path / f"out{suffix}"
    r = segment_video(tiny_segmenter, src, out, effect, batch_size=4, progress=False)
    assert r["frames"] == 11
    n, fps, w, h = read_props(out)
    assert (n, w, h) == (11, 64, 48)
    assert fps == pytest.approx(12.0, abs=0.01)


class EveryoneSegmenter:
    """Marks every pixel as person, so the blur effect gives each frame back unchanged."""

    def predict_batch(self, images, timings=None):
        return [np.ones(im.shape[:2], np.float32) for im in images]


def test_frames_come_out_in_the_order_they_went_in(tmp_path):
    """Decoding and encoding run on threads of their own: the output must still hold frame i
    at place i (each frame here is one flat grey level)."""
    levels = [10 + 20 * i for i in range(11)]
    frames = (np.full((48, 64, 3), v, np.uint8) for v in levels)
    src = tmp_path / "in.avi"
    assert write_video(frames, src, 12.0) == 11
    out = tmp_path / "out.avi"
    r = segment_video(EveryoneSegmenter(), src, out, "blur", batch_size=4, progress=False)
    cap = cv2.VideoCapture(str(out))
    got = []
    while (frame := cap.read())[0]:
        got.append(float(frame[1].mean()))
    cap.release()
    assert r["frames"] == 11
    assert got == pytest.approx(levels, abs=3)


def test_unreadable_video_is_one_clear_error(tmp_path, tiny_segmenter):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(ValueError, match=r"bad\.mp4"):
        segment_video(tiny_segmenter, bad, tmp_path / "o.mp4", progress=False)
    with pytest.raises(FileNotFoundError, match="video not found"):
        segment_video(tiny_segmenter, tmp_path / "nope.mp4", tmp_path / "o.mp4", progress=False)
    noise = tmp_path / "noise.jpg"  # OpenCV opens it (an image sequence) but finds no frame
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, np.uint8).tobytes())
    with pytest.raises(ValueError, match=r"cannot read .*noise\.jpg as a video"):
        segment_video(tiny_segmenter, noise, tmp_path / "o.mp4", progress=False)
    assert not (tmp_path / "o.mp4").exists()


def test_smoothing_lowers_flicker_on_a_still_scene_and_leaves_moving_pixels_alone():
    rng = np.random.default_rng(0)
    frame = np.full((20, 20, 3), 100, np.uint8)
    truth = np.zeros((20, 20), np.float32)
    truth[:, 10:] = 1
    probs = [
        np.clip(truth + rng.normal(0, 0.2, truth.shape), 0, 1).astype(np.float32) for _ in range(30)
    ]
    plain, smooth = TemporalSmoother(0.0), TemporalSmoother(0.7)
    for p in probs:
        plain(frame, p)
        smooth(frame, p)
    assert smooth.flicker < 0.6 * plain.flicker
    # a frame where everything changed: its probability passes through unchanged
    moved = np.full((20, 20, 3), 200, np.uint8)
    p = np.full((20, 20), 0.9, np.float32)
    assert np.array_equal(smooth(moved, p), p)


def reference_smoothing(frames, probs, s):
    """The motion-gated EMA and its flicker written out in NumPy, as the docstring defines them."""
    out, change, still_n, prev_g, prev_p = [], 0.0, 0, None, None
    for frame, p in zip(frames, probs, strict=True):
        g = cv2.GaussianBlur(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (5, 5), 0).astype(int)
        if prev_g is not None:
            still = np.abs(g - prev_g) < 8
            p = np.where(still, s * prev_p + (1 - s) * p, p)
            change += np.abs(p - prev_p)[still].sum()
            still_n += still.sum()
        out.append(p)
        prev_g, prev_p = g, p
    return out, change / max(still_n, 1)


@pytest.mark.parametrize("strength", [0.0, 0.5, 0.9])
def test_smoothing_matches_its_definition(strength):
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)
    frames, probs = [], []
    for i in range(6):
        frame = base.copy()
        frame[:, : 8 * i] = 255 - frame[:, : 8 * i]  # a moving region; the rest is still
        frames.append(frame)
        probs.append(rng.random((40, 56), dtype=np.float32))
    want, flicker = reference_smoothing(frames, probs, strength)
    smoother = TemporalSmoother(strength)
    for frame, p, w in zip(frames, probs, want, strict=True):
        np.testing.assert_allclose(smoother(frame, p), w, atol=1e-6)
    assert smoother.flicker == pytest.approx(flicker, rel=1e-5)


def test_smoothing_strength_is_checked():
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        TemporalSmoother(1.0)


def test_webcam_without_a_display_is_one_line(tmp_path):
    env = {k: v for k, v in ENV.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    ckpt = tmp_path / "m.pt"
    model = create_model("unet-small", base_channels=4)
    Checkpoint(SPEC.replace(kwargs={"base_channels": 4}), model.state_dict()).save(ckpt)
    proc = subprocess.run(
        [sys.executable, "-m", "personseg", "webcam", "--model", str(ckpt)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "no display" in proc.stderr and "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def real_clip_inputs(shared_data):
    from personseg.data import load_pair
    from personseg.data.splits import load_root, read_split, select

    root = shared_data / "ccp"
    samples = select(load_root(root), read_split(root / "val.txt")[:2], "val.txt")
    return [load_pair(s) for s in samples]


@pytest.mark.realdata
@pytest.mark.parametrize("motion", ["still", "jitter", "pan"])
def test_smoothing_lowers_flicker_without_losing_iou_on_real_clips(
    tmp_path, real_clip_inputs, motion, default_onnx_segmenter
):
    """Clips of real photos moved by a known camera path (ground truth moved alike)."""
    from personseg.metrics import MetricAccumulator

    seg = default_onnx_segmenter
    for k, (image, mask) in enumerate(real_clip_inputs):
        clip = list(synthetic_clip(image, mask, 16, motion, (320, 240), seed=k))
        video = tmp_path / f"{k}-{motion}.avi"
        write_video((f for f, _ in clip), video)
        scores = {}
        for strength in (0.0, 0.5):
            acc = MetricAccumulator(seg.threshold)

            def score(i, prob, acc=acc, clip=clip):
                acc.update(prob > seg.threshold, clip[i][1].astype(bool))

            r = segment_video(
                seg, video, tmp_path / "o.avi", "mask", strength, progress=False, on_prob=score
            )
            scores[strength] = (acc.compute()["mean_iou"], r["flicker"])
        (iou_off, flicker_off), (iou_on, flicker_on) = scores[0.0], scores[0.5]
        assert iou_off > 0.85, "the moved ground truth and the prediction should agree"
        assert flicker_on < flicker_off
        assert iou_on > iou_off - 0.01


@pytest.mark.realdata
def test_video_cli_keeps_frames_and_rate_and_prints_stats(tmp_path, real_clip_inputs):
    image, mask = real_clip_inputs[0]
    src = tmp_path / "in.mp4"
    write_video((f for f, _ in synthetic_clip(image, mask, 20, "zoom", (240, 320))), src, 20.0)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "personseg",
            "video",
            str(src),
            "--out",
            str(tmp_path / "o.mp4"),
            "--effect",
            "blur",
            "--stats",
            "--json",
            str(tmp_path / "stats.json"),
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    assert "flicker" in proc.stdout and "frames/s" in proc.stdout
    assert "ms per frame: decode" in proc.stdout
    stats = json.loads((tmp_path / "stats.json").read_text())
    stages = stats["stages_ms"]
    assert list(stages) == list(STAGES) and all(v > 0 for v in stages.values())
    # the stages are disjoint parts of the run: together no more than its time per frame
    assert sum(stages.values()) <= 1000 * stats["seconds"] / stats["frames"]
    n, fps, w, h = read_props(tmp_path / "o.mp4")
    assert (n, w, h) == (20, 320, 240)
    assert fps == pytest.approx(20.0, abs=0.01)


@pytest.mark.parametrize("shape", [(1, 1), (1, 4), (3, 5)])
def test_still_pixels_are_those_that_changed_less_than_the_threshold(shape):
    rng = np.random.default_rng(0)
    before = rng.integers(0, 256, shape, dtype=np.uint8)
    after = np.clip(before.astype(int) + rng.integers(-16, 17, shape), 0, 255).astype(np.uint8)
    expected = np.where(np.abs(after.astype(int) - before) < 8, 255, 0)
    assert np.array_equal(still_pixels(before, after), expected)


def test_video_cli_says_what_became_of_the_audio(tmp_path, monkeypatch, capsys):
    import shutil

    from personseg.cli import main

    ckpt = tmp_path / "m.pt"
    model = create_model("unet-small", base_channels=4)
    Checkpoint(SPEC.replace(kwargs={"base_channels": 4}), model.state_dict()).save(ckpt)
    clip = make_clip(tmp_path / "in.avi", n=3)
    args = ["video", str(clip), "--out", str(tmp_path / "o.avi"), "--model", str(ckpt), "-q"]
    assert main([*args, "--no-audio"]) == 0
    assert "audio left out (--no-audio)" in capsys.readouterr().out
    monkeypatch.setattr(shutil, "which", lambda name: None)  # no system ffmpeg needed
    assert main(args) == 0
    assert "audio none (the input has no audio track)" in capsys.readouterr().out
