"""``Segmenter``: a trained model plus its pre- and post-processing, image in, probabilities out."""

from __future__ import annotations

import copy
import importlib.util
import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from personseg.checkpoint import BUNDLED, DEFAULT_MODEL, ModelSpec, bundled_onnx, load_checkpoint
from personseg.config import BACKENDS, ONNX_BACKENDS
from personseg.data.dataset import load_image
from personseg.data.geometry import area_resize, fit_shape, letterbox, unletterbox
from personseg.device import Runtime
from personseg.inference.effects import binary_mask, check_refine, guide_shape, refine_edge
from personseg.inference.memory import keep_freed_memory
from personseg.inference.subject import SubjectFilter
from personseg.models import without_upsampling

log = logging.getLogger(__name__)
MIN_FIT_SIZE = 128  # a small photo's ``fit`` input is never below about 128² pixels

ImageLike = np.ndarray | str | Path


def as_rgb(image: ImageLike) -> np.ndarray:
    """RGB uint8 (H, W, 3) from a path, or from an RGB / grey / RGBA array."""
    if isinstance(image, (str, Path)):
        return load_image(image)
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}; scale to 0-255 first")
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return np.ascontiguousarray(image[..., :3])
    raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got {image.shape}")


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x) in float32, in NumPy: a torch op here would leave PyTorch's OpenMP
    threads spinning on the cores that ONNX Runtime and OpenCV need next (measured: the fast
    model's step took 8.4 ms instead of 4.2)."""
    out = np.negative(logits, dtype=np.float32)
    with np.errstate(over="ignore"):  # e^89 and more is inf in float32: 1 / inf is 0
        np.exp(out, out=out)
    out += 1
    return np.reciprocal(out, out=out)


class Stopwatch:
    """Adds the seconds since the last lap (or restart) to ``timings[name]``; does nothing
    when ``timings`` is None."""

    def __init__(self, timings: dict[str, float] | None):
        self.timings, self.last = timings, time.perf_counter()

    def restart(self) -> None:
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        if self.timings is not None:
            now = time.perf_counter()
            self.timings[name] = self.timings.get(name, 0.0) + now - self.last
            self.last = now


def fuse_conv_bn(model: nn.Module) -> nn.Module:
    """A copy of an eval-mode model with every Conv2d → BatchNorm2d pair inside an
    ``nn.Sequential`` folded into one convolution (same outputs, fewer memory passes)."""
    model = copy.deepcopy(model).eval()
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                seq[i], seq[i + 1] = fuse_conv_bn_eval(conv, bn), nn.Identity()
    return model


def onnx_runner(path: str | Path, backend: str, device: str = "auto") -> Callable:
    """An exported ``.onnx`` model on ONNX Runtime (``onnx``) or OpenVINO (``openvino``)."""
    if backend == "openvino":
        from personseg.inference.openvino_runner import OpenVinoRunner

        return OpenVinoRunner(path, device=device)
    from personseg.inference.onnx_runner import OrtRunner

    return OrtRunner(path, device=device)


def fastest_backend() -> str:
    """What ``auto`` runs the bundled fast model on: OpenVINO when installed (the fastest here,
    docs/benchmarks.md), else ONNX Runtime, else PyTorch; logged in one line if not OpenVINO."""
    if importlib.util.find_spec("openvino") is not None:
        return "openvino"
    onnx = importlib.util.find_spec("onnxruntime") is not None
    backend, name = ("onnx", "ONNX Runtime") if onnx else ("torch", "PyTorch")
    log.info("the fast model runs on %s (pip install 'personseg[openvino]' for its fastest)", name)
    return backend


class Segmenter:
    """Predict person probability maps at each image's own resolution.

    Images are letterboxed (aspect kept, zero padding) or stretched to the model's input size,
    as the model was trained, normalised, run, and mapped back. With ``refine="guided"`` (the
    default) the map's edge is then moved onto the photo's edges by a guided filter at the
    photo's resolution (:func:`~personseg.inference.effects.refine_edge`), so masks, cut-outs
    and scores share one edge; ``refine="none"`` gives the network's own map.

    Example:
        >>> seg = Segmenter.from_checkpoint("runs/exp/best.pt")
        >>> prob = seg.predict("photo.jpg")  # (H, W) float32 in [0, 1]
        >>> mask = prob > seg.threshold
    """

    def __init__(
        self,
        model: nn.Module | Callable[[np.ndarray], np.ndarray],
        spec: ModelSpec,
        device: str = "auto",
        precision: str = "auto",
        optimize: bool = True,
        refine: str = "guided",
        subject: str = "all",
        min_area: float = 0.0,
    ):
        """``model`` is a torch module, or any callable mapping a normalised float32 batch
        ``(N, 3, H, W)`` to logits ``(N, 1, H, W)`` (e.g. an ONNX Runtime session); ``spec``
        says how to feed it (:class:`~personseg.checkpoint.ModelSpec`); ``subject`` and
        ``min_area`` which person regions each map keeps (:mod:`personseg.inference.subject`:
        ``main`` for the photo's subject only). On glibc, freed
        arrays of up to 32 MiB are kept for reuse from here on (``memory.keep_freed_memory``):
        each frame's full-size arrays otherwise paid page faults, up to twice the time."""
        keep_freed_memory()
        if isinstance(model, nn.Module):
            self.rt = Runtime.create(device, precision, channels_last=optimize)
            model = without_upsampling(fuse_conv_bn(model) if optimize else model.eval())
            self.model = self.rt.prepare(model)  # logits at their own stride (see _finish)
            self.backend = f"torch-{self.rt.device.type}-{self.rt.precision}"
        else:
            self.rt, self.model, self.backend = None, model, getattr(model, "name", "callable")
        self.spec = spec
        self.refine = check_refine(refine)
        self.subjects = SubjectFilter(subject, min_area)
        self.enlarge = False  # fit: whether photos of fewer than S² pixels are scaled up to S²
        self.mean = np.asarray(spec.mean, np.float32).reshape(3, 1, 1) * 255
        self.inv_std = 1 / (np.asarray(spec.std, np.float32).reshape(3, 1, 1) * 255)

    @property
    def input_size(self) -> int:
        return self.spec.input_size

    @input_size.setter
    def input_size(self, size: int) -> None:
        self.spec = self.spec.replace(input_size=size)  # checked against the divisor

    @property
    def threshold(self) -> float:
        return self.spec.threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        self.spec = self.spec.replace(threshold=value)

    @property
    def resize(self) -> str:
        return self.spec.resize

    @resize.setter
    def resize(self, mode: str) -> None:
        self.spec = self.spec.replace(resize=mode)

    @classmethod
    def from_pretrained(
        cls, backend: str = "torch", device: str = "auto", precision: str = "auto"
    ) -> Segmenter:
        """The default person model shipped with personseg (MODEL_CARD.md), on PyTorch or,
        with ``backend="onnx"`` or ``"openvino"``, on ONNX Runtime or OpenVINO (its int8
        model)."""
        return cls.load(DEFAULT_MODEL, backend, device, precision)

    @classmethod
    def load(
        cls,
        model: str | Path = DEFAULT_MODEL,
        backend: str = "auto",
        device: str = "auto",
        precision: str = "auto",
        refine: str = "guided",
        input_size: int | None = None,
        threshold: float | None = None,
        subject: str = "all",
        min_area: float = 0.0,
    ) -> Segmenter:
        """A bundled model (``default``, ``fast``), checkpoint, run directory or ``.onnx`` file.

        ``backend``: ``torch``, ``onnx`` (ONNX Runtime) or ``openvino`` (OpenVINO, CPU): for
        these two a bundled name gives its ONNX model and a ``.pt`` must be exported first
        (:func:`personseg.export.model_for_backend`); or ``auto``: ``fast`` on the fastest
        installed (:func:`fastest_backend`), else by the file's type (an ``.onnx`` on ONNX
        Runtime, else PyTorch). ``input_size`` and ``threshold`` override the model's own (the
        size is checked against its divisor); ``subject`` and ``min_area``: see ``__init__``.
        """
        keep = {"refine": refine, "subject": subject, "min_area": min_area}
        changes = {"input_size": input_size, "threshold": threshold}
        changes = {k: v for k, v in changes.items() if v is not None}
        if backend not in BACKENDS:
            names = ", ".join(repr(b) for b in BACKENDS)
            raise ValueError(f"backend must be one of {names}, got {backend!r}")
        if backend == "auto" and str(model) == "fast":
            backend = fastest_backend()
        if backend in ONNX_BACKENDS and str(model) in BUNDLED:
            model = bundled_onnx(str(model))
        if Path(model).suffix == ".onnx":
            if backend == "torch":
                raise ValueError(
                    f"{model} is an ONNX model: use --backend onnx, openvino (or auto)"
                )
            runner = onnx_runner(model, "onnx" if backend == "auto" else backend, device)
            return cls(runner, runner.spec.replace(**changes), **keep)
        if backend in ONNX_BACKENDS:
            raise ValueError(
                f"{model} is a PyTorch checkpoint: export it first (personseg export --model "
                f"{model} --out model.onnx), or use --backend torch"
            )
        ckpt = load_checkpoint(model)
        return cls(ckpt.model(), ckpt.spec.replace(**changes), device, precision, **keep)

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str = "auto", precision: str = "auto"
    ) -> Segmenter:
        """A ``best.pt``/``last.pt`` (a run directory means its ``best.pt``), or an ``.onnx``
        file written by ``personseg export`` (run on ONNX Runtime)."""
        return cls.load(path, "auto", device, precision)

    @torch.inference_mode()
    def _logits(self, batch: np.ndarray) -> np.ndarray:
        """``(N, 3, H, W)`` float32 → logits ``(N, H, W)`` float32."""
        if self.rt is None:
            return np.asarray(self.model(batch), np.float32)[:, 0]
        with self.rt.autocast():
            logits = self.model(self.rt.images(torch.from_numpy(batch)))
        return logits.float()[:, 0].cpu().numpy()

    def prepare(self, image: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """RGB uint8 image → normalised ``(3, h, w)`` float32 input and its letterbox box.

        ``letterbox``: an S×S square; ``fit``: a rectangle of about S² pixels shaped like the
        image (multiples of the model's size divisor), or of about the image's own pixel
        count when it has fewer (not below 128²) unless ``enlarge`` is set; ``stretch``: an
        S×S square, aspect not kept.
        """
        s = self.input_size
        if self.resize == "letterbox":
            padded, box = letterbox(image, s)
        elif self.resize == "fit":
            h, w = image.shape[:2]
            size = s if self.enlarge else min(s, max(MIN_FIT_SIZE, math.isqrt(h * w)))
            padded, box = letterbox(image, fit_shape(h, w, size, self.spec.divisor))
        else:
            padded, box = area_resize(image, (s, s)), (0, 0, s, s)
        # channels first while still uint8, then normalise in place: one float pass, no copies
        x = np.ascontiguousarray(padded.transpose(2, 0, 1)).astype(np.float32)
        x -= self.mean
        x *= self.inv_std
        return x, box

    def predict_batch(
        self,
        images: Sequence[ImageLike],
        sizes: Sequence[tuple[int, int] | None] | None = None,
        timings: dict[str, float] | None = None,
        subjects: SubjectFilter | None = None,
    ) -> list[np.ndarray]:
        """Probability maps (H, W) float32, one per image; images whose inputs have the same
        shape share one forward pass.

        Args:
            images: paths or RGB uint8 arrays.
            sizes: optional (H, W) per image to return the map at instead of the image's size
                (e.g. a ground-truth mask's size).
            timings: when given, the seconds spent in ``resize`` (to the model's input,
                normalised), ``model`` (the network and its sigmoid) and ``edge`` (back to
                the photo's size, guided filter) are added to it.
            subjects: which person regions to keep, instead of the Segmenter's own
                (:attr:`subjects`); the video path passes one that tracks its subject.
        """
        clock = Stopwatch(timings)
        rgb = [as_rgb(im) for im in images]
        prepared = [self.prepare(im) for im in rgb]
        clock.lap("resize")
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, (x, _) in enumerate(prepared):
            groups.setdefault(x.shape, []).append(i)
        probs: list[np.ndarray] = [np.empty(0)] * len(rgb)
        strides = [1] * len(rgb)
        for shape, idx in groups.items():
            logits = self._logits(np.stack([prepared[i][0] for i in idx]))  # (n, h/s, w/s)
            stride = shape[-1] // logits.shape[-1]  # 4 for fastseg's exported logits
            for i, p in zip(idx, sigmoid(logits), strict=True):
                probs[i], strides[i] = p, stride
        clock.lap("model")
        sizes = sizes or [None] * len(rgb)
        out = [
            self._finish(prob, box, im, size, stride, subjects)
            for prob, (_, box), im, size, stride in zip(
                probs, prepared, rgb, sizes, strides, strict=True
            )
        ]
        clock.lap("edge")
        return out

    def _finish(
        self,
        prob: np.ndarray,
        box: tuple[int, int, int, int],
        image: np.ndarray,
        size: tuple[int, int] | None,
        stride: int = 1,
        subjects: SubjectFilter | None = None,
    ) -> np.ndarray:
        """The model's map (at ``stride`` of its input) back at the image's resolution, its
        regions chosen (``subjects``, at the edge filter's size), refined, then at ``size``."""
        subjects = subjects or self.subjects
        if self.refine == "none":
            full = unletterbox(prob, box, size or image.shape[:2], stride)
            if subjects.passes_all:
                return full
            small = unletterbox(prob, box, guide_shape(image.shape[:2]), stride)
            keep = subjects.weights(small, self.threshold)
            return full if keep is None else full * cv2.resize(keep, full.shape[::-1])
        # straight to the size the edge filter works at, not up to the photo's and down again
        small = unletterbox(prob, box, guide_shape(image.shape[:2]), stride)
        prob = refine_edge(image, subjects(small, self.threshold), self.refine)
        if size is not None and tuple(size) != prob.shape:
            prob = cv2.resize(prob, tuple(size)[::-1], interpolation=cv2.INTER_LINEAR)
        return prob

    def predict(
        self,
        image: ImageLike,
        size: tuple[int, int] | None = None,
        subjects: SubjectFilter | None = None,
    ) -> np.ndarray:
        """Person probability (H, W) float32 in [0, 1] at the image's resolution (or ``size``);
        ``subjects`` as in :meth:`predict_batch`."""
        return self.predict_batch([image], [size], subjects=subjects)[0]

    def predict_mask(self, image: ImageLike, threshold: float | None = None) -> np.ndarray:
        """Mask (H, W) uint8 in {0, 255}."""
        t = self.threshold if threshold is None else threshold
        return binary_mask(self.predict(image), t)
