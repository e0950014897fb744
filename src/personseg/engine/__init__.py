"""Training engine: the loop functions, the run's data and process-group helpers."""

from personseg.engine.loop import evaluate, false_positives, train_one_epoch
from personseg.engine.trainer import fit

__all__ = ["evaluate", "false_positives", "fit", "train_one_epoch"]
