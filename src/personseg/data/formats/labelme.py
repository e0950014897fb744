"""LabelMe JSON (https://github.com/wkentaro/labelme), one file per photo: ``shapes`` with a
``label`` and ``points``. Both layouts: the current one (``shape_type``, ``group_id`` joins the
parts of one person) and the 2018 one (no ``shape_type``; instances as ``person-1``,
``person-2`` in the label text, stripped here). ``__ignore__`` shapes become ignore pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from personseg.data.formats.coco import load_json
from personseg.data.formats.common import (
    IGNORE_LABELS,
    Entry,
    ImportReport,
    base_label,
    find_image,
    polygon_shape,
    stated_size,
)


def _files(source: Path) -> list[Path]:
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise FileNotFoundError(f"{source} not found")
    files = sorted(source.rglob("*.json"))
    if not files:
        raise ValueError(f"no LabelMe .json files in {source}")
    return files


def read_labelme(
    source: str | Path,
    classes: tuple[str, ...],
    report: ImportReport,
    images: str | Path | None = None,
) -> list[Entry]:
    """Entries of a LabelMe JSON file or a folder of them (searched recursively)."""
    files = _files(Path(source))
    entries = []
    for path in files:
        try:
            data = load_json(path)
        except ValueError as err:
            if len(files) == 1:
                raise
            report.problem("unreadable JSON: skipped", f"{path.name} ({err})")
            continue
        if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
            if len(files) == 1:
                raise ValueError(f"{path} is not a LabelMe file: it has no 'shapes' list")
            report.problem("JSON that is not a LabelMe file: skipped", path.name)
            continue
        name = str(data.get("imagePath") or path.with_suffix(".jpg").name)
        folders = [Path(images)] if images else []
        folders.append(path.parent)
        image = find_image(name, folders)
        if image is None:
            image = find_image(path.stem + Path(name).suffix, folders)
        size = None
        if "imageHeight" in data and "imageWidth" in data:
            size = stated_size(data["imageHeight"], data["imageWidth"])
        if image is None and data.get("imageData"):
            report.problem(
                "photo only embedded as imageData (not read): put the photo beside the JSON",
                path.name,
            )
        e = Entry(image.name if image is not None else Path(name).name, image, size)
        for i, shape in enumerate(data["shapes"]):
            _add(e, shape, classes, report, f"{path.name} shape {i}")
        entries.append(e)
    return entries


def _add(e: Entry, shape: object, classes, report: ImportReport, where: str) -> None:
    if not isinstance(shape, dict) or "label" not in shape:
        report.problem("shape without a label: dropped", where)
        return
    label = base_label(str(shape["label"]))
    kept, ignore = label.lower() in classes, label.lower() in IGNORE_LABELS
    report.see(label, kept)
    if not (kept or ignore):
        return
    kind = shape.get("shape_type") or "polygon"
    try:
        pts = np.asarray(shape.get("points", []), np.float64).reshape(-1, 2)
    except ValueError:
        report.problem("unreadable points: dropped", where)
        return
    if kind == "rectangle" and len(pts) == 2:
        (x0, y0), (x1, y1) = pts
        pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    elif kind != "polygon":
        report.problem(f"{kind} shape (only polygons and rectangles are read): dropped", where)
        return
    flat = pts.reshape(-1).tolist()
    s = polygon_shape(flat, e.size, report, f"{where} ({shape['label']})", raster="labelme")
    if s is not None:
        e.annotations += 1
        (e.person if kept else e.ignore).append(s)
