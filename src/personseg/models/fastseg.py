"""A person segmentation network shaped for the CPU: thin high-resolution stages, the encoder cut
at stride 16, a global gate and a decoder whose skips are added, logits at stride 4.

The encoder is eight of EfficientNet-Lite0's first eleven blocks (Tan & Le, ICML 2019; ReLU6,
no squeeze-and-excitation) with their widths thinned: 16 channels at stride 2 (Lite0's stem has
32), a third to a half of Lite0's expanded widths, and nothing after stride 16. ``pretrained``
starts it from Lite0's ImageNet weights cut to those widths: each layer keeps the channels whose
batch-norm scale is largest (the "network slimming" criterion, Liu et al., ICCV 2017). The head
and decoder follow MobileNetV3's LR-ASPP (Howard et al., ICCV 2019) and the MediaPipe selfie
segmenter: a global gate at stride 16, then skips from strides 8 and 4 *added*, not concatenated.

The network ends at stride 4; :class:`FastSegNet` upsamples its logits to the input size for
training, and leaves them at stride 4 with ``upsample = False`` (export and prediction), so that
the map is brought to the photo's size once, outside the network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from personseg.models.efficientnet import BN_EPS, MBConv, imagenet_state_dict
from personseg.models.layers import check_input_shape

# (Lite0 block, output channels, expanded channels, kernel, stride) for the encoder's blocks;
# Lite0's own expansions for these blocks are 32, 96, 144, 240, 240, 480, 480, 672, 672 (its
# blocks 2, 7 and 9 are left out: a residual block each, at strides 4, 16 and 16)
BLOCKS = (
    (0, 16, 16, 3, 1),  # stride 2: depthwise on the stem's 16 channels
    (1, 24, 32, 3, 2),  # stride 4
    (3, 40, 72, 5, 2),  # stride 8
    (4, 40, 96, 5, 1),
    (5, 80, 160, 3, 2),  # stride 16
    (6, 80, 160, 3, 1),
    (8, 112, 224, 5, 1),
    (10, 112, 224, 5, 1),
)
STEM = 16
TAPS = (1, 3)  # blocks whose outputs are the skips at strides 4 and 8


def conv_bn(c_in: int, c_out: int, kernel: int = 1, stride: int = 1, groups: int = 1) -> list:
    """Conv (no bias) → BatchNorm, as a list to splice into an ``nn.Sequential``."""
    return [
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]


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
    (``(N, 1, H/4, W/4)`` with ``upsample = False``); about 0.2 M parameters. Inputs are
    normalised as Lite0's weights expect (``LITE_MEAN``, ``LITE_STD``)."""

    divisor = 16
    logit_stride = 4  # what the logits' size is with upsample off

    def __init__(self, n_classes: int = 1, head_channels: int = 64, pretrained: bool = False):
        super().__init__()
        self.upsample = True
        self.stem = nn.Sequential(
            nn.Conv2d(3, STEM, 3, 2, 1, bias=False),
            nn.BatchNorm2d(STEM, eps=BN_EPS),
            nn.ReLU6(inplace=True),
        )  # stride 2
        blocks, c = [], STEM
        for _, c_out, mid, kernel, stride in BLOCKS:
            blocks.append(MBConv(c, c_out, 1 if mid == c else 6, kernel, stride, mid=mid))
            c = c_out
        self.blocks = nn.ModuleList(blocks)
        self.head = GatedHead(c, head_channels)
        c4, c8 = (BLOCKS[i][1] for i in TAPS)
        self.up8 = AddSkip(head_channels, c8)
        self.up4 = AddSkip(c8, c4)
        self.logits = nn.Conv2d(c4, n_classes, 1)
        if pretrained:
            self.load_state_dict(slimmed_lite0(imagenet_state_dict()), strict=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_shape(x, self.divisor, type(self).__name__)
        size = x.shape[-2:]
        y, skips = self.stem(x), []  # (N, 16, H/2, W/2)
        for i, block in enumerate(self.blocks):
            y = block(y)
            if i in TAPS:
                skips.append(y)  # (N, 24, H/4, W/4), then (N, 40, H/8, W/8)
        y = self.head(y)  # (N, head_channels, H/16, W/16)
        y = self.up4(self.up8(y, skips[1]), skips[0])  # (N, 24, H/4, W/4)
        logits = self.logits(y)  # (N, n_classes, H/4, W/4)
        if not self.upsample:
            return logits
        return F.interpolate(logits, size=size, mode="bilinear")


def _largest(bn_weight: torch.Tensor, n: int) -> torch.Tensor:
    """Indices (ascending) of the ``n`` channels with the largest |batch-norm scale|."""
    return bn_weight.abs().topk(n).indices.sort().values


def _bn(state: dict, src: str, dst: str, keep: torch.Tensor | None = None) -> dict:
    out = {}
    for k in ("weight", "bias", "running_mean", "running_var"):
        v = state[f"{src}.{k}"]
        out[f"{dst}.{k}"] = v if keep is None else v[keep]
    return out


def slimmed_lite0(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Lite0's ImageNet ``state`` cut to :class:`FastSegNet`'s encoder: for the stem and every
    expansion, the channels with the largest batch-norm scale (the head and decoder are left
    out: they start untrained)."""
    keep = _largest(state["_bn0.weight"], STEM)
    out = {"stem.0.weight": state["_conv_stem.weight"][keep], **_bn(state, "_bn0", "stem.1", keep)}
    for i, (lite, c_out, mid, _, _) in enumerate(BLOCKS):
        src, dst = f"_blocks.{lite}", f"blocks.{i}"
        if f"{src}._expand_conv.weight" in state:
            mid_keep = _largest(state[f"{src}._bn0.weight"], mid)
            w = state[f"{src}._expand_conv.weight"][mid_keep][:, keep]
            out[f"{dst}._expand_conv.weight"] = w
            out.update(_bn(state, f"{src}._bn0", f"{dst}._bn0", mid_keep))
        else:
            mid_keep = keep
        out[f"{dst}._depthwise_conv.weight"] = state[f"{src}._depthwise_conv.weight"][mid_keep]
        out.update(_bn(state, f"{src}._bn1", f"{dst}._bn1", mid_keep))
        out[f"{dst}._project_conv.weight"] = state[f"{src}._project_conv.weight"][:, mid_keep]
        out.update(_bn(state, f"{src}._bn2", f"{dst}._bn2"))
        keep = torch.arange(c_out)
    return out
