"""Masks → annotation files a labelling tool opens for correction (pre-labelling): COCO
(compressed RLE), CVAT for images 1.1 XML (``<mask>`` per connected person region) and LabelMe
JSON (polygons simplified to a pixel tolerance; holes are not kept)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from personseg.data.formats.cvat import encode_cvat_rle
from personseg.data.formats.names import LABEL_FORMATS

__all__ = ["LABEL_FORMATS", "mask_polygons", "write_coco", "write_cvat", "write_labelme"]
MIN_AREA = 16  # person regions smaller than this many pixels are not written


def _regions(mask: np.ndarray) -> list[np.ndarray]:
    """Bool masks of the connected person regions of at least MIN_AREA pixels."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return [labels == i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= MIN_AREA]


def write_coco(items: Sequence[tuple[str, np.ndarray]], path: str | Path) -> Path:
    """``items``: (image file name, bool (H, W) mask). One annotation per person region."""
    images, anns = [], []
    for i, (name, mask) in enumerate(items, 1):
        h, w = mask.shape
        images.append({"id": i, "file_name": name, "height": h, "width": w})
        for region in _regions(mask):
            rle = mask_utils.encode(np.asfortranarray(region.astype(np.uint8)))
            x, y, bw, bh = (float(v) for v in mask_utils.toBbox(rle))
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": 1,
                    "segmentation": {"size": [h, w], "counts": rle["counts"].decode("ascii")},
                    "area": float(mask_utils.area(rle)),
                    "bbox": [x, y, bw, bh],
                    "iscrowd": 0,
                }
            )
    data = {
        "info": {"description": "personseg pre-labels"},
        "images": images,
        "annotations": anns,
        "categories": [{"id": 1, "name": "person", "supercategory": "person"}],
    }
    path = Path(path)
    path.write_text(json.dumps(data))
    return path


def write_cvat(items: Sequence[tuple[str, np.ndarray]], path: str | Path) -> Path:
    """CVAT for images 1.1 XML with a ``<mask>`` per person region (RLE inside its box)."""
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    meta = ET.SubElement(ET.SubElement(ET.SubElement(root, "meta"), "task"), "labels")
    label = ET.SubElement(meta, "label")
    ET.SubElement(label, "name").text = "person"
    ET.SubElement(label, "type").text = "mask"
    for i, (name, mask) in enumerate(items):
        h, w = mask.shape
        im = ET.SubElement(root, "image", id=str(i), name=name, width=str(w), height=str(h))
        for region in _regions(mask):
            ys, xs = np.nonzero(region)
            x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
            box = region[y0:y1, x0:x1]
            ET.SubElement(
                im,
                "mask",
                label="person",
                source="auto",
                occluded="0",
                rle=encode_cvat_rle(box),
                left=str(x0),
                top=str(y0),
                width=str(x1 - x0),
                height=str(y1 - y0),
                z_order="0",
            )
    ET.indent(root)
    path = Path(path)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def _bridge(outer: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """One polygon for a region with a hole: from the outer point nearest the hole, round the
    hole and back (a "keyhole"; the cut runs over person pixels, so it costs nothing)."""
    d = ((outer[:, None, :] - hole[None, :, :]) ** 2).sum(-1)
    i, j = np.unravel_index(np.argmin(d), d.shape)
    ring = np.concatenate([hole[j:], hole[: j + 1]])
    return np.concatenate([outer[: i + 1], ring, outer[i:]])


def mask_polygons(mask: np.ndarray, tolerance: float = 1.0) -> list[np.ndarray]:
    """Contours of the person regions, simplified (Douglas-Peucker) to ``tolerance`` pixels,
    as ``(K, 2)`` float arrays through the boundary pixels' centres (LabelMe draws a polygon
    with its outline, so these give the region back). LabelMe has no holes: each hole is
    joined to its region's outline by a zero-width cut."""
    out = []
    for region in _regions(mask):
        contours, hierarchy = cv2.findContours(
            region.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE
        )
        links = hierarchy[0]  # [next, previous, first child, parent] per contour

        def simple(c: np.ndarray) -> np.ndarray:
            return cv2.approxPolyDP(c, tolerance, True)[:, 0, :].astype(np.float64)

        for i, c in enumerate(contours):
            if links[i][3] != -1:  # a hole: joined to its outline below
                continue
            poly = simple(c)
            child = links[i][2]
            while child != -1:
                hole = simple(contours[child])
                if len(hole) >= 3:
                    poly = _bridge(poly, hole)
                child = links[child][0]
            if len(poly) >= 3:
                out.append(poly)
    return out


def write_labelme(name: str, mask: np.ndarray, path: str | Path, tolerance: float = 1.0) -> Path:
    """A LabelMe JSON beside the photo (``imagePath`` relative to it, ``imageData`` null)."""
    h, w = mask.shape
    path = Path(path)
    shapes = [
        {
            "label": "person",
            "points": poly.tolist(),
            "group_id": None,
            "description": "",
            "shape_type": "polygon",
            "flags": {},
        }
        for poly in mask_polygons(mask, tolerance)
    ]
    data = {
        "version": "5.0.1",
        "flags": {},
        "shapes": shapes,
        "imagePath": name,
        "imageData": None,
        "imageHeight": h,
        "imageWidth": w,
    }
    path.write_text(json.dumps(data, indent=1))
    return path
