"""CVAT for images 1.1 XML (https://docs.cvat.ai/docs/manual/advanced/xml_format/):
``<image>`` elements holding ``<mask rle=…>`` (run lengths inside the box, row-major, starting
with a background run), ``<polygon points="x,y;…">`` and ``<box>``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from personseg.data.formats.common import (
    IGNORE_LABELS,
    Entry,
    ImportReport,
    array_shape,
    find_image,
    polygon_shape,
)


def decode_cvat_rle(text: str, width: int, height: int) -> np.ndarray:
    """CVAT's ``rle`` attribute → bool ``(height, width)`` box mask.

    Raises:
        ValueError: the runs are not integers or do not add up to the box.
    """
    try:
        runs = np.array([int(v) for v in text.replace(",", " ").split()], np.int64)
    except ValueError:
        raise ValueError("its rle is not a list of integers") from None
    if runs.sum() != width * height or (runs < 0).any():
        raise ValueError(f"its rle covers {runs.sum()} pixels, not its box's {width}x{height}")
    values = np.arange(len(runs)) % 2 == 1  # background run first
    return np.repeat(values, runs).reshape(height, width)


def encode_cvat_rle(mask: np.ndarray) -> str:
    """Bool box mask → CVAT's ``rle`` text (the inverse of :func:`decode_cvat_rle`)."""
    flat = mask.astype(bool).reshape(-1)
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        runs = [0, *runs]
    return ", ".join(map(str, runs))


def read_cvat(
    source: str | Path,
    classes: tuple[str, ...],
    report: ImportReport,
    images: str | Path | None = None,
) -> list[Entry]:
    """Entries of a CVAT XML file (or a folder holding ``annotations.xml``)."""
    path = Path(source)
    if path.is_dir():
        path = path / "annotations.xml"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise ValueError(f"{path} is not valid XML (truncated or corrupt?): {err}") from None
    if root.tag != "annotations" or (root.find("image") is None and root.find("meta") is None):
        raise ValueError(
            f"{path} is not a CVAT for images XML (expected <annotations> with <image> elements)"
        )
    if root.find("image") is None and root.find("track") is not None:
        raise ValueError(f"{path} is a CVAT video export (tracks); export as 'CVAT for images'")
    folders = [Path(images)] if images else []
    folders += [path.parent / "images", path.parent]
    entries = []
    for im in root.iter("image"):
        name = im.get("name", "")
        try:
            size = (int(im.get("height")), int(im.get("width")))
        except (TypeError, ValueError):
            size = None
        e = Entry(name, find_image(name, folders), size)
        for shape in im:
            label = shape.get("label")
            if label is None or shape.tag == "tag":  # tags describe the whole image
                continue
            kept = label.lower() in classes
            ignore = label.lower() in IGNORE_LABELS
            report.see(label, kept)
            if not (kept or ignore):
                continue
            where = f"{name} <{shape.tag} label={label}>"
            s = _shape(shape, size, report, where)
            if s is not None:
                e.annotations += 1
                (e.person if kept else e.ignore).append(s)
        entries.append(e)
    return entries


def _shape(el: ET.Element, size, report: ImportReport, where: str):
    if el.tag == "mask":
        try:
            left, top = int(float(el.get("left"))), int(float(el.get("top")))
            w, h = int(float(el.get("width"))), int(float(el.get("height")))
            box = decode_cvat_rle(el.get("rle", ""), w, h)
        except (TypeError, ValueError) as err:
            report.problem(f"unreadable mask ({err}): dropped", where)
            return None
        if size is not None and (left < 0 or top < 0 or left + w > size[1] or top + h > size[0]):
            report.problem("mask out of the image's bounds: clipped", where)
        return array_shape(box, left, top)
    if el.tag == "polygon":
        try:
            pts = [float(v) for p in el.get("points", "").split(";") for v in p.split(",")]
        except ValueError:
            report.problem("unreadable polygon points: dropped", where)
            return None
        return polygon_shape(pts, size, report, where)
    report.problem(f"person <{el.tag}> (not a mask or polygon): dropped", where)
    return None
