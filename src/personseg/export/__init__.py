"""Export trained models for deployment."""

from personseg.export.onnx import ParityError, export_onnx, onnx_for_checkpoint

__all__ = ["ParityError", "export_onnx", "onnx_for_checkpoint"]
