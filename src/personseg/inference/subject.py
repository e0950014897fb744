"""The main subject of a photo: which person regions of a probability map to keep.

``all`` keeps every person region (less those under ``min_area``); ``main`` keeps the photo's
subject. The rule, on the map at the edge filter's size (at most 384 pixels on the long side):

1. The regions are the connected parts (8-connected) of the map above the threshold; those of
   fewer than ``min_area`` of the map's pixels are specks, and go in both modes.
2. Each region scores its mass (the sum of its probabilities: size times confidence) times its
   place: ``exp(-d² / (2 · 0.35²))``, ``d`` the distance of its centre from the map's centre
   in map widths and heights, so a region at a side edge weighs about a third of the same
   region in the middle. The best region is the subject, and so is every region that scores
   at least ``PEERS`` (a fifth) of it: the people of a group photo.
3. Regions within ``NEAR`` (3 % of the long side) of the subject join it, again from each
   region that joined: the parts of one person cut apart by an arm, a strap or a held thing,
   and a child in its mother's arms; a passer-by a step away stays out.
4. The map is kept within a few pixels of the kept regions (their soft edge) and set to 0
   elsewhere, through a short ramp so the cut leaves no step in the alpha.

In a video (:class:`SubjectFilter` with ``track=True``) step 2 first looks for the region that
overlaps the previous frame's subject the most (IoU), so the choice does not flip between two people
from frame to frame; only when none overlaps does the score choose again.
"""

from __future__ import annotations

import cv2
import numpy as np

SUBJECTS = ("all", "main")
PLACE_SIGMA = 0.35  # of the map's width and height: how fast a region's weight falls off-centre
NEAR = 0.03  # of the map's long side: regions this close to the subject are part of it
PEERS = 0.2  # regions scoring this share of the subject's or more are subjects too (train splits)


def check_subject(subject: str) -> str:
    """``subject`` if it is one of :data:`SUBJECTS`, else a ValueError saying which are."""
    if subject not in SUBJECTS:
        raise ValueError(f"subject must be one of {SUBJECTS}, got {subject!r}")
    return subject


def check_min_area(min_area: float) -> float:
    """``min_area`` if it is a share of the photo in [0, 1), else a ValueError."""
    if not 0.0 <= min_area < 1.0:
        raise ValueError(f"min-area is a share of the photo in [0, 1), got {min_area}")
    return min_area


def _scores(centroids: np.ndarray, mass: np.ndarray, shape) -> np.ndarray:
    """Mass times place (rule 2) of each region, background (label 0) included as 0."""
    h, w = shape
    d2 = ((centroids[:, 0] + 0.5) / w - 0.5) ** 2 + ((centroids[:, 1] + 0.5) / h - 0.5) ** 2
    score = mass * np.exp(-d2 / (2 * PLACE_SIGMA**2))
    score[0] = 0.0
    return score


def _join_near(labels: np.ndarray, chosen: set[int], candidates: set[int], near: float) -> set[int]:
    """``chosen`` and every candidate region within ``near`` pixels of it, transitively."""
    while candidates:
        kept = np.isin(labels, list(chosen)).astype(np.uint8)
        dist = cv2.distanceTransform(1 - kept, cv2.DIST_L2, 3)
        joining = {i for i in candidates if dist[labels == i].min() <= near}
        if not joining:
            break
        chosen |= joining
        candidates -= joining
    return chosen


class SubjectFilter:
    """Keeps the person regions of probability maps that ``subject`` asks for (module doc).

    Args:
        subject: ``all`` or ``main``.
        min_area: regions of fewer than this share of the map's pixels are dropped.
        track: remember each map's subject and prefer the region that overlaps it in the
            next (video frames, in order); :meth:`reset` forgets it.
    """

    def __init__(
        self,
        subject: str = "all",
        min_area: float = 0.0,
        track: bool = False,
        peers: float = PEERS,
    ):
        self.subject, self.peers = check_subject(subject), peers
        self.min_area = check_min_area(min_area)
        self.track = track
        self.previous: np.ndarray | None = None

    @property
    def passes_all(self) -> bool:
        """Whether every map comes back unchanged (``all`` with no ``min_area``)."""
        return self.subject == "all" and self.min_area == 0

    def reset(self) -> None:
        self.previous = None

    def __call__(self, prob: np.ndarray, threshold: float = 0.5) -> np.ndarray:
        """The map (H, W) float32 with what is not kept set to 0 (a new array; the same one
        when everything is kept)."""
        keep = self.weights(prob, threshold)
        return prob if keep is None else prob * keep

    def weights(self, prob: np.ndarray, threshold: float = 0.5) -> np.ndarray | None:
        """(H, W) float32 weights in [0, 1] that keep what ``subject`` asks for (1 on and near
        the kept regions, 0 far from them), or None when everything is kept."""
        if self.passes_all:
            return None
        mask = cv2.compare(prob, np.full((1, 1), threshold, prob.dtype), cv2.CMP_GT)
        n, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
        area = stats[:, cv2.CC_STAT_AREA]
        big = {i for i in range(1, n) if area[i] >= self.min_area * prob.size}
        if self.subject == "all" or len(big) <= 1:
            kept = big
        else:
            kept = self._main(prob, labels, stats, centroids, big)
        if self.track and self.subject == "main":
            self.previous = np.isin(labels, list(kept)) if kept else None
        if len(kept) == n - 1 and (kept or self.subject == "all"):
            return None  # nothing dropped
        return self._keep_region(labels, kept, prob.shape)

    def _main(self, prob, labels, stats, centroids, big: set[int]) -> set[int]:
        """The subject's regions among ``big`` (rules 2 and 3, with tracking)."""
        mass = np.bincount(labels.ravel(), weights=prob.ravel(), minlength=len(stats))
        score = _scores(centroids, mass, prob.shape)
        first = max(big, key=lambda i: score[i])
        if self.track and self.previous is not None and self.previous.shape == labels.shape:
            overlap = np.bincount(labels[self.previous], minlength=len(stats))
            union = stats[:, cv2.CC_STAT_AREA] + int(self.previous.sum()) - overlap
            best = max(big, key=lambda i: overlap[i] / union[i])
            if overlap[best] > 0:
                first = best
        chosen = {first} | {i for i in big if score[i] >= self.peers * score[first]}
        return _join_near(labels, chosen, big - chosen, NEAR * max(prob.shape))

    @staticmethod
    def _keep_region(labels: np.ndarray, kept: set[int], shape) -> np.ndarray:
        """(H, W) float32 weights: 1 on and near the kept regions, a short ramp, then 0."""
        if not kept:
            return np.zeros(shape, np.float32)
        r = max(2, round(NEAR / 2 * max(shape)))
        region = np.isin(labels, list(kept)).astype(np.uint8)
        region = cv2.dilate(region, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
        return cv2.blur(region.astype(np.float32), (r | 1, r | 1))


def chosen(
    own: SubjectFilter | None,
    subject: str | None = None,
    min_area: float = 0.0,
    track: bool = False,
) -> SubjectFilter | None:
    """A call's choice of person regions: ``subject`` and ``min_area`` where given, else
    ``own``'s (a segmenter's ``--subject``/``--min-area``); ``track`` follows the subject from
    frame to frame (a filter of its own, with its own memory). None when every region is kept."""
    own = own or SubjectFilter()
    picked = SubjectFilter(subject or own.subject, min_area or own.min_area, track)
    return None if picked.passes_all else picked
