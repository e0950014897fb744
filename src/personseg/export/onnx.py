"""ONNX export with a parity check against PyTorch (torch.export-based ``torch.onnx.export``).

The graph has a dynamic batch and dynamic height/width (multiples of the model's size divisor);
the model's :class:`~personseg.checkpoint.ModelSpec` travels inside the file as JSON under the
``personseg`` key.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from personseg._version import __version__
from personseg.checkpoint import (
    BUNDLED,
    ModelSpec,
    bundled_onnx,
    load_checkpoint,
    resolve_checkpoint,
)
from personseg.config import ONNX_BACKENDS
from personseg.inference.onnx_runner import METADATA_KEY, _ort
from personseg.inference.segmenter import ImageLike, Segmenter, as_rgb
from personseg.models import without_upsampling


def _onnx():
    """The ``onnx`` package (with onnxscript, which torch's exporter needs), or a clear error."""
    try:
        import onnx
        import onnxscript  # noqa: F401
    except ImportError as err:
        raise ValueError(
            f"ONNX export needs the onnx extra ({err.name} is missing): "
            f"pip install 'personseg[onnx]'"
        ) from None
    return onnx


class ParityError(ValueError):
    """The exported model's output differs from PyTorch's by more than the tolerance."""


def _synthetic_images(n: int = 4) -> list[np.ndarray]:
    """Smooth random pictures of several sizes and aspect ratios (no data needed)."""
    rng = np.random.default_rng(0)
    sizes = [(240, 180), (200, 320), (97, 131), (256, 256)][:n]
    out = []
    for h, w in sizes:
        low = rng.integers(0, 255, (h // 8 + 2, w // 8 + 2, 3)).astype(np.float32)
        img = torch.nn.functional.interpolate(
            torch.from_numpy(low).permute(2, 0, 1)[None], size=(h, w), mode="bilinear"
        )[0].permute(1, 2, 0)
        out.append(img.clamp(0, 255).to(torch.uint8).numpy())
    return out


def export_onnx(checkpoint: str | Path, out: str | Path, **options: Any) -> dict[str, Any]:
    """Export a ``best.pt``/``last.pt`` to ONNX; ``options`` as for :func:`export_model`."""
    ckpt = load_checkpoint(checkpoint)
    return export_model(ckpt.model(), ckpt.spec, out, **options)


def export_model(
    model: torch.nn.Module,
    spec: ModelSpec,
    out: str | Path,
    opset: int = 18,
    check_images: Sequence[ImageLike] | None = None,
    atol: float = 1e-4,
    min_iou: float = 0.999,
) -> dict[str, Any]:
    """Export a model to ONNX and check it against PyTorch (fp32) at once.

    ``spec`` describes the model and goes into the file; ``check_images`` default to
    synthetic pictures.

    Raises:
        ParityError: the max absolute probability difference exceeds ``atol`` or the mask IoU
            falls below ``min_iou``; no file is left behind then.

    Returns:
        ``path``, ``opset``, ``size_mb``, ``max_abs_diff``, ``mask_iou``, ``n_images``.
    """
    if opset < 17:
        raise ValueError(f"opset must be at least 17, got {opset}")
    _onnx()
    model = model.float().eval()
    model = without_upsampling(model)  # logits at the network's own stride (fastseg)
    size, d = spec.input_size, spec.divisor
    if size < 2 * d:
        raise ValueError(
            f"ONNX export needs an input size of at least {2 * d} for {spec.name} (twice its "
            f"size divisor), got {size}; export a .pt with --input-size {2 * d} first"
        )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp.onnx")
    batch = torch.export.Dim("batch", min=1, max=4096)
    height = d * torch.export.Dim("height_d", min=2, max=8192 // d)
    width = d * torch.export.Dim("width_d", min=2, max=8192 // d)
    try:
        with _quiet_exporter():
            torch.onnx.export(
                model,
                (torch.zeros(1, 3, size, size),),
                tmp,
                input_names=["image"],
                output_names=["logits"],
                opset_version=opset,
                dynamo=True,
                dynamic_shapes=({0: batch, 2: height, 3: width},),
                external_data=False,
            )
        _write_metadata(tmp, spec, opset)
        report = _parity(spec, model, tmp, check_images or _synthetic_images(), atol, min_iou)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return {"path": str(out), "opset": opset, "size_mb": out.stat().st_size / 2**20, **report}


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter and the quantizer print progress and advice: keep them quiet."""
    loggers = [logging.getLogger("torch.onnx"), logging.getLogger()]  # ORT logs on the root
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _strip_node_metadata(nodes: Any) -> None:
    """Drop the exporter's per-node metadata (Python stack traces naming the files of the
    machine that exported), in these nodes and their subgraphs."""
    for node in nodes:
        del node.metadata_props[:]
        for attr in node.attribute:
            for sub in [attr.g, *attr.graphs]:
                _strip_node_metadata(sub.node)


def _write_metadata(path: Path, spec: ModelSpec, opset: int) -> None:
    """Add personseg's metadata entry (the spec) and remove machine-specific node metadata."""
    onnx = _onnx()
    proto = onnx.load(str(path))
    for nodes in [proto.graph.node, *(f.node for f in proto.functions)]:
        _strip_node_metadata(nodes)
    meta = {"spec": spec.to_dict(), "opset": opset, "personseg": __version__}
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta)
    onnx.save(proto, str(path))


def _agreement(
    ref: Segmenter, other: Segmenter, images: Sequence[ImageLike]
) -> tuple[float, float]:
    """Max absolute probability difference and pooled mask IoU of two segmenters' networks
    (the edge filter they share is switched off)."""
    ref.refine = other.refine = "none"
    max_diff, inter, union = 0.0, 0, 0
    for image in images:
        a, b = ref.predict(image), other.predict(image)
        max_diff = max(max_diff, float(np.abs(a - b).max()))
        ma, mb = a > ref.threshold, b > ref.threshold
        inter += int((ma & mb).sum())
        union += int((ma | mb).sum())
    return max_diff, inter / union if union else 1.0


def _parity(
    spec: ModelSpec,
    model: torch.nn.Module,
    path: Path,
    images: Sequence[ImageLike],
    atol: float,
    min_iou: float,
) -> dict[str, Any]:
    ref = Segmenter(model, spec, device="cpu", precision="fp32")
    max_diff, iou = _agreement(ref, Segmenter.from_checkpoint(path), images)
    if max_diff > atol or iou < min_iou:
        raise ParityError(
            f"the ONNX model differs from PyTorch: max probability difference {max_diff:.2e} "
            f"(allowed {atol:.0e}), mask IoU {iou:.5f} (needed {min_iou}); not written"
        )
    return {"max_abs_diff": max_diff, "mask_iou": iou, "n_images": len(images)}


def model_for_backend(model: str | Path, backend: str) -> str | Path:
    """The model file ``backend`` runs: for ``onnx`` and ``openvino``, a ``.pt`` or run
    directory is exported (fp32) beside itself first (:func:`onnx_for_checkpoint`); a bundled
    name, an ``.onnx`` file or another backend's model as it is."""
    if backend in ONNX_BACKENDS and str(model) not in BUNDLED and Path(model).suffix != ".onnx":
        return onnx_for_checkpoint(model)
    return model


def onnx_for_checkpoint(checkpoint: str | Path) -> Path:
    """The ``.onnx`` beside a ``.pt`` checkpoint, exported (and checked) when missing or older.

    ``default`` gives the bundled int8 ONNX model. For a checkpoint in a folder we cannot
    write, the file goes to the user cache (``$PERSONSEG_CACHE``, else ``~/.cache/personseg``).
    """
    if str(checkpoint) in BUNDLED:
        return bundled_onnx(str(checkpoint))
    ckpt = resolve_checkpoint(checkpoint)
    if ckpt.suffix == ".onnx":
        return ckpt
    out = ckpt.with_suffix(".onnx")
    if not os.access(ckpt.parent, os.W_OK):
        cache = Path(os.environ.get("PERSONSEG_CACHE", Path.home() / ".cache" / "personseg"))
        cache.mkdir(parents=True, exist_ok=True)
        where = hashlib.sha256(str(ckpt.resolve()).encode()).hexdigest()[:12]  # one per file
        out = cache / f"{ckpt.stem}-{where}-{__version__}.onnx"
    if not out.exists() or out.stat().st_mtime < ckpt.stat().st_mtime:
        export_onnx(ckpt, out)
    return out


def quantize_onnx(
    fp32_path: str | Path, out: str | Path, calibration: Sequence[ImageLike]
) -> dict[str, Any]:
    """Static int8 quantization (QDQ, per-channel weights) calibrated on real images.

    Returns the mask IoU of the int8 model against the fp32 model on the calibration images
    (``int8_mask_iou``) and their max probability difference; the caller decides whether that
    is good enough.
    """
    _ort()  # a clear error when ONNX Runtime is missing
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    if not calibration:
        raise ValueError("int8 quantization needs calibration images: pass --check-images")
    onnx = _onnx()
    ref = Segmenter.from_checkpoint(fp32_path)
    batches = [ref.prepare(as_rgb(image))[0][None] for image in calibration]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.items, None)
            return None if batch is None else {ref.model.input_name: batch}

    out = Path(out)
    tmp = out.with_name(f".{out.stem}.int8.tmp.onnx")
    try:
        with _quiet_exporter():
            quantize_static(
                str(fp32_path),
                str(tmp),
                Reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
            )
        proto = onnx.load(str(tmp))
        meta = onnx.load(str(fp32_path)).metadata_props
        del proto.metadata_props[:]
        proto.metadata_props.extend(meta)
        onnx.save(proto, str(tmp))
        max_diff, iou = _agreement(ref, Segmenter.from_checkpoint(tmp), calibration)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return {
        "path": str(out),
        "size_mb": out.stat().st_size / 2**20,
        "int8_mask_iou": iou,
        "int8_max_abs_diff": max_diff,
        "n_calibration": len(calibration),
    }
