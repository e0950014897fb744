"""Pseudo-labels: masks made by a trained model for photos that have person boxes but no masks,
kept only where the model and the boxes agree (the "teacher" step of self-training: Xie et al.,
"Self-training with Noisy Student improves ImageNet classification", CVPR 2020).

The input is a folder with ``images/`` and YOLO box labels ``labels/<stem>.txt`` (a line
``class cx cy w h`` per box, relative to the image; every class counts as a person unless
``person_class`` is given). The rule, per photo, on the model's probability map ``p``:

- **person**: ``p ≥ threshold`` inside a box;
- **ignore** (counted neither way in training):
  - the whole of a box where the model marks less than ``min_box_fill`` of the box (a person
    the model missed: its mask there cannot be trusted either way);
  - ``p ≥ threshold`` outside every box (an unboxed bystander, or a false positive), widened
    by ``margin`` pixels;
- **background**: everything else.

The output is a data root (``images/`` linked to the originals, ``masks/``, ``ignore/``, and
the source's split files) that ``personseg train --data`` takes like any other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from personseg.data.dataset import IMAGE_EXTENSIONS
from personseg.data.splits import read_split
from personseg.inference.segmenter import Segmenter


@dataclass(frozen=True)
class PseudoRule:
    """The settings of the rule in the module docstring."""

    threshold: float = 0.5
    min_box_fill: float = 0.05
    margin: int = 3
    person_class: int | None = None


def read_boxes(path: Path, shape: tuple[int, int], person_class: int | None) -> list:
    """YOLO boxes (or the bounding boxes of YOLO-seg polygons) of ``path`` as pixel
    ``(x0, y0, x1, y1)`` for an image of ``shape`` (H, W)."""
    h, w = shape
    boxes = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            cls, values = int(parts[0]), [float(v) for v in parts[1:]]
        except ValueError:
            values = []
        if len(values) != 4 and (len(values) < 6 or len(values) % 2):
            raise ValueError(
                f"{path} line {n}: expected 'class cx cy w h' or a polygon "
                f"'class x1 y1 x2 y2 …', got {line[:80]!r}"
            )
        if person_class is not None and cls != person_class:
            continue
        if len(values) == 4:
            cx, cy, bw, bh = values
            x0, x1 = round((cx - bw / 2) * w), round((cx + bw / 2) * w)
            y0, y1 = round((cy - bh / 2) * h), round((cy + bh / 2) * h)
        else:  # a YOLO-seg polygon: its bounding box
            xs, ys = values[0::2], values[1::2]
            x0, x1, y0, y1 = (
                round(min(xs) * w),
                round(max(xs) * w),
                round(min(ys) * h),
                round(max(ys) * h),
            )
        boxes.append((max(0, x0), max(0, y0), min(w, x1), min(h, y1)))
    return boxes


class PseudoLabel(NamedTuple):
    """One photo's pseudo-label: mask and ignore map, uint8 ``(H, W)`` in {0, 255}; how many
    boxes the model left (almost) empty; whether it found a person outside every box."""

    mask: np.ndarray
    ignore: np.ndarray
    missed: int
    stray: bool


def pseudo_label(prob: np.ndarray, boxes: list, rule: PseudoRule) -> PseudoLabel:
    """The pseudo-label of a probability map ``(H, W)`` and pixel boxes, by the rule in the
    module docstring."""
    person = prob >= rule.threshold
    inside = np.zeros(prob.shape, bool)
    ignore = np.zeros(prob.shape, bool)
    missed = 0
    for x0, y0, x1, y1 in boxes:
        if x1 <= x0 or y1 <= y0:
            continue
        inside[y0:y1, x0:x1] = True
        if person[y0:y1, x0:x1].mean() < rule.min_box_fill:
            ignore[y0:y1, x0:x1] = True
            missed += 1
    stray = (person & ~inside).astype(np.uint8)
    found_stray = bool(stray.any())
    if rule.margin and found_stray:
        k = 2 * rule.margin + 1
        stray = cv2.dilate(stray, np.ones((k, k), np.uint8))
    ignore |= stray.astype(bool) & ~(person & inside)
    mask = person & inside & ~ignore
    return PseudoLabel(
        mask.astype(np.uint8) * 255, ignore.astype(np.uint8) * 255, missed, found_stray
    )


def _link(src: Path, dst: Path) -> None:
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    try:
        dst.symlink_to(os.path.relpath(src.resolve(), dst.parent.resolve()))
    except OSError:  # no symlinks (some file systems): copy
        dst.write_bytes(src.read_bytes())


def pseudo_label_root(
    source: str | Path,
    out: str | Path,
    segmenter: Segmenter,
    rule: PseudoRule | None = None,
    splits: tuple[str, ...] = ("train",),
) -> dict[str, int]:
    """Write a data root of pseudo-labels for the boxed photos of ``source`` (its ``splits``
    only, when it has split files; every photo otherwise).

    Returns:
        counts: ``photos``, ``boxes``, ``boxes_ignored`` (missed by the model), and
        ``stray_photos`` (photos with a person outside every box, left ignored).
    """
    rule = rule or PseudoRule()
    source, out = Path(source), Path(out)
    images_dir, labels_dir = source / "images", source / "labels"
    for d in (images_dir, labels_dir):
        if not d.is_dir():
            raise FileNotFoundError(f"{d} not found: a box root needs images/ and labels/")
    photos = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    listed = {s: read_split(source / f"{s}.txt") for s in splits if (source / f"{s}.txt").is_file()}
    if listed:
        keep = {stem for stems in listed.values() for stem in stems}
        photos = [p for p in photos if p.stem in keep]
    photos = [p for p in photos if (labels_dir / f"{p.stem}.txt").is_file()]
    if not photos:
        raise ValueError(f"{source}: no photo with a labels/<stem>.txt box file")
    for sub in ("images", "masks", "ignore"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    counts = {"photos": 0, "boxes": 0, "boxes_ignored": 0, "stray_photos": 0}
    for photo in photos:
        prob = segmenter.predict(photo)
        boxes = read_boxes(labels_dir / f"{photo.stem}.txt", prob.shape, rule.person_class)
        label = pseudo_label(prob, boxes, rule)
        _link(photo, out / "images" / photo.name)
        cv2.imwrite(str(out / "masks" / f"{photo.stem}.png"), label.mask)
        cv2.imwrite(str(out / "ignore" / f"{photo.stem}.png"), label.ignore)
        counts["photos"] += 1
        counts["boxes"] += len(boxes)
        counts["boxes_ignored"] += label.missed
        counts["stray_photos"] += int(label.stray)
    done = {p.stem for p in photos}
    for name, stems in listed.items():  # each split file, with the photos written
        (out / f"{name}.txt").write_text("".join(f"{s}\n" for s in stems if s in done))
    return counts
