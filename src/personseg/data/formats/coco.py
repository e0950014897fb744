"""COCO instances JSON (Lin et al., ECCV 2014; https://cocodataset.org/#format-data):
polygons, uncompressed and compressed RLE, rasterised with pycocotools.

``iscrowd=1`` means a crowd region in COCO itself (ignored when scoring), but CVAT writes every
mask as uncompressed RLE with ``iscrowd=1``: ``crowd="auto"`` treats crowd regions as people
when the file is CVAT's (its annotations carry an ``attributes`` dict) and as ignore otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

from personseg.data.formats.common import (
    Entry,
    ImportReport,
    Shape,
    find_image,
    polygon_shape,
    rle_shape,
    stated_size,
)

CROWD_MODES = ("auto", "ignore", "person")


def load_json(path: Path) -> object:
    """Parsed JSON, or one clear ``ValueError`` line."""
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON (truncated or corrupt?): {err}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a UTF-8 JSON text file") from None


def _find_json(source: Path) -> Path:
    if source.is_file():
        return source
    if not source.is_dir():
        raise FileNotFoundError(f"{source} not found")
    found = sorted(source.glob("*.json")) + sorted(source.glob("annotations/*.json"))
    if not found:
        raise ValueError(f"no COCO .json file in {source} or {source}/annotations")
    return found[0]


def read_coco(
    source: str | Path,
    classes: tuple[str, ...],
    report: ImportReport,
    images: str | Path | None = None,
    crowd: str = "auto",
) -> list[Entry]:
    """Entries of a COCO file (or a folder holding one); photos are looked for in ``images``,
    beside the JSON, and in ``images/`` beside it or one folder up (CVAT's layout)."""
    if crowd not in CROWD_MODES:
        raise ValueError(f"--crowd must be one of {', '.join(CROWD_MODES)}, got {crowd!r}")
    path = _find_json(Path(source))
    data = load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ValueError(f"{path} is not a COCO instances file: it has no 'images' list")
    anns, cats = data.get("annotations", []), data.get("categories", [])
    if not isinstance(anns, list) or not isinstance(cats, list):
        raise ValueError(f"{path} is not a COCO instances file: bad 'annotations'/'categories'")
    names = {c.get("id"): str(c.get("name", "")) for c in cats if isinstance(c, dict)}
    person_ids = {i for i, n in names.items() if n.lower() in classes}
    cvat = any(isinstance(a, dict) and "attributes" in a for a in anns)
    why = "CVAT export: it marks every mask iscrowd=1" if cvat else "COCO crowd regions"
    if crowd == "auto":
        crowd = "person" if cvat else "ignore"
    else:
        why = f"--crowd {crowd}"
    if any(isinstance(a, dict) and a.get("iscrowd") for a in anns):
        report.notes.append(f"iscrowd=1 read as {crowd} ({why}; --crowd person|ignore overrides)")
    here = path.parent
    folders = [Path(images)] if images else []
    folders += [here, here / "images", here.parent / "images", here.parent]
    entries: dict[object, Entry] = {}
    for im in data["images"]:
        if not isinstance(im, dict) or "file_name" not in im or "id" not in im:
            report.problem("image entry without id or file_name: skipped", str(im)[:60])
            continue
        name = str(im["file_name"])
        size = stated_size(im.get("height"), im.get("width"))
        if im["id"] in entries:
            report.problem("duplicate image id: later entry skipped", name)
            continue
        entries[im["id"]] = Entry(name, find_image(name, folders), size)
    for a in anns:
        if not isinstance(a, dict):
            report.problem("annotation that is not an object: skipped", str(a)[:40])
            continue
        where = f"annotation {a.get('id')}"
        entry = entries.get(a.get("image_id"))
        if entry is None:
            report.problem("annotation for an image id not in 'images': skipped", where)
            continue
        cat = a.get("category_id")
        if cat not in names:
            report.problem("unknown category id: skipped", f"{where} (category {cat})")
            continue
        report.see(names[cat], cat in person_ids)
        if cat not in person_ids:
            continue
        entry.annotations += 1
        shapes = _shapes(a.get("segmentation"), entry, report, f"{entry.name} {where}")
        if a.get("iscrowd") and crowd == "ignore":
            entry.ignore += shapes
        else:
            entry.person += shapes
    return list(entries.values())


def _shapes(seg: object, entry: Entry, report: ImportReport, where: str) -> list[Shape]:
    if isinstance(seg, list):
        if not seg:
            report.problem("person annotation without a segmentation (a box only): dropped", where)
            return []
        polys = seg if isinstance(seg[0], list) else [seg]
        return [s for p in polys if (s := polygon_shape(p, entry.size, report, where))]
    if isinstance(seg, dict) and "counts" in seg and "size" in seg:
        size = tuple(int(v) for v in seg["size"])
        if entry.size is None:  # the image entry states no size: the RLE's is checked instead
            entry.size = size
        if size != entry.size:
            report.problem(
                "RLE whose size differs from its image's: dropped",
                f"{where} ({size[1]}x{size[0]} vs {entry.size[1]}x{entry.size[0]})",
            )
            return []
        counts = seg["counts"]
        if isinstance(counts, list) and sum(counts) != size[0] * size[1]:
            report.problem("RLE whose runs do not add up to its size: dropped", where)
            return []
        return [rle_shape(seg)]
    report.problem("unreadable segmentation: dropped", where)
    return []
