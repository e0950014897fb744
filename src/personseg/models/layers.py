"""U-Net building blocks, after Ronneberger et al., "U-Net: Convolutional Networks for Biomedical
Image Segmentation" (MICCAI 2015), with batch normalisation and same-padding convolutions."""

from __future__ import annotations

import torch
from torch import nn


def check_input_shape(x: torch.Tensor, divisor: int, model: str) -> None:
    """A ValueError naming a padded size that would work, unless H and W of ``x`` are
    multiples of ``divisor``."""
    h, w = x.shape[-2:]
    if h % divisor or w % divisor:
        d = divisor
        raise ValueError(
            f"{model} input height and width must be multiples of {d}, got {h}x{w}; "
            f"pad or resize to {-(-h // d) * d}x{-(-w // d) * d}"
        )


class DoubleConv(nn.Sequential):
    """(Conv3x3 → BatchNorm → ReLU) × 2; keeps H and W."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int | None = None):
        mid = mid_channels or out_channels
        super().__init__(
            nn.Conv2d(in_channels, mid, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class Down(nn.Sequential):
    """MaxPool 2×2 then DoubleConv: (N, C_in, H, W) → (N, C_out, H/2, W/2)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels))


class Up(nn.Module):
    """Upsample ×2, concatenate the skip connection, DoubleConv.

    Bilinear upsampling keeps the channel count (the DoubleConv halves it); transposed
    convolution halves it first. Input sizes must already match: padding belongs to the caller.
    """

    def __init__(self, in_channels: int, out_channels: int, bilinear: bool = True):
        super().__init__()
        if bilinear:
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
            self.conv = DoubleConv(in_channels, out_channels, in_channels // 2)
        else:
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
            self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)  # (N, C', 2H, 2W)
        return self.conv(torch.cat([skip, x], dim=1))  # (N, C_out, 2H, 2W)


class OutConv(nn.Conv2d):
    """1×1 convolution to per-class logits."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(in_channels, out_channels, kernel_size=1)
