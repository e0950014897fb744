"""YOLO segmentation labels (Ultralytics, https://docs.ultralytics.com/datasets/segment/): one
``labels/<stem>.txt`` per image in ``images/``, a line ``class x1 y1 x2 y2 …`` per instance with
coordinates normalised to [0, 1]; class names from ``data.yaml`` (``names``) or ``classes.txt``."""

from __future__ import annotations

from pathlib import Path

import yaml

from personseg.data.dataset import IMAGE_EXTENSIONS, image_size
from personseg.data.formats.common import Entry, ImportReport, polygon_shape


def _names(root: Path) -> dict[int, str]:
    for y in (root / "data.yaml", root / "dataset.yaml"):
        if y.is_file():
            try:
                data = yaml.safe_load(y.read_text()) or {}
            except yaml.YAMLError as err:
                raise ValueError(f"{y} is not valid YAML: {err}") from None
            names = data.get("names") if isinstance(data, dict) else None
            if isinstance(names, dict):
                return {int(k): str(v) for k, v in names.items()}
            if isinstance(names, list):
                return dict(enumerate(map(str, names)))
    txt = root / "classes.txt"
    if txt.is_file():
        return dict(enumerate(s.strip() for s in txt.read_text().splitlines() if s.strip()))
    return {}


def read_yolo(
    source: str | Path,
    classes: tuple[str, ...],
    report: ImportReport,
    images: str | Path | None = None,
) -> list[Entry]:
    """Entries of a YOLO-seg folder holding ``images/`` and ``labels/`` (searched recursively,
    so ``images/train`` with ``labels/train`` works too)."""
    root = Path(source)
    image_dir, label_dir = Path(images) if images else root / "images", root / "labels"
    if not label_dir.is_dir():
        raise ValueError(f"{root} is not a YOLO folder: it has no labels/")
    names = _names(root)
    if not names:
        report.notes.append("no data.yaml or classes.txt: classes are named by their index")
    photos = {
        p.relative_to(image_dir).with_suffix("").as_posix(): p
        for p in sorted(image_dir.rglob("*"))
        if p.suffix.lower() in IMAGE_EXTENSIONS
    }
    entries = []
    for txt in sorted(label_dir.rglob("*.txt")):
        key = txt.relative_to(label_dir).with_suffix("").as_posix()
        image = photos.pop(key, None)
        e = Entry(f"{key}{image.suffix if image else '.jpg'}", image)
        try:
            h, w = image_size(image) if image else (1, 1)
        except (ValueError, OSError):
            h, w = 1, 1
        for n, line in enumerate(txt.read_text().splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            where = f"{txt.name} line {n}"
            try:
                cls, coords = int(parts[0]), [float(v) for v in parts[1:]]
            except ValueError:
                report.problem("unreadable label line: dropped", where)
                continue
            name = names.get(cls, str(cls))
            if names and cls not in names:
                report.problem("unknown class index: dropped", f"{where} ({cls})")
                continue
            kept = name.lower() in classes
            report.see(name, kept)
            if not kept:
                continue
            if len(coords) == 4:
                report.problem("box line (a detection label, not a polygon): dropped", where)
                continue
            if any(v < -0.01 or v > 1.01 for v in coords):
                report.problem("polygon out of the image's bounds: clipped", where)
            px = [v * (w if i % 2 == 0 else h) for i, v in enumerate(coords)]
            s = polygon_shape(px, None, report, where)
            if s is not None:
                e.annotations += 1
                e.person.append(s)
        entries.append(e)
    for key, p in photos.items():  # photos without a label file: nobody in them
        entries.append(Entry(f"{key}{p.suffix}", p))
    return entries
