"""Model architectures and the registry that builds them by name."""

from personseg.models.registry import (
    create_model,
    list_models,
    register_model,
    size_divisor,
    without_upsampling,
)
from personseg.models.unet import UNet

__all__ = [
    "UNet",
    "create_model",
    "list_models",
    "register_model",
    "size_divisor",
    "without_upsampling",
]
