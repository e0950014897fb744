"""Training engine: the loop functions, checkpoints and process-group helpers."""

from personseg.engine.checkpoint import load_checkpoint, model_from_checkpoint
from personseg.engine.trainer import evaluate, fit, train_one_epoch

__all__ = ["evaluate", "fit", "load_checkpoint", "model_from_checkpoint", "train_one_epoch"]
