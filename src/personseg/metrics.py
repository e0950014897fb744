"""Binary segmentation metrics from confusion counts: Dice, IoU, precision, recall, accuracy and
boundary F1 (the contour F-measure of Perazzi et al., DAVIS, CVPR 2016, with a pixel tolerance).

Conventions:

- Every score is a ratio of counts. A ratio whose denominator is 0 scores **1.0**: nothing was
  there to get wrong. So an image with no person and no predicted person has Dice = IoU = 1.
- *Per image* figures (``mean_*``) score each image, then average the images.
- *Pooled* figures (``pooled_*``) add the counts of all images, then score once; large people
  weigh more there.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

# Per-image count columns kept by MetricAccumulator.
COUNT_NAMES = ("tp", "fp", "fn", "tn", "pb_hit", "pb_all", "gb_hit", "gb_all")
SCORE_NAMES = ("dice", "iou", "precision", "recall", "accuracy", "boundary_f1")
DEFAULT_BOUNDARY_TOLERANCE = 3


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.where(den > 0, num / np.maximum(den, 1e-300), 1.0)


def _binary(x: torch.Tensor | np.ndarray, threshold: float) -> np.ndarray:
    """Probabilities or {0,1} values → bool ``(N, H, W)``.

    Accepts (H, W), (N, H, W) or (N, 1, H, W).
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    x = np.asarray(x)
    if x.ndim == 2:
        x = x[None]
    elif x.ndim == 4:
        if x.shape[1] != 1:
            raise ValueError(f"expected one channel, got shape {x.shape}")
        x = x[:, 0]
    if x.ndim != 3:
        raise ValueError(f"expected (H, W), (N, H, W) or (N, 1, H, W), got shape {x.shape}")
    return x if x.dtype == bool else x > threshold


def confusion_counts(
    pred: np.ndarray, target: np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray:
    """Per-image ``[tp, fp, fn, tn]`` for bool arrays ``(N, H, W)``; returns ``(N, 4)`` int64.

    ``valid`` (bool, same shape): only its True pixels are counted (False = ignore).
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction {pred.shape} and target {target.shape} differ in shape")
    p, t = pred.reshape(len(pred), -1), target.reshape(len(target), -1)
    n = p.shape[1]
    if valid is not None:
        v = np.asarray(valid, bool).reshape(len(pred), -1)
        p, t, n = p & v, t & v, v.sum(1)
    tp = (p & t).sum(1)
    fp = (p & ~t).sum(1)
    fn = (~p & t).sum(1)
    tn = n - tp - fp - fn
    return np.stack([tp, fp, fn, tn], axis=1).astype(np.int64)


def _boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels of a bool (H, W) mask that touch the background (the image edge does not count)."""
    m = mask.astype(np.uint8)
    return (m - cv2.erode(m, np.ones((3, 3), np.uint8))).astype(bool)


def boundary_counts(
    pred: np.ndarray, target: np.ndarray, tolerance: int, valid: np.ndarray | None = None
) -> np.ndarray:
    """``[pred boundary pixels near a true boundary, pred boundary pixels, true boundary pixels
    near a predicted boundary, true boundary pixels]`` for one bool (H, W) pair; "near" means
    within ``tolerance`` pixels (a disc). With ``valid``, boundary pixels on ignore pixels
    (False) are not counted, and the truth takes the prediction's value there, so that the
    edge of an ignore region is no boundary of either."""
    pb = _boundary(pred)
    if valid is None:
        gb = _boundary(target)
    else:
        gb = _boundary(np.where(valid, target, pred)) & valid
        pb &= valid
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tolerance + 1, 2 * tolerance + 1))
    near_g = cv2.dilate(gb.astype(np.uint8), k).astype(bool)
    near_p = cv2.dilate(pb.astype(np.uint8), k).astype(bool)
    return np.array([(pb & near_g).sum(), pb.sum(), (gb & near_p).sum(), gb.sum()], np.int64)


def scores_from_counts(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Scores from count rows ``(..., 8)`` in :data:`COUNT_NAMES` order (0/0 scores 1).

    Rows of the 4 confusion counts alone ``(..., 4)`` are accepted; their boundary F1 is 1.
    """
    c = np.asarray(counts, np.float64)
    if c.shape[-1] == 4:
        c = np.concatenate([c, np.zeros_like(c)], axis=-1)
    tp, fp, fn, tn, pb_hit, pb_all, gb_hit, gb_all = np.moveaxis(c, -1, 0)
    bp, br = _ratio(pb_hit, pb_all), _ratio(gb_hit, gb_all)
    return {
        "dice": _ratio(2 * tp, 2 * tp + fp + fn),
        "iou": _ratio(tp, tp + fp + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "accuracy": _ratio(tp + tn, tp + fp + fn + tn),
        "boundary_f1": np.where(bp + br > 0, 2 * bp * br / np.maximum(bp + br, 1e-300), 0.0),
    }


class MetricAccumulator:
    """Collects per-image counts over a whole set; :meth:`compute` scores once at the end.

    The counts (not averages) are kept so that several processes can be merged exactly.
    """

    def __init__(
        self, threshold: float = 0.5, boundary_tolerance: int = DEFAULT_BOUNDARY_TOLERANCE
    ):
        self.threshold, self.boundary_tolerance = threshold, boundary_tolerance
        self.rows: list[np.ndarray] = []

    def update(
        self,
        pred: torch.Tensor | np.ndarray,
        target: torch.Tensor | np.ndarray,
        valid: torch.Tensor | np.ndarray | None = None,
    ) -> None:
        """Add images: ``pred`` probabilities or bools, ``target`` {0,1}, both (N, 1, H, W)
        or (N, H, W); ``valid`` (optional, same shape, {0,1} or bool): pixels at 0 are ignore
        pixels, left out of every count."""
        p, t = _binary(pred, self.threshold), _binary(target, 0.5)
        v = None if valid is None else _binary(valid, 0.5)
        conf = confusion_counts(p, t, v)
        tol = self.boundary_tolerance
        vs = [None] * len(p) if v is None else list(v)
        bnd = np.stack([boundary_counts(a, b, tol, c) for a, b, c in zip(p, t, vs, strict=True)])
        self.rows.extend(np.concatenate([conf, bnd], axis=1))

    @property
    def counts(self) -> np.ndarray:
        """``(n_images, 8)`` count matrix in :data:`COUNT_NAMES` order."""
        return np.array(self.rows, np.int64).reshape(-1, len(COUNT_NAMES))

    def per_image(self) -> list[dict[str, float]]:
        """One dict of scores per image, in the order added."""
        scores = scores_from_counts(self.counts)
        return [{k: float(v[i]) for k, v in scores.items()} for i in range(len(self.rows))]

    def compute(self) -> dict[str, float]:
        """``n_images``, ``mean_<score>`` (per image, averaged) and ``pooled_<score>`` (from the
        counts summed over the set)."""
        counts = self.counts
        if len(counts) == 0:
            raise ValueError("no images were scored")
        per = scores_from_counts(counts)
        pooled = scores_from_counts(counts.sum(0))
        out: dict[str, float] = {"n_images": len(counts)}
        for name in SCORE_NAMES:
            out[f"mean_{name}"] = float(per[name].mean())
            out[f"pooled_{name}"] = float(pooled[name])
        return out


def evaluate_metrics(
    pred: torch.Tensor | np.ndarray,
    target: torch.Tensor | np.ndarray,
    threshold: float = 0.5,
    boundary_tolerance: int = DEFAULT_BOUNDARY_TOLERANCE,
) -> dict[str, float]:
    """All scores for a batch: ``pred`` probabilities ``(N, 1, H, W)``, ``target`` {0,1}.

    Returns what :meth:`MetricAccumulator.compute` gives: ``mean_dice`` and ``mean_iou`` are
    the seed's Dice and IoU (per-image means).
    """
    acc = MetricAccumulator(threshold, boundary_tolerance)
    acc.update(pred, target)
    return acc.compute()


def dice_coefficient(
    pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray, threshold: float = 0.5
) -> float:
    """Mean per-image Dice ``2|P∩T| / (|P| + |T|)`` of probabilities > ``threshold``."""
    p, t = _binary(pred, threshold), _binary(target, 0.5)
    return float(scores_from_counts(confusion_counts(p, t))["dice"].mean())


def iou_score(
    pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray, threshold: float = 0.5
) -> float:
    """Mean per-image IoU ``|P∩T| / |P∪T|`` of probabilities thresholded at ``threshold``."""
    p, t = _binary(pred, threshold), _binary(target, 0.5)
    return float(scores_from_counts(confusion_counts(p, t))["iou"].mean())
