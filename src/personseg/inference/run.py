"""Library functions behind ``personseg predict`` and ``personseg evaluate``."""

from __future__ import annotations

import csv
import glob
import os
import shutil
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from personseg.data import load_image, load_mask
from personseg.data.dataset import IMAGE_EXTENSIONS, Sample, load_ignore
from personseg.data.geometry import MASK_RESIZE
from personseg.data.images import DEFAULT_MAX_PIXELS
from personseg.inference.effects import EFFECTS, apply_effect
from personseg.inference.images import read_ahead
from personseg.inference.segmenter import Segmenter
from personseg.metrics import DEFAULT_BOUNDARY_TOLERANCE, MetricAccumulator
from personseg.viz import overlay, save_gallery, save_side_by_side


def collect_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Expand files, folders (their images, sorted) and glob patterns into image paths."""
    paths: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            paths += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS)
        elif p.is_file():
            paths.append(p)
        elif glob.has_magic(str(item)):
            paths += sorted(
                Path(f)
                for f in glob.glob(str(item), recursive=True)
                if Path(f).suffix.lower() in IMAGE_EXTENSIONS
            )
        else:
            raise FileNotFoundError(f"input not found: {item}")
    if not paths:
        raise ValueError(
            f"no images found in {', '.join(map(str, inputs))} "
            f"(looked for {', '.join(IMAGE_EXTENSIONS)})"
        )
    stems: dict[str, Path] = {}
    for p in paths:
        if p.stem in stems and stems[p.stem] != p:
            raise ValueError(
                f"{p} and {stems[p.stem]} would both write {p.stem}_mask.png; "
                f"predict them into different --out folders"
            )
        stems[p.stem] = p
    return list(dict.fromkeys(paths))


def write_png(path: Path, image: np.ndarray) -> None:
    """Write a grey, RGB or RGBA uint8 array (any format OpenCV knows by the suffix)."""
    if image.ndim == 2:
        arr = image
    elif image.shape[2] == 4:
        arr = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    else:
        arr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), arr):
        raise OSError(f"cannot write {path}")


def predict_files(
    segmenter: Segmenter,
    paths: Sequence[Path],
    out_dir: str | Path,
    visualize: bool = False,
    threshold: float | None = None,
    batch_size: int = 4,
    effects: Sequence[str] = ("mask",),
    effect_options: dict[str, Any] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> dict[str, Any]:
    """Write ``<stem>_<effect>.png`` per image and effect, at the image's size (``mask``: 0/255;
    ``cutout``: RGBA; see :func:`~personseg.inference.effects.apply_effect`), and with
    ``visualize`` ``<stem>_overlay.png`` and ``<stem>_figure.png``. Unreadable images (not an
    image, truncated, corrupt, more than ``max_pixels``) are skipped and listed.
    ``effect_options`` go to ``apply_effect`` (blur, background).

    Returns:
        ``written`` (the files), ``failed`` (one line each, naming the file), ``no_person``
        (the images in which nothing is marked), ``ms_per_image`` (model with pre- and
        post-processing, per image — not per file written).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t = segmenter.threshold if threshold is None else threshold
    opts = effect_options or {}
    for effect in effects:
        if effect not in EFFECTS:
            raise ValueError(f"unknown effect {effect!r}; choose from {', '.join(EFFECTS)}")
    written, failed, no_person, seconds, n_images = [], [], [], 0.0, 0
    chunks = [paths[i : i + batch_size] for i in range(0, len(paths), batch_size)]
    # decode in threads (OpenCV releases the GIL), one batch ahead of the model, so memory
    # holds two batches whatever the number of images
    decoders = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1))

    def load(c: Sequence[Path]) -> list[tuple[Path, np.ndarray | None, str]]:
        return list(decoders.map(lambda p: _try_load(p, max_pixels), c))

    with decoders:
        for loaded in read_ahead(load(c) for c in chunks):
            chunk, images = [], []
            for p, image, error in loaded:
                if error:
                    failed.append(error)  # the loader's messages name the file
                else:
                    chunk.append(p)
                    images.append(image)
            if chunk:
                n_images += len(chunk)
                spent, nobody = _write_chunk(
                    segmenter, chunk, images, out, t, visualize, written, effects, opts
                )
                seconds += spent
                no_person += nobody
    return {
        "written": written,
        "failed": failed,
        "no_person": no_person,
        "ms_per_image": 1000 * seconds / max(n_images, 1),
    }


DEMO_EFFECTS = ("mask", "overlay", "cutout", "blur")


def sample_image() -> Path:
    """The portrait photo that matplotlib ships (Grace Hopper), so the demo needs no download."""
    from matplotlib import cbook

    return Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def write_demo(segmenter: Segmenter, image_path: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """Segment one photo and write ``<stem>_{mask,overlay,cutout,blur}.png`` into ``out_dir``.

    Returns:
        ``written`` (paths), ``ms`` (the segmentation after a warm-up call, pre- and
        post-processing included) and ``person_found`` (anything marked at all).
    """
    segmenter.predict(load_image(image_path))  # warm-up: the first call sets up kernels
    result = predict_files(segmenter, [Path(image_path)], out_dir, effects=DEMO_EFFECTS)
    if result["failed"]:
        raise ValueError(result["failed"][0])
    return {
        "written": result["written"],
        "ms": result["ms_per_image"],
        "person_found": not result["no_person"],
    }


def _try_load(path: Path, max_pixels: int) -> tuple[Path, np.ndarray | None, str]:
    try:
        return path, load_image(path, max_pixels), ""
    except (ValueError, OSError) as err:
        return path, None, str(err)


def _write_chunk(
    segmenter: Segmenter,
    chunk: list[Path],
    images: list[np.ndarray],
    out: Path,
    threshold: float,
    visualize: bool,
    written: list[Path],
    effects: Sequence[str],
    opts: dict[str, Any],
) -> tuple[float, list[Path]]:
    """Predict one batch and write its files; returns the seconds spent in the model and the
    images in which nothing is marked."""
    t0 = time.perf_counter()
    probs = segmenter.predict_batch(images)
    seconds = time.perf_counter() - t0
    nobody = []
    for p, image, prob in zip(chunk, images, probs, strict=True):
        mask = prob > threshold
        if not mask.any():
            nobody.append(p)
        for effect in effects:
            path = out / f"{p.stem}_{effect}.png"
            write_png(path, apply_effect(image, prob, effect, threshold, **opts))
            written.append(path)
        if visualize:
            write_png(out / f"{p.stem}_overlay.png", overlay(image, mask))
            save_side_by_side(image, prob, mask, out / f"{p.stem}_figure.png", p.name)
            written += [out / f"{p.stem}_overlay.png", out / f"{p.stem}_figure.png"]
    return seconds, nobody


def prelabel_files(
    segmenter: Segmenter,
    paths: Sequence[Path],
    out_dir: str | Path,
    fmt: str,
    threshold: float | None = None,
    tolerance: float = 1.0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> dict[str, Any]:
    """Pre-labels to correct in a labelling tool: the model's person masks written in ``fmt``
    (``coco``: ``annotations.json`` with RLE; ``cvat``: ``annotations.xml`` with ``<mask>``;
    ``labelme``: ``<stem>.json`` polygons simplified to ``tolerance`` pixels), with a copy of
    each photo (``images/`` for COCO and CVAT, beside the JSON for LabelMe), so that
    ``personseg data import FORMAT OUT_DIR`` reads them back.

    Returns:
        ``written`` (label files), ``failed`` (unreadable images, one line each).
    """
    from personseg.data.formats import LABEL_FORMATS, write_coco, write_cvat, write_labelme

    if fmt not in LABEL_FORMATS:
        raise ValueError(f"unknown label format {fmt!r}; choose from {', '.join(LABEL_FORMATS)}")
    out = Path(out_dir)
    photos = out if fmt == "labelme" else out / "images"
    photos.mkdir(parents=True, exist_ok=True)
    t = segmenter.threshold if threshold is None else threshold
    items, written, failed = [], [], []
    for p in paths:
        _, image, error = _try_load(p, max_pixels)
        if error:
            failed.append(error)
            continue
        mask = segmenter.predict(image) > t
        if (photos / p.name).resolve() != p.resolve():
            shutil.copyfile(p, photos / p.name)
        if fmt == "labelme":
            written.append(write_labelme(p.name, mask, out / f"{p.stem}.json", tolerance))
        items.append((p.name, mask))
    if fmt == "coco" and items:
        written.append(write_coco(items, out / "annotations.json"))
    elif fmt == "cvat" and items:
        written.append(write_cvat(items, out / "annotations.xml"))
    return {"written": written, "failed": failed}


def evaluate_samples(
    segmenter: Segmenter,
    samples: Sequence[Sample],
    threshold: float | None = None,
    boundary_tolerance: int = DEFAULT_BOUNDARY_TOLERANCE,
    csv_path: str | Path | None = None,
    gallery_path: str | Path | None = None,
    gallery_size: int = 6,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> dict[str, Any]:
    """Score a model on image/mask pairs at each ground-truth mask's own resolution.

    The probability map (refined as ``segmenter.refine`` says, like every output of
    ``predict``) is resized (bilinear) to the mask's size, then thresholded.
    ``ms_per_image`` times the model call with pre- and post-processing, not file decoding.
    Ignore pixels (``Sample.ignore``) are left out of every score.
    """
    t = segmenter.threshold if threshold is None else threshold
    acc = MetricAccumulator(t, boundary_tolerance)
    seconds = 0.0
    for s in samples:
        image, truth = load_image(s.image, max_pixels), load_mask(s.mask, max_pixels)
        t0 = time.perf_counter()
        prob = segmenter.predict(image, truth.shape)
        seconds += time.perf_counter() - t0
        ignore = load_ignore(s, truth.shape, max_pixels)  # None without ignore/<stem>.png
        acc.update(prob > t, truth.astype(bool), None if ignore is None else ~ignore)
    result: dict[str, Any] = {
        **acc.compute(),
        "ms_per_image": 1000 * seconds / len(samples),
        "threshold": t,
        "boundary_tolerance_px": boundary_tolerance,
        "refine": segmenter.refine,
        "input_size": segmenter.input_size,
    }
    per_image = acc.per_image()
    if csv_path:
        with Path(csv_path).open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["stem", *per_image[0]])
            writer.writeheader()
            rows = zip(samples, per_image, strict=True)
            writer.writerows({"stem": s.stem, **row} for s, row in rows)
    if gallery_path:
        worst = sorted(range(len(samples)), key=lambda i: per_image[i]["iou"])[:gallery_size]
        rows = []
        for i in worst:
            image = load_image(samples[i].image, max_pixels)
            truth = load_mask(samples[i].mask, max_pixels)
            prob = segmenter.predict(image)
            truth = cv2.resize(truth, image.shape[1::-1], interpolation=MASK_RESIZE)
            rows.append(
                (image, truth, prob > t, f"{samples[i].stem}  IoU {per_image[i]['iou']:.3f}")
            )
        save_gallery(rows, gallery_path)
    return result
