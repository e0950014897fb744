"""Segmentation losses on logits: BCE, soft Dice (Milletari et al., V-Net, 2016) and their mix."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from personseg.config import IGNORE_VALUE


def split_ignore(target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(N, 1, H, W)`` target with :data:`IGNORE_VALUE` pixels → ({0, 1} target, float valid
    weight ``(N, 1, H, W)`` with 0 on ignore pixels), or (target, None) when none is ignored."""
    ignore = target == IGNORE_VALUE
    if not bool(ignore.any()):
        return target, None
    return target.masked_fill(ignore, 0), (~ignore).float()


def soft_dice_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    smooth: float = 1.0,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """1 − soft Dice, computed per image then averaged.

    Args:
        logits: ``(N, 1, H, W)`` raw model outputs.
        target: ``(N, 1, H, W)`` in {0, 1}.
        smooth: added to numerator and denominator; makes an empty target with an empty
            prediction score 0 loss.
        valid: optional ``(N, 1, H, W)`` {0, 1}: pixels at 0 (ignore) are left out.

    Returns:
        Scalar loss in [0, 1].
    """
    probs = torch.sigmoid(logits.float()).flatten(1)  # (N, H*W)
    target = target.float().flatten(1)
    if valid is not None:
        v = valid.float().flatten(1)
        probs, target = probs * v, target * v
    inter = (probs * target).sum(1)
    dice = (2 * inter + smooth) / (probs.sum(1) + target.sum(1) + smooth)  # (N,)
    return 1 - dice.mean()


class CombinedLoss(nn.Module):
    """``alpha · BCE + (1 − alpha) · soft Dice`` on logits ``(N, 1, H, W)``, target in [0, 1]
    ({0, 1} masks, or soft targets when distilling)."""

    def __init__(self, alpha: float = 0.5, smooth: float = 1.0):
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.alpha, self.smooth = alpha, smooth

    def forward(
        self, logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``valid`` (optional, ``(N, 1, H, W)`` {0, 1}): pixels at 0 count in neither term."""
        logits, target = logits.float(), target.float()  # losses in fp32 under autocast
        if valid is None:
            bce = F.binary_cross_entropy_with_logits(logits, target)
        else:
            valid = valid.float()
            bce = F.binary_cross_entropy_with_logits(
                logits, target, weight=valid, reduction="sum"
            ) / valid.sum().clamp(min=1)
        dice = soft_dice_loss(logits, target, self.smooth, valid)
        return self.alpha * bce + (1 - self.alpha) * dice
