"""The formats and class names the importers know (no heavy imports: the CLI reads these)."""

from __future__ import annotations

FORMATS = ("coco", "cvat", "labelme", "voc", "yolo-seg")  # personseg data import
LABEL_FORMATS = ("coco", "cvat", "labelme")  # personseg predict --labels
DEFAULT_CLASSES = ("person", "people", "pedestrian", "human", "man", "woman", "child", "rider")
IGNORE_LABELS = ("__ignore__", "ignore", "void", "crowd")
NEEDS = "reading and writing labels needs pycocotools: pip install 'personseg[labels]'"


def require_pycocotools() -> None:
    """Raise one clear line when the ``labels`` extra is not installed."""
    try:
        import pycocotools.mask  # noqa: F401
    except ModuleNotFoundError:
        raise ValueError(NEEDS) from None
