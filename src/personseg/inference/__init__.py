"""Inference: the Segmenter and the predict / evaluate functions built on it."""

from personseg.inference.run import collect_inputs, evaluate_samples, predict_files
from personseg.inference.segmenter import Segmenter

__all__ = ["Segmenter", "collect_inputs", "evaluate_samples", "predict_files"]
