"""Export trained models for deployment."""

from personseg.export.bundle import slim_checkpoint
from personseg.export.onnx import (
    ParityError,
    export_onnx,
    model_for_backend,
    onnx_for_checkpoint,
    quantize_onnx,
)

__all__ = [
    "ParityError",
    "export_onnx",
    "model_for_backend",
    "onnx_for_checkpoint",
    "quantize_onnx",
    "slim_checkpoint",
]
