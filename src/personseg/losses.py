"""Segmentation losses on logits: BCE, soft Dice (Milletari et al., V-Net, 2016) and their mix."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 − soft Dice, computed per image then averaged.

    Args:
        logits: ``(N, 1, H, W)`` raw model outputs.
        target: ``(N, 1, H, W)`` in {0, 1}.
        smooth: added to numerator and denominator; makes an empty target with an empty
            prediction score 0 loss.

    Returns:
        Scalar loss in [0, 1].
    """
    probs = torch.sigmoid(logits.float()).flatten(1)  # (N, H*W)
    target = target.float().flatten(1)
    inter = (probs * target).sum(1)
    dice = (2 * inter + smooth) / (probs.sum(1) + target.sum(1) + smooth)  # (N,)
    return 1 - dice.mean()


class CombinedLoss(nn.Module):
    """``alpha · BCE + (1 − alpha) · soft Dice`` on logits ``(N, 1, H, W)``, target {0, 1}."""

    def __init__(self, alpha: float = 0.5, smooth: float = 1.0):
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.alpha, self.smooth = alpha, smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits, target = logits.float(), target.float()  # losses in fp32 under autocast
        bce = F.binary_cross_entropy_with_logits(logits, target)
        return self.alpha * bce + (1 - self.alpha) * soft_dice_loss(logits, target, self.smooth)
