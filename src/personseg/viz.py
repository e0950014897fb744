"""Pictures: mask overlays, side-by-side figures, galleries and training curves.

Uses matplotlib's object API (no pyplot state, no display needed) and imports no model code.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

OVERLAY_COLOR = (0, 200, 255)


def overlay(
    image: np.ndarray,
    mask: np.ndarray,
    color: tuple[int, int, int] = OVERLAY_COLOR,
    alpha: float = 0.45,
) -> np.ndarray:
    """Tint the person pixels of an RGB uint8 image; ``mask`` (H, W) bool or {0,1}/{0,255}."""
    out = image.astype(np.float32).copy()
    m = mask.astype(bool)
    out[m] = (1 - alpha) * out[m] + alpha * np.asarray(color, np.float32)
    return out.round().astype(np.uint8)


def _save(fig: Figure, path: str | Path) -> None:
    """Write atomically, so a reader never sees half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    os.replace(tmp, path)


def save_side_by_side(
    image: np.ndarray, prob: np.ndarray, mask: np.ndarray, path: str | Path, title: str = ""
) -> None:
    """Original | probability | overlay, one row."""
    h, w = image.shape[:2]
    fig = Figure(figsize=(12, 4 * h / w + 0.8), layout="constrained")
    panels = [(image, "image"), (prob, "person probability"), (overlay(image, mask), "overlay")]
    for i, (arr, name) in enumerate(panels):
        ax = fig.add_subplot(1, 3, i + 1)
        ax.imshow(
            arr, cmap="magma" if arr.ndim == 2 else None, vmin=0, vmax=1 if arr.ndim == 2 else None
        )
        ax.set_title(name)
        ax.axis("off")
    if title:
        fig.suptitle(title)
    _save(fig, path)


def save_gallery(
    rows: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, str]], path: str | Path
) -> None:
    """One row per ``(image, true mask, predicted mask, caption)``: image, truth, prediction,
    and an error map (red: missed person, blue: false person)."""
    fig = Figure(figsize=(12, 3.2 * max(len(rows), 1)))
    for r, (image, truth, pred, caption) in enumerate(rows):
        t, p = truth.astype(bool), pred.astype(bool)
        errors = np.full((*t.shape, 3), 255, np.uint8)
        errors[t & p] = (200, 200, 200)
        errors[t & ~p] = (220, 30, 30)
        errors[~t & p] = (30, 80, 220)
        panels = [
            (image, caption),
            (overlay(image, t), "truth"),
            (overlay(image, p), "prediction"),
            (errors, "errors: red missed, blue false"),
        ]
        for c, (arr, name) in enumerate(panels):
            ax = fig.add_subplot(len(rows), 4, r * 4 + c + 1)
            ax.imshow(arr)
            ax.set_title(name, fontsize=9)
            ax.axis("off")
    _save(fig, path)


def plot_curves(history: Sequence[dict[str, Any]], path: str | Path) -> None:
    """Loss, Dice and IoU per epoch for train and validation."""
    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(13, 3.8))
    for i, key in enumerate(("loss", "dice", "iou")):
        ax = fig.add_subplot(1, 3, i + 1)
        ax.plot(epochs, [h[f"train_{key}"] for h in history], "o-", label="train")
        ax.plot(epochs, [h[f"val_{key}"] for h in history], "o-", label="val")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(key if key == "loss" else f"{key} (per-image mean)")
        ax.grid(alpha=0.3)
        ax.legend()
    _save(fig, path)
