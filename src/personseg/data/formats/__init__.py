"""Annotation files of labelling tools → a standard data root, and person masks → those files.

Readers: COCO (:mod:`.coco`), CVAT XML (:mod:`.cvat`), LabelMe (:mod:`.labelme`), Pascal VOC
(:mod:`.voc`), YOLO-seg (:mod:`.yolo`); writers for pre-labelling in :mod:`.writers`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from personseg.data.formats.names import DEFAULT_CLASSES, FORMATS, LABEL_FORMATS

_MODULES = {"coco": "coco", "cvat": "cvat", "labelme": "labelme", "voc": "voc", "yolo-seg": "yolo"}
_LAZY = {
    "ImportReport": "common",
    "write_root": "common",
    "mask_polygons": "writers",
    "write_coco": "writers",
    "write_cvat": "writers",
    "write_labelme": "writers",
}


def __getattr__(name: str) -> Any:
    """Modules that need pycocotools load on first use (the CLI reads only ``names``)."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)


def read_entries(
    fmt: str,
    source: str | Path,
    classes: str | tuple[str, ...] | None = None,
    images: str | Path | None = None,
    crowd: str = "auto",
) -> tuple[list, Any]:
    """Parse an annotation file or folder without writing anything."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown label format {fmt!r}; choose from {', '.join(FORMATS)}")
    from personseg.data.formats.common import ImportReport, parse_classes
    from personseg.data.formats.names import require_pycocotools

    require_pycocotools()
    reader = getattr(
        importlib.import_module(f"{__name__}.{_MODULES[fmt]}"), f"read_{_MODULES[fmt]}"
    )
    report = ImportReport(fmt, str(source))
    wanted = parse_classes(classes)
    if fmt == "coco":
        entries = reader(source, wanted, report, images, crowd)
    else:
        entries = reader(source, wanted, report, images)
    return entries, report


def import_labels(
    fmt: str,
    source: str | Path,
    out: str | Path,
    classes: str | tuple[str, ...] | None = None,
    images: str | Path | None = None,
    keep_empty: bool = False,
    link: bool = False,
    crowd: str = "auto",
    val_fraction: float = 0.0,
) -> Any:
    """Read ``source`` in format ``fmt`` and write a data root at ``out`` (``images/``,
    ``masks/`` 0/255, ``ignore/`` 255 = ignore where the labels mark such regions).

    Raises:
        ValueError: the file cannot be parsed, or nothing usable was found (one line each).
    """
    from personseg.data.formats.common import parse_classes, write_root

    entries, report = read_entries(fmt, source, classes, images, crowd)
    if not report.kept:
        seen = ", ".join(sorted(report.classes)) or "none"
        report.notes.append(f"no class matched {parse_classes(classes)}; classes seen: {seen}")
    return write_root(entries, out, report, keep_empty, link, val_fraction)


__all__ = [
    "DEFAULT_CLASSES",
    "FORMATS",
    "LABEL_FORMATS",
    "ImportReport",
    "import_labels",
    "mask_polygons",
    "read_entries",
    "write_coco",
    "write_cvat",
    "write_labelme",
    "write_root",
]
