"""Transparent video out (.webm VP9, .mov ProRes 4444, PNG frames) and audio through PyAV."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from conftest import ENV, REPO

from personseg.bench import synthetic_clip
from personseg.inference.video import read_frames, segment_video
from personseg.inference.videoio import copy_audio

FPS, N = 15, 12


def write_clip_with_audio(path, frames, fps=FPS, audio=True):
    """An .mp4 (MPEG-4 video, AAC stereo 44.1 kHz sine) made with PyAV."""
    with av.open(str(path), "w") as out:
        v = out.add_stream("mpeg4", rate=fps)
        v.height, v.width = frames[0].shape[:2]
        v.pix_fmt, v.options = "yuv420p", {"qscale": "2"}
        a = out.add_stream("aac", rate=44100, layout="stereo") if audio else None
        for f in frames:
            out.mux(v.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(v.encode())
        if a is not None:
            t = np.arange(int(44100 * len(frames) / fps)) / 44100
            wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            samples = np.stack([wave, wave])  # planar (channels, samples)
            for start in range(0, samples.shape[1], 1024):
                chunk = np.ascontiguousarray(samples[:, start : start + 1024])
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                frame.rate = 44100
                out.mux(a.encode(frame))
            out.mux(a.encode())
    return path


def decode(path):
    """(RGBA frames, rate, audio codec name or None) of a video, through PyAV."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        # VP9's alpha lives in a side stream that FFmpeg's own vp9 decoder drops: libvpx reads it
        codec = "libvpx-vp9" if stream.codec_context.name == "vp9" else None
        ctx = av.CodecContext.create(codec, "r") if codec else stream.codec_context
        if codec:
            ctx.extradata = stream.codec_context.extradata
        frames = []
        for packet in c.demux(stream):
            for frame in ctx.decode(packet) if codec else packet.decode():
                frames.append(frame.to_ndarray(format="rgba"))
        audio = c.streams.audio[0].codec_context.name if c.streams.audio else None
        return frames, stream.average_rate, audio


def iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


@pytest.fixture(scope="module")
def clip(tmp_path_factory, shared_data):
    from personseg.data import load_pair
    from personseg.data.splits import load_root, read_split, select

    root = shared_data / "ccp"
    (sample,) = select(load_root(root), read_split(root / "val.txt")[:1], "val.txt")
    image, mask = load_pair(sample)
    frames = [f for f, _ in synthetic_clip(image, mask, N, "pan", (240, 320))]
    return write_clip_with_audio(tmp_path_factory.mktemp("clip") / "in.mp4", frames)


@pytest.fixture(scope="module")
def truth(clip, default_onnx_segmenter):
    """The model's masks on the frames as the video command decodes them."""
    seg = default_onnx_segmenter
    cap = cv2.VideoCapture(str(clip))
    masks = [seg.predict(f) > seg.threshold for f in read_frames(cap)]
    cap.release()
    assert len(masks) == N
    return masks


@pytest.mark.realdata
@pytest.mark.parametrize(("name", "audio"), [("person.webm", "opus"), ("person.mov", "aac")])
def test_cutout_video_keeps_the_mask_as_alpha_and_the_audio(tmp_path, clip, truth, name, audio):
    out = tmp_path / name
    cmd = [sys.executable, "-m", "personseg", "video", str(clip), "--out", str(out)]
    cmd += ["--effect", "cutout", "--smoothing", "0", "--backend", "onnx", "-q"]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "audio copied" in proc.stdout or "audio re-encoded" in proc.stdout, proc.stdout
    frames, rate, codec = decode(out)
    assert len(frames) == N and rate == Fraction(FPS) and codec == audio
    ious = [iou(f[..., 3] > 127, m) for f, m in zip(frames, truth, strict=True)]
    assert min(ious) >= 0.98, ious
    assert frames[0][..., 3].min() == 0 and frames[0][..., 3].max() == 255


@pytest.mark.realdata
def test_cutout_to_png_frames_keeps_the_alpha(tmp_path, clip, truth, default_onnx_segmenter):
    seg = default_onnx_segmenter
    r = segment_video(
        seg, clip, tmp_path / "frames" / "%05d.png", "cutout", smoothing=0.0, progress=False
    )
    names = sorted(p.name for p in (tmp_path / "frames").iterdir())
    assert r["frames"] == N and names == [f"{i:05d}.png" for i in range(N)]
    for name, mask in zip(names, truth, strict=True):
        rgba = cv2.imread(str(tmp_path / "frames" / name), cv2.IMREAD_UNCHANGED)
        assert rgba.shape == (240, 320, 4)
        assert iou(rgba[..., 3] > 127, mask) >= 0.98
    assert copy_audio(clip, tmp_path / "frames" / "%05d.png") == "none"


def test_audio_is_copied_into_an_mp4_without_a_system_ffmpeg(tmp_path, monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (32, 48, 3), dtype=np.uint8) for _ in range(6)]
    src = write_clip_with_audio(tmp_path / "in.mp4", frames)
    silent = write_clip_with_audio(tmp_path / "out.mp4", frames, audio=False)
    assert copy_audio(src, silent) == "copied"
    got, rate, codec = decode(silent)
    assert len(got) == 6 and codec == "aac" and rate == Fraction(FPS)
    with av.open(str(silent)) as c:  # cut at the video's end (6 frames at 15 fps = 0.4 s)
        audio = c.streams.audio[0]
        seconds = sum(float(p.duration * p.time_base) for p in c.demux(audio) if p.duration)
    assert 0.3 <= seconds <= 0.45
    assert not list(tmp_path.glob(".*"))  # no temporary file left
    no_audio = write_clip_with_audio(tmp_path / "quiet.mp4", frames, audio=False)
    assert copy_audio(no_audio, silent) == "none"


@pytest.mark.parametrize(
    ("out", "effect", "says"),
    [
        ("o.mp4", "cutout", ".mp4 has no alpha channel for a cut-out: write .webm"),
        ("o.avi", "cutout", ".avi has no alpha channel"),
        ("o.gif", "blur", "cannot write video o.gif: use .webm"),
        ("f/%04d.jpg", "cutout", "an image sequence must end in .png"),
    ],
)
def test_an_output_that_cannot_be_written_is_one_line(tmp_path, out, effect, says):
    from test_video import make_clip

    clip = make_clip(tmp_path / "in.avi", n=2)
    cmd = [sys.executable, "-m", "personseg", "video", str(clip), "--out", str(tmp_path / out)]
    cmd += ["--effect", effect, "-q"]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], proc.stderr
    assert not (tmp_path / out).exists()
