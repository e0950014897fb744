"""Where ``personseg video`` writes its frames, and the audio copied beside them.

Three kinds of output, chosen by the ``--out`` name:

- ``.webm`` (VP9, ``yuva420p``) and ``.mov`` (ProRes 4444, ``yuva444p10le``) through PyAV, whose
  wheels carry their own FFmpeg libraries: these keep the cut-out's alpha channel;
- a name with a ``%d``-style field (``frames/%05d.png``): one PNG per frame, RGBA for a cut-out;
- anything else (``.mp4``, ``.avi``, ``.mkv``) through OpenCV, which has no alpha.

:func:`copy_audio` puts the input's audio track into the written video with PyAV (no ``ffmpeg``
binary needed): copied as it is where the container takes its codec, else re-encoded (Opus in
``.webm``, AAC elsewhere).
"""

from __future__ import annotations

import heapq
import re
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

# suffix -> (codec, pixel format with alpha, pixel format without)
ALPHA_CONTAINERS = {
    ".webm": ("libvpx-vp9", "yuva420p", "yuv420p"),
    ".mov": ("prores_ks", "yuva444p10le", "yuv422p10le"),
}
OPENCV_FOURCC = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "mp4v"}
AUDIO_FOR = {".webm": ("libopus", {"opus", "vorbis"})}  # containers strict about audio codecs
PATTERN = re.compile(r"%0?\d*d")


class FrameWriter(Protocol):
    def write(self, result: np.ndarray) -> None:
        """One effect output: (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA uint8."""

    def close(self) -> None: ...


def is_sequence(path: str | Path) -> bool:
    """Whether ``path`` names an image sequence (``frames/%05d.png``)."""
    return PATTERN.search(Path(path).name) is not None


def check_output(path: str | Path, alpha: bool) -> None:
    """Raise ``ValueError`` (one line, what to do) for an output that cannot be written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if is_sequence(path):
        if suffix not in (".png", ".tif", ".tiff", ".webp") and (alpha or suffix != ".jpg"):
            raise ValueError(f"an image sequence must end in .png (or .tif/.webp): {path.name}")
        return
    if suffix not in ALPHA_CONTAINERS and suffix not in OPENCV_FOURCC:
        raise ValueError(
            f"cannot write video {path.name}: use .webm, .mov, .mp4, .avi, .mkv, "
            "or a frame pattern such as frames/%05d.png"
        )
    if alpha and suffix not in ALPHA_CONTAINERS:
        raise ValueError(
            f"{suffix} has no alpha channel for a cut-out: write .webm (VP9 with alpha), .mov "
            "(ProRes 4444) or frames/%05d.png, or pick --effect replace or blur"
        )


def open_writer(path: str | Path, fps: float, size: tuple[int, int], alpha: bool) -> FrameWriter:
    """A writer of ``size`` (W, H) frames at ``fps`` into ``path`` (see the module's text)."""
    path = Path(path)
    check_output(path, alpha)
    if is_sequence(path):
        return SequenceWriter(path)
    if path.suffix.lower() in ALPHA_CONTAINERS:
        return PyAVWriter(path, fps, size, alpha)
    return OpenCVWriter(path, fps, size)


def to_bgr(result: np.ndarray) -> np.ndarray:
    """Effect output → BGR (or BGRA) for OpenCV."""
    if result.ndim == 2:
        return cv2.cvtColor(result, cv2.COLOR_GRAY2BGR)
    if result.shape[2] == 4:
        return cv2.cvtColor(result, cv2.COLOR_RGBA2BGRA)
    return cv2.cvtColor(result, cv2.COLOR_RGB2BGR)


class OpenCVWriter:
    """``.mp4``/``.avi``/``.mkv`` through OpenCV (no alpha)."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]):
        fourcc = cv2.VideoWriter_fourcc(*OPENCV_FOURCC[path.suffix.lower()])
        self.writer = cv2.VideoWriter(str(path), fourcc, fps, size)
        if not self.writer.isOpened():
            raise ValueError(f"OpenCV cannot write video {path}; try a .webm or .mov name")

    def write(self, result: np.ndarray) -> None:
        self.writer.write(to_bgr(result))

    def close(self) -> None:
        self.writer.release()


class SequenceWriter:
    """One image per frame, ``path % index`` (from 0); RGBA kept."""

    def __init__(self, path: Path):
        self.pattern, self.n = str(path), 0
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, result: np.ndarray) -> None:
        name = self.pattern % self.n
        if not cv2.imwrite(name, to_bgr(result)):
            raise ValueError(f"cannot write {name}")
        self.n += 1

    def close(self) -> None:
        pass


def _import_av():
    try:
        import av
    except ImportError:  # a core dependency: only a broken environment lacks it
        raise RuntimeError("writing .webm/.mov needs PyAV: pip install 'av>=14'") from None
    return av


class PyAVWriter:
    """``.webm`` (VP9) or ``.mov`` (ProRes 4444) through PyAV, with alpha when asked."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int], alpha: bool):
        av = _import_av()
        codec, with_alpha, without = ALPHA_CONTAINERS[path.suffix.lower()]
        self.av, self.alpha = av, alpha
        self.container = av.open(str(path), "w")
        rate = Fraction(fps).limit_denominator(1001)
        self.stream = self.container.add_stream(codec, rate=rate)
        self.stream.width, self.stream.height = size
        self.stream.pix_fmt = with_alpha if alpha else without
        if codec == "prores_ks":
            self.stream.options = {"profile": "4" if alpha else "3"}  # 4444 / HQ
        else:  # VP9: constant quality, a speed that keeps up with the model
            self.stream.options = {"crf": "24", "b": "0", "deadline": "realtime", "cpu-used": "8"}

    def write(self, result: np.ndarray) -> None:
        if result.ndim == 2:
            result = cv2.cvtColor(result, cv2.COLOR_GRAY2RGB)
        if self.alpha and result.shape[2] == 3:
            result = cv2.cvtColor(result, cv2.COLOR_RGB2RGBA)
        fmt = "rgba" if result.shape[2] == 4 else "rgb24"
        frame = self.av.VideoFrame.from_ndarray(np.ascontiguousarray(result), format=fmt)
        self.container.mux(self.stream.encode(frame))

    def close(self) -> None:
        self.container.mux(self.stream.encode())  # flush
        self.container.close()


def _seconds(packet) -> float:
    t = packet.pts if packet.pts is not None else packet.dts
    return float((t or 0) * packet.time_base)


def copy_audio(source: str | Path, video: str | Path) -> str:
    """Put ``source``'s first audio track into ``video`` (replaced atomically), cut at the
    video's end. Returns ``"copied"``, ``"re-encoded"`` (the container did not take the
    codec: Opus for ``.webm``, AAC elsewhere), ``"none"`` (no audio track or not a file
    PyAV reads) or ``"failed"`` (the video is kept silent)."""
    video = Path(video)
    if is_sequence(video):
        return "none"
    av = _import_av()
    try:
        src = av.open(str(source))
    except (av.FFmpegError, OSError):
        return "none"
    with src:
        if not src.streams.audio:
            return "none"
        tmp = video.with_name(f".{video.stem}.audio{video.suffix}")
        try:
            how = _mux_with_audio(av, src, video, tmp)
        except (av.FFmpegError, ValueError, OSError):
            tmp.unlink(missing_ok=True)
            return "failed"
    tmp.replace(video)
    return how


def _mux_with_audio(av, src, video: Path, tmp: Path) -> str:
    audio_in = src.streams.audio[0]
    encoder, takes = AUDIO_FOR.get(video.suffix.lower(), ("aac", None))
    copy = takes is None or audio_in.codec_context.name in takes
    with av.open(str(video)) as vin, av.open(str(tmp), "w") as out:
        v_in = vin.streams.video[0]
        v_out = out.add_stream_from_template(v_in)
        end = float(v_in.duration * v_in.time_base) if v_in.duration else None
        if end is None and vin.duration:
            end = vin.duration / 1e6
        if copy:
            a_out = out.add_stream_from_template(audio_in)
            audio = src.demux(audio_in)
        else:
            a_out = out.add_stream(encoder, rate=48000)
            audio = _reencoded(src, audio_in, a_out)
        merged = heapq.merge(_timed(vin.demux(v_in), 0, v_out), _timed(audio, 1, a_out))
        for t, _, _, packet, stream in merged:
            if packet.dts is None and packet.size == 0:
                continue  # demuxers end each stream with an empty packet
            if stream is a_out and end is not None and t >= end:
                continue
            packet.stream = stream
            out.mux(packet)
    return "copied" if copy else "re-encoded"


def _timed(packets, order: int, stream):
    """(seconds, order, index, packet, stream to write it to) for each packet; the first
    three are the merge's key (never equal: packets themselves do not compare)."""
    for i, packet in enumerate(packets):
        yield _seconds(packet), order, i, packet, stream


def _reencoded(src, audio_in, a_out):
    """Packets of ``a_out``'s codec from ``audio_in``'s decoded frames, time-stamped in
    samples (the encoder leaves them without, and the muxer then cannot interleave)."""
    start = 0
    for packet in src.demux(audio_in):
        for frame in packet.decode():
            frame.pts = None  # the encoder resamples: its own clock
            for out in a_out.encode(frame):
                out.pts = out.dts = start
                start += out.duration or 0
                yield out
