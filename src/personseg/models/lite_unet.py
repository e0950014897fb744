"""U-Net with a pretrained EfficientNet-Lite0 encoder and a light decoder.

The decoder follows the U-Net pattern (upsample, concatenate the encoder's map of the same
stride, convolve) with depthwise-separable blocks so that it costs a small fraction of the
encoder; the logits are predicted at stride 2 and upsampled bilinearly to the input size.

:class:`FastLiteUNet` is the same design cut at stride 16 (the encoder's last two stages and
one decoder stage fewer, narrower stages), for small, fast models (a fast model for video was
tried with it and not shipped: docs/benchmarks.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from personseg.models.efficientnet import EfficientNetLite0, load_imagenet_weights
from personseg.models.layers import check_input_shape


class SeparableBlock(nn.Sequential):
    """1×1 conv (mix) → BN → ReLU → depthwise 3×3 → BN → ReLU → 1×1 conv → BN → ReLU;
    (N, C_in, H, W) → (N, C_out, H, W)."""

    def __init__(self, in_channels: int, out_channels: int):
        c = out_channels
        super().__init__(
            nn.Conv2d(in_channels, c, 1, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
        )


class DecoderStage(nn.Module):
    """Upsample ×2 (bilinear), concatenate the skip map, SeparableBlock."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int):
        super().__init__()
        self.block = SeparableBlock(in_channels + skip_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.block(torch.cat([x, skip], dim=1))  # (N, C_out, H_skip, W_skip)


class LiteUNet(nn.Module):
    """Person segmentation U-Net on EfficientNet-Lite0: logits ``(N, 1, H, W)`` for
    ``(N, 3, H, W)`` images normalised with the encoder's mean/std; H, W multiples of 32."""

    divisor = 32
    encoder_stages = 5  # of EfficientNet-Lite0's five feature maps, how many it uses

    def __init__(
        self,
        n_classes: int = 1,
        decoder_channels: tuple[int, ...] = (128, 64, 48, 32),
        pretrained: bool = False,
    ):
        super().__init__()
        self.encoder = EfficientNetLite0()
        if pretrained:
            load_imagenet_weights(self.encoder)
        if self.encoder_stages < len(self.encoder.feature_channels):
            self.encoder.truncate(self.encoder_stages)
        skips = self.encoder.feature_channels[::-1][1:]  # 112, 40, 24, 16 for all five
        c_in, stages = self.encoder.feature_channels[-1], []
        for skip, c_out in zip(skips, decoder_channels, strict=True):
            stages.append(DecoderStage(c_in, skip, c_out))
            c_in = c_out
        self.decoder = nn.ModuleList(stages)
        self.head = nn.Conv2d(c_in, n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_shape(x, self.divisor, type(self).__name__)
        size = x.shape[-2:]
        *skips, x = self.encoder.features(x)  # the skips, and the deepest map (N, C, H/d, W/d)
        for stage, skip in zip(self.decoder, reversed(skips), strict=True):
            x = stage(x, skip)  # ends at (N, decoder_channels[-1], H/2, W/2)
        logits = self.head(x)  # (N, n_classes, H/2, W/2)
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


class FastLiteUNet(LiteUNet):
    """LiteUNet on the first four stages of EfficientNet-Lite0 (strides 2-16, blocks 0-10;
    about two thirds of its compute) with a three-stage decoder: logits ``(N, 1, H, W)``,
    H, W multiples of 16."""

    divisor = 16
    encoder_stages = 4

    def __init__(
        self,
        n_classes: int = 1,
        decoder_channels: tuple[int, ...] = (48, 32, 24),
        pretrained: bool = False,
    ):
        super().__init__(n_classes, decoder_channels, pretrained)
