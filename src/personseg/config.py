"""Typed run configuration: data, model and training settings, checked once at construction.

A run is described by a :class:`TrainConfig` (built from CLI flags, a YAML file, or both) and
saved as ``config.yaml`` in the run directory so that ``--resume`` rebuilds exactly the same run.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

IGNORE_VALUE = 255  # target value of ignore pixels (ignore/<stem>.png): no loss, no metric
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# How images are resized to the model's input: letterbox (aspect kept, zero padding), fit
# (prediction only: about input_size² pixels shaped like the image), stretch (a plain square).
RESIZES = ("letterbox", "fit", "stretch")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# What runs a model at prediction: PyTorch, or an exported .onnx file on ONNX Runtime or OpenVINO
BACKENDS = ("auto", "torch", "onnx", "openvino")
ONNX_BACKENDS = ("onnx", "openvino")
AUGMENTS = ("seed", "strong")
DISTILL_ON = ("all", "photos")  # which training samples take the teacher's share


def _flag(default: Any, help: str, **meta: Any) -> Any:
    """A field that ``personseg train`` also takes as a flag (the CLI reads this metadata).

    The flag is ``--`` + the name with ``_`` as ``-`` (a bool that defaults to True gives
    ``--no-<name>``), typed by the default (a tuple: repeat the flag); ``meta`` may hold
    ``flag`` (another name), ``choices``, ``metavar``, and ``resume=True`` for a setting that
    may change when a run is resumed. Fields made without it are set in YAML only.
    """
    return field(default=default, metadata={"help": help, **meta})


@dataclass(frozen=True)
class DataConfig:
    """Where the images and masks are and how they are split and resized."""

    roots: tuple[str, ...] = _flag(
        (),
        "data root with images/ and masks/ (repeat to combine sets); default: ./data",
        flag="--data",
        metavar="ROOT",
    )
    input_size: int = _flag(256, "square training input size (default 256)")
    resize: str = _flag(
        "letterbox",
        "letterbox keeps the aspect ratio (default); stretch squashes",
        choices=("letterbox", "stretch"),  # fit is for prediction only
    )
    val_fraction: float = _flag(0.2, "validation share when a root has no val.txt (default 0.2)")
    num_workers: int = _flag(  # -1: chosen from the core count
        -1, "data loader processes (default: from cores)", flag="--workers", resume=True
    )
    cache: bool = _flag(  # decode each image once, keep it in memory at ~1.25x input_size
        True,
        "decode the labelled photos every epoch instead of keeping them in memory (photos "
        "with nobody in them stay in memory, shrunk)",
    )
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    augment: str = _flag(
        "seed",
        "seed (flip, rotation, brightness, blur; the default) or strong (adds scale, "
        "shift, colour, noise, JPEG)",
        choices=AUGMENTS,
    )
    cutouts: str = _flag(  # copy-paste augmentation
        "", "RGBA people to paste into training photos", metavar="DIR"
    )
    paste_prob: float = _flag(0.0, "chance a photo gets 1-3 pasted people")
    backgrounds: str = _flag("", "photos with nobody in them", metavar="DIR")
    backgrounds_holdout: int = 0  # last N backgrounds (by name) never trained on
    scenes: int = _flag(0, "samples per epoch from --backgrounds (half with pasted people)")
    negatives: tuple[str, ...] = _flag(  # trained on with empty masks
        (),
        "photos with nobody in them (in DIR or DIR/images; its train.txt/val.txt "
        "respected), trained on with empty masks; repeat to combine folders",
        metavar="DIR",
    )
    negatives_share: float = _flag(0.2, "share of each epoch drawn from --negatives (0.2)")
    composites: int = _flag(
        0,
        "samples per epoch: training people pasted beside the subject of --negatives "
        "and --backgrounds photos",
    )
    composite_portraits: float = _flag(
        0.0,
        "share of --composites that frame one person as a portrait (head-and-shoulders or "
        "half body, cut by the bottom edge) in front of the photo's subject",
    )
    portrait_prob: float = _flag(
        0.0, "chance a standing person's photo is cropped to head-and-shoulders or half-body"
    )

    def __post_init__(self) -> None:
        _check_types(self)
        roots = (self.roots,) if isinstance(self.roots, str) else self.roots  # `roots: data`
        object.__setattr__(self, "roots", tuple(str(r) for r in roots))
        negatives = (self.negatives,) if isinstance(self.negatives, str) else self.negatives
        object.__setattr__(self, "negatives", tuple(str(r) for r in negatives))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if self.input_size < 1:
            raise ValueError(f"input_size must be positive, got {self.input_size}")
        if self.resize not in RESIZES:
            raise ValueError(f"resize must be one of {RESIZES}, got {self.resize!r}")
        if self.resize == "fit":
            raise ValueError(
                "resize fit is for prediction only (personseg export --resize fit); "
                "train with letterbox or stretch"
            )
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be above 0 and below 1, got {self.val_fraction}")
        if self.augment not in AUGMENTS:
            raise ValueError(f"augment must be one of {AUGMENTS}, got {self.augment!r}")
        if not 0.0 <= self.paste_prob <= 1.0:
            raise ValueError(f"paste_prob must be in [0, 1], got {self.paste_prob}")
        if self.paste_prob > 0 and not self.cutouts:
            raise ValueError("paste_prob > 0 needs cutouts: a folder of RGBA people")
        if self.scenes > 0 and not self.backgrounds:
            raise ValueError("scenes > 0 needs backgrounds: a folder of photos without people")
        if self.scenes < 0 or self.backgrounds_holdout < 0:
            raise ValueError("scenes and backgrounds_holdout must be >= 0")
        if not 0.0 <= self.negatives_share < 1.0:
            raise ValueError(f"negatives_share must be in [0, 1), got {self.negatives_share}")
        if not 0.0 <= self.portrait_prob <= 1.0:
            raise ValueError(f"portrait_prob must be in [0, 1], got {self.portrait_prob}")
        if not 0.0 <= self.composite_portraits <= 1.0:
            raise ValueError(
                f"composite_portraits must be in [0, 1], got {self.composite_portraits}"
            )
        if self.composites < 0:
            raise ValueError(f"composites must be >= 0, got {self.composites}")
        if self.composite_portraits > 0 and self.composites == 0:
            raise ValueError("composite_portraits > 0 needs composites > 0")
        if self.composites > 0 and not (self.negatives or self.backgrounds):
            raise ValueError(
                "composites > 0 needs photos to paste people into: negatives or backgrounds"
            )
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError("mean and std need 3 values each, std > 0")


@dataclass(frozen=True)
class ModelConfig:
    """Which registered model to build, with its keyword arguments."""

    name: str = "unet"
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_types(self)
        if not isinstance(self.kwargs, dict):
            raise ValueError(f"model kwargs must be a mapping, got {self.kwargs!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs; saved as ``config.yaml`` beside its checkpoints."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    out: str = _flag("", "run directory (default runs/<date-time>)")
    epochs: int = _flag(50, "total epochs (default 50)", resume=True)
    batch_size: int = _flag(8, "images per step (default 8)")
    lr: float = _flag(1e-3, "learning rate (default 1e-3)")
    weight_decay: float = _flag(1e-4, "AdamW weight decay (default 1e-4)")
    min_lr_ratio: float = 0.01  # cosine schedule ends at lr * min_lr_ratio
    loss_alpha: float = 0.5  # CombinedLoss: alpha * BCE + (1 - alpha) * Dice
    patience: int = _flag(
        10,
        "early-stop after N epochs without a better val Dice; 0 disables (default 10)",
        resume=True,
    )
    threshold: float = 0.5
    seed: int = _flag(42, "random seed (default 42)")
    device: str = _flag("auto", "auto, cpu, cuda or cuda:N (default auto)", resume=True)
    precision: str = _flag(
        "auto",
        "auto (default): bf16 autocast where the CPU/GPU has it, else fp32",
        choices=PRECISIONS,
        resume=True,
    )
    channels_last: bool = True
    accumulate: int = _flag(
        1,
        "optimizer step every N batches (keep the global batch when the "
        "number of processes changes; default 1)",
        resume=True,
    )
    sync_bn: bool = _flag(False, "BatchNorm statistics over all processes", resume=True)
    init: str = _flag(
        "",
        "start from these weights (fine-tuning): a checkpoint, run dir, or 'default'",
        metavar="CKPT",
    )
    teacher: str = _flag(
        "",
        "distil: blend this model's probabilities into the training targets (every one, or "
        "the photos' with --distill-on photos; a checkpoint, run dir or 'default')",
        metavar="CKPT",
    )
    distill: float = _flag(0.5, "share of the training target taken from --teacher (0.5)")
    teacher_size: int = _flag(0, "input size the teacher sees (default: the training size)")
    distill_on: str = _flag(
        "all",
        "samples that take --teacher's share: all (default), or photos (the data roots' "
        "photos; scenes, composites and negatives keep their own masks)",
        choices=DISTILL_ON,
    )

    def __post_init__(self) -> None:
        if isinstance(self.data, dict):
            data = dict(self.data)
            if "img_size" in data:  # the name until 2026-11-26 (runs' config.yaml still use it)
                data.setdefault("input_size", data.pop("img_size"))
            object.__setattr__(self, "data", DataConfig(**_known(DataConfig, data)))
        if isinstance(self.model, dict):
            object.__setattr__(self, "model", ModelConfig(**_known(ModelConfig, self.model)))
        _check_types(self)
        for name in ("epochs", "batch_size", "accumulate"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not 0.0 <= self.loss_alpha <= 1.0:
            raise ValueError(f"loss_alpha must be in [0, 1], got {self.loss_alpha}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.patience < 0:
            raise ValueError(f"patience must be >= 0, got {self.patience}")
        if not 0.0 <= self.distill <= 1.0:
            raise ValueError(f"distill must be in [0, 1], got {self.distill}")
        if self.teacher_size < 0:
            raise ValueError(f"teacher_size must be >= 0, got {self.teacher_size}")
        if self.teacher_size and not self.teacher:
            raise ValueError("teacher_size needs teacher: the model to distil from")
        if self.distill_on not in DISTILL_ON:
            raise ValueError(f"distill_on must be one of {DISTILL_ON}, got {self.distill_on!r}")
        if self.distill_on != "all" and not self.teacher:
            raise ValueError("distill_on needs teacher: the model to distil from")
        if self.teacher and self.distill == 0:
            raise ValueError("distill 0 takes nothing from the teacher; raise it or drop teacher")
        self._check_input_size()

    def _check_input_size(self) -> None:
        """The training input size must suit the model (asked of its registered class)."""
        from personseg.models.registry import size_divisor  # models import torch: only here

        d, size = size_divisor(self.model.name), self.data.input_size
        if size < d or size % d:
            near = max(d, round(size / d) * d)
            raise ValueError(
                f"input_size must be a multiple of {d} for {self.model.name} (it halves the "
                f"input {d.bit_length() - 1} times); got {size}, try {near}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists, not tuples) for YAML and checkpoints."""
        return _plain(asdict(self))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        return cls(**_known(cls, values))

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark else ""
            raise ValueError(f"{path} is not valid YAML{where}: fix or regenerate it") from None
        if not isinstance(values, dict):
            raise ValueError(f"{path} must hold a YAML mapping of settings")
        return cls.from_dict(values)


SCALARS = {
    "int": (numbers.Integral,),
    "float": (numbers.Real,),
    "str": (str,),
    "bool": (bool,),
}


def _check_types(settings: Any) -> None:
    """Settings of a plain type (int, float, str, bool) hold one: ``epochs: "many"`` in a YAML
    file is one clear error, not a failure deep in training. An empty YAML value (None) means
    the setting's default; YAML reads ``1e-3`` (no dot) as text, which a float setting takes
    as the number; NaN and infinity are refused."""
    for f in fields(settings):
        value, kinds = getattr(settings, f.name), SCALARS.get(str(f.type))
        if kinds is None:
            continue
        if value is None and f.default is not MISSING:
            value = f.default
        elif f.type == "float" and isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value)
        if not isinstance(value, kinds) or (isinstance(value, bool) and f.type != "bool"):
            article = "an" if f.type == "int" else "a"
            raise ValueError(f"{f.name} must be {article} {f.type}, got {value!r}")
        if f.type == "float" and not math.isfinite(value):
            raise ValueError(f"{f.name} must be a finite number, got {value!r}")
        kind = {"int": int, "float": float, "bool": bool}.get(str(f.type))
        object.__setattr__(settings, f.name, kind(value) if kind else value)


def _known(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """Reject unknown keys with the list of valid ones (a typo should not pass silently)."""
    valid = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - valid)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} setting(s) {unknown}; valid: {sorted(valid)}")
    return dict(values)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
