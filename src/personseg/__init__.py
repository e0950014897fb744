"""personseg: person segmentation with U-Net — train, evaluate and predict person masks."""

from personseg._version import __version__
from personseg.inference.segmenter import Segmenter
from personseg.losses import CombinedLoss
from personseg.metrics import dice_coefficient, evaluate_metrics, iou_score
from personseg.models import UNet, create_model, list_models

__all__ = [
    "CombinedLoss",
    "Segmenter",
    "UNet",
    "__version__",
    "create_model",
    "dice_coefficient",
    "evaluate_metrics",
    "iou_score",
    "list_models",
]
