"""Pascal VOC segmentation (Everingham et al., IJCV 2010): ``SegmentationClass/<stem>.png``
palette PNGs of class indices beside ``JPEGImages/``; 255 is void (ignore pixels here). Class
names come from ``class_names.txt`` (labelme2voc) or VOC's own 21 names."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from personseg.data.formats.common import Entry, ImportReport, array_shape
from personseg.data.images import decode, open_image

VOC_CLASSES = (
    *("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat"),
    *("chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant"),
    *("sheep", "sofa", "train", "tvmonitor"),
)
VOID = 255


def _names(root: Path) -> list[str]:
    for candidate in ("class_names.txt", "labels.txt"):
        path = root / candidate
        if path.is_file():
            return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return list(VOC_CLASSES)


def read_voc(
    source: str | Path,
    classes: tuple[str, ...],
    report: ImportReport,
    images: str | Path | None = None,
) -> list[Entry]:
    """Entries of a VOC folder (``SegmentationClass/`` with ``JPEGImages/``)."""
    root = Path(source)
    seg = root / "SegmentationClass"
    if not seg.is_dir():
        raise ValueError(f"{root} is not a VOC folder: it has no SegmentationClass/")
    names = _names(root)
    person = [i for i, n in enumerate(names) if n.lower() in classes]
    photos = Path(images) if images else root / "JPEGImages"
    report.notes.append("VOC class maps hold no instances: class counts are images")
    entries = []
    for png in sorted(seg.glob("*.png")):
        try:
            with open_image(png, name=f"class map {png.name}") as im:
                if im.mode not in ("P", "L"):
                    raise ValueError(f"{png.name} is {im.mode}, not a palette or grey index map")
                labels = np.asarray(decode(im, png.name))
        except (ValueError, OSError) as err:
            report.problem("unreadable class map: skipped", f"{png.name} ({err})")
            continue
        found = sorted(photos.glob(png.stem + ".*"), key=lambda p: p.suffix.lower() == ".png")
        image = found[0] if found else None
        e = Entry(f"{png.stem}{image.suffix if image else '.jpg'}", image, labels.shape)
        for v in np.unique(labels):
            if v == VOID:
                continue
            name = names[v] if v < len(names) else f"index {v}"
            if v >= len(names):
                report.problem("class index without a name: not kept", f"{png.name} ({v})")
            report.see(name, v in person)
        is_person = np.isin(labels, person)
        if is_person.any():
            e.person.append(array_shape(is_person))
        if (labels == VOID).any():
            e.ignore.append(array_shape(labels == VOID))
        entries.append(e)
    if not entries and not report.problems:
        raise ValueError(f"no class maps (*.png) in {seg}")
    return entries
