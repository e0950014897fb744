"""A person segmentation network shaped for the CPU: thin high-resolution stages, the encoder cut
at stride 16, a global gate and a decoder whose skips are added, logits at stride 4.

The shape follows MobileNetV3-Small (Howard et al., "Searching for MobileNetV3", ICCV 2019: its
inverted residuals with squeeze-and-excitation and hard-swish only at low resolution, and the
LR-ASPP segmentation head) and the MediaPipe selfie segmenter built on it (16 channels at strides 2
and 4, additive skips). The time of such a network is in its high-resolution layers, so those are
the thinnest (16 channels at strides 2 and 4), and the work is at stride 16, where a 256×256 input
is 16×16 pixels.

The network ends at stride 4; :class:`FastSegNet` upsamples its logits to the input size for
training, and leaves them at stride 4 with ``upsample = False`` (export and prediction), so that
the map is brought to the photo's size once, outside the network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from personseg.models.layers import check_input_shape

# the stride-16 stage: (output channels, expanded channels) per inverted residual; the first
# block halves the resolution (stride 8 → 16); all use 5×5 depthwise, squeeze-excite, hard-swish
STAGE16 = ((48, 96), (48, 192), (48, 192), (64, 192), (64, 256), (64, 256))


def conv_bn(c_in: int, c_out: int, kernel: int = 1, stride: int = 1, groups: int = 1) -> list:
    """Conv (no bias) → BatchNorm, as a list to splice into an ``nn.Sequential``."""
    return [
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]


class SqueezeExcite(nn.Module):
    """Channel gate: global mean → 1×1 (C → C/4) → ReLU → 1×1 → hard-sigmoid; x · gate."""

    def __init__(self, channels: int):
        super().__init__()
        mid = max(8, channels // 4)
        self.reduce, self.expand = nn.Conv2d(channels, mid, 1), nn.Conv2d(mid, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = F.adaptive_avg_pool2d(x, 1)  # (N, C, 1, 1)
        return x * F.hardsigmoid(self.expand(F.relu(self.reduce(g))))


class InvertedResidual(nn.Module):
    """1×1 expand → depthwise k×k (stride s) [→ squeeze-excite] → 1×1 project (+ identity when
    the shape allows); (N, C_in, H, W) → (N, C_out, H/s, W/s)."""

    def __init__(
        self, c_in: int, c_out: int, mid: int, kernel: int, stride: int, se: bool, act: type
    ):
        super().__init__()
        layers = [*conv_bn(c_in, mid), act()] if mid != c_in else []
        layers += [*conv_bn(mid, mid, kernel, stride, groups=mid), act()]
        self.body = nn.Sequential(*layers)
        self.se = SqueezeExcite(mid) if se else nn.Identity()
        self.project = nn.Sequential(*conv_bn(mid, c_out))
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.se(self.body(x)))
        return x + y if self.residual else y


class GatedHead(nn.Module):
    """LR-ASPP's head: a 1×1 branch (C → C_out, BN, ReLU) times a sigmoid gate computed from
    the map's global mean; (N, C, H, W) → (N, C_out, H, W)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.branch = nn.Sequential(*conv_bn(c_in, c_out), nn.ReLU(inplace=True))
        self.gate = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.branch(x) * torch.sigmoid(self.gate(F.adaptive_avg_pool2d(x, 1)))


class AddSkip(nn.Module):
    """Upsample ×2 (bilinear), 1×1 to the skip's channels, add the skip, depthwise 3×3 →
    1×1 refine; (N, C_in, H, W) + skip (N, C, 2H, 2W) → (N, C, 2H, 2W)."""

    def __init__(self, c_in: int, c_skip: int):
        super().__init__()
        self.reduce = nn.Sequential(*conv_bn(c_in, c_skip))
        self.refine = nn.Sequential(
            *conv_bn(c_skip, c_skip, 3, groups=c_skip),
            nn.ReLU(inplace=True),
            *conv_bn(c_skip, c_skip),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(self.reduce(x), size=skip.shape[-2:], mode="bilinear")
        return self.refine(x + skip)


class FastSegNet(nn.Module):
    """Person logits ``(N, 1, H, W)`` for ``(N, 3, H, W)`` images, H and W multiples of 16
    (``(N, 1, H/4, W/4)`` with ``upsample = False``); about 0.3 M parameters."""

    divisor = 16
    logit_stride = 4  # what the logits' size is with upsample off

    def __init__(self, n_classes: int = 1, head_channels: int = 64):
        super().__init__()
        relu, hswish = nn.ReLU, nn.Hardswish
        self.upsample = True
        self.stem = nn.Sequential(*conv_bn(3, 16, 3, 2), nn.ReLU(inplace=True))  # stride 2
        self.stage4 = nn.Sequential(  # stride 4, 16 channels
            *conv_bn(16, 16, 3, 2, groups=16), nn.ReLU(inplace=True), *conv_bn(16, 16)
        )
        self.stage8 = nn.Sequential(  # stride 8, 24 channels
            InvertedResidual(16, 24, 64, 3, 2, False, relu),
            InvertedResidual(24, 24, 72, 3, 1, False, relu),
        )
        blocks, c = [], 24
        for i, (c_out, mid) in enumerate(STAGE16):
            blocks.append(InvertedResidual(c, c_out, mid, 5, 2 if i == 0 else 1, True, hswish))
            c = c_out
        self.stage16 = nn.Sequential(*blocks)
        self.head = GatedHead(c, head_channels)
        self.up8 = AddSkip(head_channels, 24)
        self.up4 = AddSkip(24, 16)
        self.logits = nn.Conv2d(16, n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_shape(x, self.divisor, type(self).__name__)
        size = x.shape[-2:]
        s4 = self.stage4(self.stem(x))  # (N, 16, H/4, W/4)
        s8 = self.stage8(s4)  # (N, 24, H/8, W/8)
        y = self.head(self.stage16(s8))  # (N, head_channels, H/16, W/16)
        y = self.up4(self.up8(y, s8), s4)  # (N, 16, H/4, W/4)
        logits = self.logits(y)  # (N, n_classes, H/4, W/4)
        if not self.upsample:
            return logits
        return F.interpolate(logits, size=size, mode="bilinear")
