"""``personseg data check``: a report on a data root before any training starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from personseg.data.dataset import (
    ASPECT_TOLERANCE,
    Sample,
    find_pairs,
    load_ignore,
    load_image,
    load_mask,
)
from personseg.data.images import DEFAULT_MAX_PIXELS, decode, open_image
from personseg.data.splits import negative_images, negative_split, read_split


@dataclass
class DataReport:
    """Findings of :func:`check_data`; ``errors`` stop training, ``warnings`` do not."""

    root: str
    kind: str = "image/mask pairs"
    pairs: int = 0
    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def format(self) -> str:
        out = [f"data root: {self.root} ({self.kind})", *(f"  {s}" for s in self.lines)]
        out += [f"  WARNING: {w}" for w in self.warnings]
        out += [f"  ERROR: {e}" for e in self.errors]
        out.append("  result: " + ("OK" if self.ok else f"{len(self.errors)} error(s)"))
        return "\n".join(out)


def _examples(names: list[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (" …" if len(names) > n else "")


def _listed(what: str, names: list[str]) -> str:
    """``"<count> <what>: <the first examples>"``."""
    return f"{len(names)} {what}: {_examples(names)}"


def _report_pairing(
    report: DataReport, pairs: list[Sample], lonely_images: list[Path], lonely_masks: list[Path]
) -> None:
    """The pair count, an error when there is no pair, and warnings for what was not paired."""
    report.pairs = len(pairs)
    report.lines.append(f"pairs: {len(pairs)}")
    if not pairs:
        report.errors.append("no image/mask pairs (images/<stem>.jpg with masks/<stem>.png)")
    if lonely_images:
        report.warnings.append(_listed("image(s) without a mask", [p.name for p in lonely_images]))
    if lonely_masks:
        report.warnings.append(_listed("mask(s) without an image", [p.name for p in lonely_masks]))


@dataclass
class _PairFindings:
    """What reading the pairs found: the pairs (or their parts) with each problem, and the
    person and ignored shares of the readable ones."""

    unreadable: list[str] = field(default_factory=list)
    resized: list[float] = field(default_factory=list)  # image width / mask width
    bad_aspect: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    non_binary: list[str] = field(default_factory=list)
    fractions: list[float] = field(default_factory=list)
    ignored: list[float] = field(default_factory=list)

    def read(self, s: Sample, max_pixels: int) -> None:
        """Read the pair ``s`` once and note what is wrong with it."""
        try:
            image, mask_raw = load_image(s.image, max_pixels), load_mask(s.mask, max_pixels)
            values = np.unique(_raw_values(s.mask, max_pixels))
        except (ValueError, OSError) as err:
            self.unreadable.append(f"{s.stem} ({err})")
            return
        (ih, iw), (mh, mw) = image.shape[:2], mask_raw.shape
        if (ih, iw) != (mh, mw):
            if abs((iw / ih) / (mw / mh) - 1) > ASPECT_TOLERANCE:
                self.bad_aspect.append(f"{s.stem} (image {iw}x{ih}, mask {mw}x{mh})")
            else:
                self.resized.append(iw / mw)
        if len(values) > 2:
            self.non_binary.append(s.stem)
        if s.ignore is not None:
            try:
                self.ignored.append(float(load_ignore(s, (ih, iw), max_pixels).mean()))
            except (ValueError, OSError) as err:
                self.unreadable.append(f"{s.stem} ignore map ({err})")
        fraction = float(mask_raw.mean())
        self.fractions.append(fraction)
        if fraction == 0:
            self.empty.append(s.stem)

    def add_to(self, report: DataReport) -> None:
        """The findings as ``report``'s errors, warnings and lines."""
        if self.unreadable:
            report.errors.append(_listed("unreadable pair(s)", self.unreadable))
        if self.bad_aspect:
            what = (
                "mask(s) with another aspect ratio than their image (wrong pairing or cropped mask)"
            )
            report.errors.append(_listed(what, self.bad_aspect))
        if resized := self.resized:
            report.warnings.append(
                f"{len(resized)} mask(s) differ in size from their image (same aspect ratio, scale "
                f"{min(resized):.2f}-{max(resized):.2f}); they are resized to the image (nearest)"
            )
        if self.empty:
            report.warnings.append(_listed("empty mask(s) (no person)", self.empty))
        if self.non_binary:
            report.lines.append(
                f"non-binary masks (more than two values, read as person > 0 or "
                f">= 128 for soft 8-bit): {len(self.non_binary)}"
            )
        if self.fractions:
            f = np.array(self.fractions)
            report.lines.append(
                f"person fraction per image: mean {f.mean():.3f}, min {f.min():.3f}, "
                f"max {f.max():.3f}"
            )
        if ignored := self.ignored:
            report.lines.append(
                f"ignore maps (ignore/<stem>.png, left out of loss and metrics): {len(ignored)}, "
                f"ignored share per image: mean {np.mean(ignored):.3f}, max {max(ignored):.3f}"
            )


def _report_splits(report: DataReport, root: Path, known: set[str]) -> None:
    """``train.txt`` and ``val.txt``: their id counts, ids without a pair (errors), and how the
    other split is made when only one of them is there."""
    for name in ("train.txt", "val.txt"):
        if (root / name).is_file():
            stems = read_split(root / name)
            missing = [s for s in stems if s not in known]
            report.lines.append(f"{name}: {len(stems)} ids")
            if missing:
                report.errors.append(
                    f"{name} names {len(missing)} id(s) without a pair: {_examples(missing)}"
                )
    present = [n for n in ("train", "val") if (root / f"{n}.txt").is_file()]
    if len(present) == 1:
        other = "val" if present == ["train"] else "train"
        report.lines.append(
            f"no {other}.txt: the {other} split is every pair not in {present[0]}.txt"
        )


def check_data(root: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> DataReport:
    """Read every pair of ``root`` once and report pairing, readability (truncated, corrupt or
    over ``max_pixels``: errors), sizes and mask values."""
    root = Path(root)
    report = DataReport(str(root))
    pairs, lonely_images, lonely_masks = find_pairs(root)
    _report_pairing(report, pairs, lonely_images, lonely_masks)
    found = _PairFindings()
    for s in pairs:
        found.read(s, max_pixels)
    found.add_to(report)
    _report_splits(report, root, {s.stem for s in pairs})
    return report


def check_negatives(root: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> DataReport:
    """Decode every photo of a negatives root (photos with nobody in them) once and report the
    count, unreadable files and its ``train.txt``/``val.txt``."""
    root = Path(root)
    report = DataReport(str(root), kind="negatives: photos with nobody in them")
    try:
        files = negative_images(root)
    except (FileNotFoundError, ValueError) as err:
        report.errors.append(str(err))
        return report
    unreadable = []
    for path in files:
        try:
            load_image(path, max_pixels)
        except (ValueError, OSError) as err:
            unreadable.append(f"{path.name} ({err})")
    report.lines.append(f"photos: {len(files)} (every mask empty)")
    if unreadable:
        report.errors.append(_listed("unreadable photo(s)", unreadable))
    for name in ("train", "val"):
        try:
            listed = negative_split(root, name)
        except ValueError as err:
            report.errors.append(str(err))
            continue
        if (root / f"{name}.txt").is_file():
            report.lines.append(f"{name}.txt: {len(listed)} ids")
    if not (root / "train.txt").is_file():
        held = "those not in val.txt" if (root / "val.txt").is_file() else "every photo"
        report.lines.append(f"no train.txt: {held} used for training")
    return report


def _raw_values(path: Path, max_pixels: int) -> np.ndarray:
    with open_image(path, max_pixels) as im:
        return np.asarray(decode(im, str(path)))
