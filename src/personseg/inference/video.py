"""Video and webcam: frames in, effects out, with temporal smoothing and a flicker measure.

Smoothing is a motion-gated exponential moving average of the probability maps: where the frame
did not change (grey-level difference below a small threshold), the new probability is blended
with the previous smoothed one; where something moved, the new probability is taken as it is,
so moving edges do not lag. Flicker is the mean absolute frame-to-frame change of the
probability map inside those unchanged regions (a perfect model on a still scene scores 0).
OpenCV reads the frames; :mod:`personseg.inference.videoio` writes them (with alpha into
``.webm``/``.mov``/PNG frames) and copies the audio with PyAV.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from personseg.inference.effects import apply_effect, scalar
from personseg.inference.images import read_ahead
from personseg.inference.segmenter import Segmenter, Stopwatch
from personseg.inference.subject import SubjectFilter, chosen
from personseg.inference.videoio import FrameWriter, check_output, open_writer, to_bgr

log = logging.getLogger("personseg")

STAGES = ("decode", "resize", "model", "edge", "smoothing", "effect", "encode")
STILL_THRESHOLD = 8.0  # grey levels (0-255) of frame difference below which a pixel is "still"


def smoothed_grey(frame: np.ndarray) -> np.ndarray:
    """Slightly blurred grey levels (H, W) uint8 of an RGB uint8 frame, for motion tests."""
    return cv2.GaussianBlur(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (5, 5), 0)


def still_pixels(prev_grey: np.ndarray, grey: np.ndarray) -> np.ndarray:
    """Mask (H, W) uint8, 255 where the grey level (:func:`smoothed_grey`) changed less than
    the threshold between two frames, else 0."""
    return cv2.compare(cv2.absdiff(prev_grey, grey), scalar(STILL_THRESHOLD, np.uint8), cv2.CMP_LT)


class TemporalSmoother:
    """Motion-gated EMA: ``p_t = s * p_{t-1} + (1 - s) * p_t`` on still pixels, ``p_t`` elsewhere.

    ``strength`` s in [0, 1): 0 switches smoothing off. Also accumulates the flicker of what it
    returns (:attr:`flicker`).
    """

    def __init__(self, strength: float = 0.5):
        if not 0.0 <= strength < 1.0:
            raise ValueError(f"smoothing strength must be in [0, 1), got {strength}")
        self.strength = strength
        self.prev_grey: np.ndarray | None = None
        self.prev_prob: np.ndarray | None = None
        self._change, self._still = 0.0, 0

    def __call__(self, frame: np.ndarray, prob: np.ndarray) -> np.ndarray:
        grey = smoothed_grey(frame)  # once per frame, kept for the next one
        prob = np.asarray(prob, np.float32)
        if self.prev_grey is not None and self.prev_grey.shape == grey.shape:
            still = still_pixels(self.prev_grey, grey)
            count = cv2.countNonZero(still)
            if count:
                change = cv2.subtract(prob, self.prev_prob)  # p_t - p_{t-1}
                if self.strength > 0:  # on still pixels: p_t - s * (p_t - p_{t-1})
                    blended = cv2.scaleAdd(change, -self.strength, prob)
                    prob = cv2.copyTo(blended, still, prob.copy())
                # what is returned moved (1 - s) |p_t - p_{t-1}| from p_{t-1} there
                moved = cv2.mean(np.abs(change, out=change), mask=still)[0]
                self._change += (1 - self.strength) * moved * count
                self._still += count
        self.prev_grey, self.prev_prob = grey, prob
        return prob

    @property
    def flicker(self) -> float:
        """Mean |Δ probability| between consecutive frames over still pixels (0 when none)."""
        return self._change / self._still if self._still else 0.0


def read_frames(capture: cv2.VideoCapture) -> Iterator[np.ndarray]:
    """RGB uint8 frames until the stream ends."""
    while True:
        ok, frame = capture.read()
        if not ok:
            return
        yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def _open(path: str | Path) -> cv2.VideoCapture:
    if not Path(path).is_file():
        raise FileNotFoundError(f"video not found: {path}")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"cannot read {path} as a video (OpenCV found no decoder for it)")
    return capture


def _to_frame(result: np.ndarray) -> np.ndarray:
    """Effect output (grey mask, RGB, or RGBA cut-out) → BGR frame for a window (a cut-out
    shown over black)."""
    if result.ndim == 3 and result.shape[2] == 4:
        a = result[..., 3:4].astype(np.float32) / 255
        result = (result[..., :3] * a + 0.5).astype(np.uint8)
    return to_bgr(result)


def _read_batch(frames: Iterator[np.ndarray], size: int) -> list[np.ndarray]:
    return [frame for _, frame in zip(range(size), frames, strict=False)]


def _open_video(
    source: str | Path,
) -> tuple[cv2.VideoCapture, float, tuple[int, int], int | None]:
    """The capture of ``source``, its frame rate (25 when it says none), size (W, H) and frame
    count (None when it does not say)."""
    capture = _open(source)
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    if min(size) <= 0:  # opened, but not a video OpenCV can decode (a broken file)
        capture.release()
        raise ValueError(f"cannot read {source} as a video: OpenCV finds no frame size in it")
    return capture, fps, size, total


class _Encoder:
    """Writes effect outputs into ``writer`` on ``pool``'s thread, at most two frames behind."""

    def __init__(self, pool: ThreadPoolExecutor, writer: FrameWriter):
        self.pool, self.writer = pool, writer
        self.behind: deque[Future] = deque()

    def __call__(self, result: np.ndarray) -> None:
        self.behind.append(self.pool.submit(self.writer.write, result))
        while len(self.behind) > 2:
            self.behind.popleft().result()

    def finish(self) -> None:
        """Wait until every frame is written."""
        while self.behind:
            self.behind.popleft().result()


@dataclass
class _AfterModel:
    """A frame's steps after the model, each timed by ``clock``: smoothing, ``on_prob``, the
    effect and its encoding; ``n`` counts the frames done."""

    smoother: TemporalSmoother
    clock: Stopwatch
    effect: str
    effect_options: dict[str, Any]
    on_prob: Callable[[int, np.ndarray], None] | None
    n: int = 0

    def __call__(self, frame: np.ndarray, prob: np.ndarray, encode: _Encoder) -> None:
        prob = self.smoother(frame, prob)
        self.clock.lap("smoothing")
        if self.on_prob is not None:
            self.on_prob(self.n, prob)
            self.clock.restart()
        result = apply_effect(frame, prob, self.effect, **self.effect_options)
        self.clock.lap("effect")
        encode(result)
        self.clock.lap("encode")
        self.n += 1


def tracking(segmenter: Segmenter) -> dict[str, SubjectFilter]:
    """The prediction options that make the segmenter's choice of person regions
    (``subject``, ``min_area``) follow its subject from frame to frame; none when it keeps
    every region (or is a stand-in without that choice)."""
    picked = chosen(getattr(segmenter, "subjects", None), track=True)
    return {} if picked is None else {"subjects": picked}


def _run_frames(
    segmenter: Segmenter,
    frames: Iterator[np.ndarray],
    batch_size: int,
    after: _AfterModel,
    encode: _Encoder,
    bar: tqdm,
) -> None:
    """Every frame through the model in batches (decoded one batch ahead, on a thread), then
    through ``after``; the model's stages are timed into ``after.clock``'s timings."""
    clock = after.clock
    subjects = tracking(segmenter)
    batches = iter(lambda: _read_batch(frames, batch_size), [])
    clock.restart()
    for batch in read_ahead(batches):
        clock.lap("decode")
        probs = segmenter.predict_batch(batch, timings=clock.timings, **subjects)
        clock.restart()
        for frame, prob in zip(batch, probs, strict=True):
            after(frame, prob, encode)
        bar.update(len(batch))
        clock.restart()
    encode.finish()
    clock.lap("encode")


def _summary(
    after: _AfterModel,
    fps: float,
    size: tuple[int, int],
    seconds: float,
    output: Path,
    timings: dict[str, float],
) -> dict[str, Any]:
    """What :func:`segment_video` returns."""
    n = after.n
    return {
        "frames": n,
        "fps": fps,
        "size": size,
        "seconds": seconds,
        "frames_per_s": n / seconds,
        "flicker": after.smoother.flicker,
        "output": str(output),
        "stages_ms": {k: 1000 * timings.get(k, 0.0) / n for k in STAGES},
    }


def segment_video(
    segmenter: Segmenter,
    source: str | Path,
    output: str | Path,
    effect: str = "blur",
    smoothing: float = 0.5,
    batch_size: int = 4,
    progress: bool = True,
    on_prob: Callable[[int, np.ndarray], None] | None = None,
    **effect_options: Any,
) -> dict[str, Any]:
    """Apply ``effect`` to every frame of ``source`` and write ``output`` with the same size
    and frame rate. Frames stream through in batches: memory does not grow with the length.

    Args:
        smoothing: strength of the motion-gated EMA (0 = off).
        on_prob: called with (frame index, smoothed probability map) for each frame.
        effect_options: passed to :func:`~personseg.inference.effects.apply_effect`.

    Returns:
        ``frames``, ``fps`` (the input's), ``size`` (W, H), ``seconds``, ``frames_per_s``,
        ``flicker`` (see :class:`TemporalSmoother`), ``output``, and ``stages_ms``: the mean
        milliseconds per frame of each stage (``decode``, ``resize``, ``model``, ``edge``,
        ``smoothing``, ``effect``, ``encode``). Decoding and encoding run on threads of their
        own: their stages are the time the rest waited for them.
    """
    output = Path(output)
    check_output(output, alpha=effect == "cutout")
    output.parent.mkdir(parents=True, exist_ok=True)
    capture, fps, size, total = _open_video(source)
    smoother = TemporalSmoother(smoothing)
    writer, t0 = None, time.perf_counter()
    timings: dict[str, float] = {}
    after = _AfterModel(smoother, Stopwatch(timings), effect, effect_options, on_prob)
    bar = tqdm(total=total, unit="frame", desc=Path(source).name, disable=not progress)
    try:
        writer = open_writer(output, fps, size, alpha=effect == "cutout")
        # decoding and encoding run on threads of their own (OpenCV lets go of the GIL),
        # beside the model and the effect: one batch ahead, at most two frames behind
        with ThreadPoolExecutor(1) as pool:
            frames = read_frames(capture)
            _run_frames(segmenter, frames, batch_size, after, _Encoder(pool, writer), bar)
    finally:
        bar.close()
        capture.release()
        if writer is not None:
            writer.close()
    if after.n == 0:
        output.unlink(missing_ok=True)
        raise ValueError(f"{source} holds no readable frames")
    return _summary(after, fps, size, time.perf_counter() - t0, output, timings)


AUDIO_NOTES = {
    "copied": "copied",
    "re-encoded": "re-encoded (the container does not take its codec)",
    "none": "none (the input has no audio track)",
    "failed": "not copied: PyAV could not write it (the silent video is kept)",
}


def run_webcam(
    segmenter: Segmenter,
    camera: int = 0,
    effect: str = "blur",
    smoothing: float = 0.5,
    **effect_options: Any,
) -> int:
    """Show the live effect in a window until Esc or q; returns the frames shown.

    Raises:
        RuntimeError: no camera at that index, or no way to open a window.
    """
    headless = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    try:
        if headless:
            raise cv2.error("no DISPLAY")
        cv2.namedWindow("personseg")
    except cv2.error:
        raise RuntimeError(
            "no display: this OpenCV cannot open windows (opencv-python-headless, or no "
            "screen); use `personseg video` on a recorded file instead"
        ) from None
    capture = cv2.VideoCapture(camera)
    if not capture.isOpened():
        cv2.destroyAllWindows()
        raise RuntimeError(f"no camera at index {camera}; try --camera 1, or check permissions")
    smoother, shown, subjects = TemporalSmoother(smoothing), 0, tracking(segmenter)
    try:
        for frame in read_frames(capture):
            prob = smoother(frame, segmenter.predict(frame, **subjects))
            cv2.imshow("personseg", _to_frame(apply_effect(frame, prob, effect, **effect_options)))
            shown += 1
            if cv2.waitKey(1) & 0xFF in (27, ord("q")):
                break
    finally:
        capture.release()
        cv2.destroyAllWindows()
    return shown
