"""The seed's U-Net (Ronneberger et al., MICCAI 2015): 4 down, bottleneck, 4 up, skip connections.

Parameter counts with ``n_channels=3, n_classes=1, base_channels=64``: 17,262,977 with bilinear
upsampling, 31,037,633 with transposed convolutions.
"""

from __future__ import annotations

import torch
from torch import nn

from personseg.models.layers import DoubleConv, Down, OutConv, Up, check_input_shape


class UNet(nn.Module):
    """U-Net returning logits ``(N, n_classes, H, W)`` for input ``(N, n_channels, H, W)``.

    H and W must be multiples of 16 (four 2× poolings); the predictor pads images to fit.
    """

    divisor = 16

    def __init__(
        self,
        n_channels: int = 3,
        n_classes: int = 1,
        bilinear: bool = True,
        base_channels: int = 64,
    ):
        super().__init__()
        self.n_channels, self.n_classes, self.bilinear = n_channels, n_classes, bilinear
        c = base_channels
        factor = 2 if bilinear else 1
        self.inc = DoubleConv(n_channels, c)
        self.down1 = Down(c, c * 2)
        self.down2 = Down(c * 2, c * 4)
        self.down3 = Down(c * 4, c * 8)
        self.down4 = Down(c * 8, c * 16 // factor)  # bottleneck
        self.up1 = Up(c * 16, c * 8 // factor, bilinear)
        self.up2 = Up(c * 8, c * 4 // factor, bilinear)
        self.up3 = Up(c * 4, c * 2 // factor, bilinear)
        self.up4 = Up(c * 2, c, bilinear)
        self.outc = OutConv(c, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_shape(x, self.divisor, "UNet")
        x1 = self.inc(x)  # (N, c, H, W)
        x2 = self.down1(x1)  # (N, 2c, H/2, W/2)
        x3 = self.down2(x2)  # (N, 4c, H/4, W/4)
        x4 = self.down3(x3)  # (N, 8c, H/8, W/8)
        x5 = self.down4(x4)  # (N, 16c/factor, H/16, W/16)
        x = self.up1(x5, x4)  # (N, 8c/factor, H/8, W/8)
        x = self.up2(x, x3)  # (N, 4c/factor, H/4, W/4)
        x = self.up3(x, x2)  # (N, 2c/factor, H/2, W/2)
        x = self.up4(x, x1)  # (N, c, H, W)
        return self.outc(x)  # (N, n_classes, H, W) logits
