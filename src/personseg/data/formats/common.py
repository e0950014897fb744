"""What every importer shares: the import report, one annotated image (:class:`Entry`), shape
rasterising (pycocotools for polygons and RLE) and writing a standard data root.

A data root written here holds ``images/`` (copies or links), ``masks/<stem>.png`` (0/255
person) and, where the file marks regions that should not count, ``ignore/<stem>.png``
(255 = ignore: excluded from the loss and from every metric).
"""

from __future__ import annotations

import os
import random
import re
import shutil
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw
from pycocotools import mask as mask_utils

from personseg.data.dataset import IMAGE_EXTENSIONS, image_size
from personseg.data.formats.names import DEFAULT_CLASSES, IGNORE_LABELS
from personseg.data.images import open_image

__all__ = ["DEFAULT_CLASSES", "IGNORE_LABELS"]


# A shape rasterises itself at (height, width) into a bool (H, W) array.
Shape = Callable[[int, int], np.ndarray]


def parse_classes(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"person,Pedestrian"`` → ``("person", "pedestrian")``; None gives the default list."""
    if text is None:
        return DEFAULT_CLASSES
    items = text.split(",") if isinstance(text, str) else list(text)
    names = tuple(s.strip().lower() for s in items if s.strip())
    if not names:
        raise ValueError("--classes is empty; give class names such as person,pedestrian")
    return names


def base_label(label: str) -> str:
    """A class name without LabelMe's old instance suffix: ``person-2`` → ``person``."""
    return re.sub(r"-\d+$", "", label.strip())


@dataclass
class ImportReport:
    """Counts of everything an import met: classes seen and kept, images written, and one line
    per problem with its count and examples (nothing is dropped without a line here)."""

    fmt: str
    source: str
    out: str = ""
    classes: Counter = field(default_factory=Counter)
    kept: set = field(default_factory=set)
    written: int = 0
    negatives: int = 0
    with_ignore: int = 0
    notes: list[str] = field(default_factory=list)
    problems: dict[str, list[str]] = field(default_factory=dict)

    def problem(self, reason: str, example: str) -> None:
        """Count one occurrence of ``reason`` (``example`` names the file or annotation)."""
        self.problems.setdefault(reason, []).append(example)

    def see(self, label: str, kept: bool) -> None:
        self.classes[label] += 1
        if kept:
            self.kept.add(label)

    def format(self) -> str:
        out = [f"import {self.fmt}: {self.source} -> {self.out}"]
        seen = ", ".join(
            f"{name} ({n}{', kept' if name in self.kept else ''})"
            for name, n in sorted(self.classes.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        out.append(f"  classes seen (instances): {seen or 'none'}")
        out += [f"  {n}" for n in self.notes]
        out.append(
            f"  written: {self.written} image(s) with masks ({self.negatives} without a person, "
            f"{self.with_ignore} with ignore pixels)"
        )
        for reason, examples in self.problems.items():
            ex = ", ".join(list(dict.fromkeys(examples))[:3])
            more = " …" if len(set(examples)) > 3 else ""
            out.append(f"  {len(examples)} × {reason}: {ex}{more}")
        return "\n".join(out)


@dataclass
class Entry:
    """One annotated image: its name in the file, the photo found for it (None: missing), the
    size the file states (None: not stated) and its person and ignore shapes."""

    name: str
    image: Path | None
    size: tuple[int, int] | None = None
    person: list[Shape] = field(default_factory=list)
    ignore: list[Shape] = field(default_factory=list)
    annotations: int = 0


def polygon_shape(
    flat: Sequence[float],
    size: tuple[int, int] | None,
    report: ImportReport,
    where: str,
    raster: str = "coco",
) -> Shape | None:
    """A polygon ``[x0, y0, x1, y1, …]`` in pixel coordinates, rasterised the way its tool does:
    ``coco`` by pycocotools, ``labelme`` like labelme (Pillow's polygon with its outline, as
    labelme2voc draws). Degenerate polygons are counted and dropped, out-of-bounds ones counted
    and clipped."""
    pts = np.asarray(flat, np.float64).reshape(-1)
    if len(pts) % 2 or len(pts) < 6:
        report.problem("degenerate polygon (fewer than 3 points): dropped", where)
        return None
    xy = pts.reshape(-1, 2)
    x, y = xy[:, 0], xy[:, 1]
    area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))  # shoelace
    if area < 0.5 or not np.isfinite(area):
        report.problem("degenerate polygon (no area): dropped", where)
        return None
    if size is not None:
        h, w = size
        if xy.min() < -1 or (xy[:, 0] > w + 1).any() or (xy[:, 1] > h + 1).any():
            report.problem("polygon out of the image's bounds: clipped", where)
    coords = [float(v) for v in pts]
    if raster == "labelme":
        points = [(float(x), float(y)) for x, y in xy]

        def draw(h: int, w: int) -> np.ndarray:
            canvas = Image.new("L", (w, h), 0)
            ImageDraw.Draw(canvas).polygon(points, fill=1, outline=1)
            return np.asarray(canvas).astype(bool)

        return draw

    def render(h: int, w: int) -> np.ndarray:
        return _decode(mask_utils.merge(mask_utils.frPyObjects([coords], h, w)))

    return render


def rle_shape(rle: dict) -> Shape:
    """A COCO RLE (compressed ``counts`` string or uncompressed list) at its own size."""
    h, w = (int(v) for v in rle["size"])
    if isinstance(rle["counts"], list):
        rle = mask_utils.frPyObjects(rle, h, w)

    def render(hh: int, ww: int) -> np.ndarray:
        return _decode(rle)

    return render


def array_shape(mask: np.ndarray, left: int = 0, top: int = 0) -> Shape:
    """A bool array placed at (left, top); parts outside the image are cut off."""

    def render(h: int, w: int) -> np.ndarray:
        out = np.zeros((h, w), bool)
        mh, mw = mask.shape
        x0, y0 = max(left, 0), max(top, 0)
        x1, y1 = min(left + mw, w), min(top + mh, h)
        if x1 > x0 and y1 > y0:
            out[y0:y1, x0:x1] = mask[y0 - top : y1 - top, x0 - left : x1 - left]
        return out

    return render


def _decode(rle: dict) -> np.ndarray:
    """pycocotools' decode as bool (H, W), without its NumPy 2 ``copy=`` deprecation warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode(rle).astype(bool)


PIL_SUFFIXES = {"JPEG": ".jpg", "PNG": ".png", "BMP": ".bmp", "TIFF": ".tif", "WEBP": ".webp"}


def image_suffix(path: Path) -> str:
    """The photo's extension for the data root: its own when personseg reads that name, else
    the one of the format its bytes are in (a tool's ``file_name`` may have none)."""
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return path.suffix.lower()
    with open_image(path, max_pixels=sys.maxsize) as im:
        return PIL_SUFFIXES.get(im.format or "", ".png")


def render(shapes: Sequence[Shape], h: int, w: int) -> np.ndarray:
    """The union of ``shapes`` as a bool (H, W) array."""
    out = np.zeros((h, w), bool)
    for s in shapes:
        out |= s(h, w)
    return out


def find_image(name: str, folders: Sequence[Path]) -> Path | None:
    """The first existing ``folder/name`` or ``folder/basename(name)``."""
    rel = Path(name.replace("\\", "/"))
    for folder in folders:
        for candidate in (folder / rel, folder / rel.name):
            if candidate.is_file():
                return candidate
    return None


def _place(src: Path, dest: Path, link: bool) -> None:
    if dest.exists() and dest.resolve() == src.resolve():
        return  # importing into the folder that holds the photos: they stay as they are
    if dest.exists() or dest.is_symlink():
        dest.unlink()
    if link:
        os.symlink(src.resolve(), dest)
    else:
        shutil.copyfile(src, dest)


def write_root(
    entries: Sequence[Entry],
    out: str | Path,
    report: ImportReport,
    keep_empty: bool = False,
    link: bool = False,
    val_fraction: float = 0.0,
) -> ImportReport:
    """Write ``images/``, ``masks/`` and ``ignore/`` under ``out`` for every usable entry,
    and with ``val_fraction`` the split files ``val.txt`` (that share of the stems, drawn with
    a fixed seed) and ``train.txt`` (the rest), which train and evaluate respect.

    Raises:
        ValueError: nothing usable was found (the report's problems say why).
    """
    out = Path(out)
    report.out = str(out)
    stems: dict[str, str] = {}
    usable: list[tuple[Entry, str, int, int]] = []
    missing = [e for e in entries if e.image is None]
    for e in missing:
        n = sum(m.annotations for m in missing)
        report.problem(f"image missing ({n} person annotation(s) skipped)", e.name)
    for e in entries:
        if e.image is None:
            continue
        stem = Path(e.name.replace("\\", "/")).stem
        if stem in stems:
            report.problem(f"duplicate file name (same stem as {stems[stem]}): skipped", e.name)
            continue
        try:
            h, w = image_size(e.image)
        except (ValueError, OSError) as err:
            report.problem(f"unreadable image ({err})", e.name)
            continue
        if e.size is not None and tuple(e.size) != (h, w):
            fh, fw = e.size
            if (fh, fw) == (w, h):
                report.problem(
                    "size in the file differs from the photo: width and height swapped, the "
                    "photo's EXIF rotation (the tool showed it unrotated): skipped",
                    f"{e.name} ({fw}x{fh} vs {w}x{h})",
                )
            else:
                report.problem(
                    "size in the file differs from the photo: skipped",
                    f"{e.name} ({fw}x{fh} vs {w}x{h})",
                )
            continue
        if not e.person and not keep_empty:
            report.problem("no person in the image: skipped (--keep-empty keeps it)", e.name)
            continue
        stems[stem] = e.name
        usable.append((e, stem, h, w))
    if not usable:
        raise ValueError(
            f"nothing usable in {report.source}: "
            + ("; ".join(f"{len(v)} × {k}" for k, v in report.problems.items()) or "no images")
            + "".join(f"; {note}" for note in report.notes)
        )
    for sub in ("images", "masks"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for e, stem, h, w in usable:
        person = render(e.person, h, w)
        ignore = render(e.ignore, h, w)
        _place(e.image, out / "images" / f"{stem}{image_suffix(e.image)}", link)
        _write_png(out / "masks" / f"{stem}.png", person)
        ignore_path = out / "ignore" / f"{stem}.png"
        if ignore.any():
            ignore_path.parent.mkdir(exist_ok=True)
            _write_png(ignore_path, ignore)
            report.with_ignore += 1
        elif ignore_path.exists():
            ignore_path.unlink()
        report.written += 1
        report.negatives += int(not person.any())
    if val_fraction > 0:
        _write_split([stem for _, stem, _, _ in usable], out, val_fraction, report)
    return report


def _write_split(stems: list[str], out: Path, val_fraction: float, report: ImportReport) -> None:
    """``val.txt`` and ``train.txt``: a seeded draw of the stems (at least one each when
    there are two or more photos)."""
    stems = sorted(stems)
    if len(stems) < 2:
        report.notes.append("one photo: no split files written")
        return
    drawn = stems[:]
    random.Random(0).shuffle(drawn)
    n_val = min(len(stems) - 1, max(1, round(val_fraction * len(stems))))
    val = set(drawn[:n_val])
    (out / "val.txt").write_text("".join(f"{s}\n" for s in stems if s in val))
    (out / "train.txt").write_text("".join(f"{s}\n" for s in stems if s not in val))
    report.notes.append(
        f"split: {len(stems) - n_val} in train.txt, {n_val} in val.txt (--val-fraction)"
    )


def _write_png(path: Path, mask: np.ndarray) -> None:
    if not cv2.imwrite(str(path), mask.astype(np.uint8) * 255):
        raise OSError(f"cannot write {path}")


def stated_size(height: object, width: object) -> tuple[int, int] | None:
    """(H, W) from a file's stated size; ``None`` when it states none or nonsense (the
    photo's own size is used then)."""
    try:
        size = (int(height), int(width))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return size if min(size) > 0 else None
