"""Distillation: a teacher's probabilities blended into every training target (--teacher)."""

from __future__ import annotations

import csv
import dataclasses
import re

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from personseg.checkpoint import Checkpoint, ModelSpec
from personseg.config import DataConfig, ModelConfig, TrainConfig
from personseg.device import Runtime
from personseg.engine import fit, train_one_epoch
from personseg.engine.distill import Teacher
from personseg.losses import CombinedLoss
from personseg.models import create_model

CPU = Runtime(torch.device("cpu"))


def _config(root, out, **kw) -> TrainConfig:
    return TrainConfig(
        data=DataConfig(
            roots=(str(root),),
            input_size=32,
            num_workers=0,
            val_fraction=0.25,
            mean=(0.5, 0.5, 0.5),
            std=(0.25, 0.25, 0.25),
        ),
        model=ModelConfig("unet-small", {"base_channels": 4}),
        out=str(out),
        epochs=1,
        batch_size=4,
        device="cpu",
        **kw,
    )


@pytest.fixture
def teacher_file(tmp_path):
    """A tiny unet-small checkpoint normalised with ImageNet's mean and std."""
    spec = ModelSpec("unet-small", {"base_channels": 4}, input_size=32)
    torch.manual_seed(0)
    path = tmp_path / "teacher.pt"
    Checkpoint(spec, create_model("unet-small", base_channels=4).state_dict()).save(path)
    return path


class Recorder(nn.Module):
    """Stands in for a teacher: remembers its input, answers logit 0 (probability 0.5)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = x.clone()
        return torch.zeros(x.shape[0], 1, *x.shape[-2:])


def test_the_teacher_sees_the_batch_in_its_own_normalisation_and_size(tiny_root, teacher_file):
    cfg = _config(tiny_root, "unused", teacher=str(teacher_file), teacher_size=64)
    teacher = Teacher.load(cfg, CPU)
    teacher.model = Recorder()
    raw = torch.rand(2, 3, 32, 32)  # pixels in [0, 1]
    student = (raw - 0.5) / 0.25  # as the student's loader normalises them
    prob = teacher(student)
    assert prob.shape == (2, 1, 32, 32) and torch.allclose(prob, torch.full_like(prob, 0.5))
    assert teacher.model.seen.shape == (2, 3, 64, 64)  # at --teacher-size
    imagenet_mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    imagenet_std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    # a flat grey batch stays flat when resized, so its teacher input is known exactly
    teacher(torch.full((1, 3, 32, 32), (0.7 - 0.5) / 0.25))
    expected = (0.7 - imagenet_mean) / imagenet_std
    assert torch.allclose(teacher.model.seen, expected.expand(1, 3, 64, 64), atol=1e-5)


def test_the_teacher_size_must_suit_the_teacher(tiny_root, teacher_file):
    cfg = _config(tiny_root, "unused", teacher=str(teacher_file), teacher_size=40)
    with pytest.raises(ValueError, match="input size must be a positive multiple of 16"):
        Teacher.load(cfg, CPU)
    with pytest.raises(ValueError, match="distill must be in"):
        _config(tiny_root, "unused", distill=1.5)
    with pytest.raises(ValueError, match="teacher_size needs teacher"):
        _config(tiny_root, "unused", teacher_size=64)
    with pytest.raises(ValueError, match="distill 0 takes nothing"):
        _config(tiny_root, "unused", teacher=str(teacher_file), distill=0.0)
    with pytest.raises(ValueError, match="distill_on needs teacher"):
        _config(tiny_root, "unused", distill_on="photos")
    with pytest.raises(ValueError, match="distill_on must be one of"):
        _config(tiny_root, "unused", teacher=str(teacher_file), distill_on="scenes")


@pytest.mark.parametrize("distill, learns_person", [(0.0, True), (1.0, False)])
def test_the_target_is_the_blend_of_mask_and_teacher(distill, learns_person):
    """Masks say person everywhere, the teacher says nobody: what the model learns follows
    the share of the target each one has."""
    torch.manual_seed(0)
    model = nn.Conv2d(3, 1, 1)  # enough to learn a constant answer
    images = torch.randn(4, 3, 16, 16)
    batches = [(images, torch.ones(4, 1, 16, 16), None)] * 40
    opt = torch.optim.Adam(model.parameters(), lr=0.1)

    def nobody(x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(x.shape[0], 1, *x.shape[-2:])

    train_one_epoch(model, batches, CombinedLoss(), opt, CPU, teacher=nobody, distill=distill)
    with torch.no_grad():
        marked = (torch.sigmoid(model(images)) > 0.5).float().mean().item()
    assert marked > 0.9 if learns_person else marked < 0.1


class TargetRecorder(nn.Module):
    """A loss that remembers each target it is given."""

    def __init__(self):
        super().__init__()
        self.targets: list[torch.Tensor] = []

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.targets.append(target.clone())
        return logits.mean()


def test_distill_below_gives_the_teacher_share_to_low_indices_only():
    """Samples 0-2 (the photos) blend mask and teacher; samples 3-5 keep their masks, and
    the teacher never sees them."""
    seen = []

    def nobody(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.shape[0])
        return torch.zeros(x.shape[0], 1, *x.shape[-2:])

    images = torch.randn(4, 3, 8, 8)
    batches = [
        (images, torch.ones(4, 1, 8, 8), torch.tensor([5, 0, 3, 2])),
        (images, torch.ones(4, 1, 8, 8), torch.tensor([4, 3, 5, 4])),  # no photo
    ]
    loss = TargetRecorder()
    model = nn.Conv2d(3, 1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    train_one_epoch(model, batches, loss, opt, CPU, teacher=nobody, distill=0.25, distill_below=3)
    first, second = (t[:, 0, 0, 0].tolist() for t in loss.targets)
    assert first == [1.0, 0.75, 1.0, 0.75] and second == [1.0] * 4
    assert seen == [2]  # only the two photos of the first batch


class ValidRecorder(TargetRecorder):
    """A loss that also remembers the valid-pixel weight."""

    def forward(self, logits, target, valid=None):
        self.valid = valid
        return super().forward(logits, target)


def test_distill_below_keeps_ignore_pixels_ignored_in_channels_last():
    """A photo's ignore pixels stay out of the loss (valid 0) whatever its blended target,
    and a channels_last runtime gives the same targets."""
    from personseg.losses import IGNORE_VALUE

    def nobody(x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(x.shape[0], 1, *x.shape[-2:])

    masks = torch.ones(2, 1, 8, 8)
    masks[0, 0, :2] = IGNORE_VALUE  # the photo's top rows are ignored
    batch = [(torch.randn(2, 3, 8, 8), masks, torch.tensor([0, 7]))]
    for rt in (CPU, Runtime(torch.device("cpu"), channels_last=True)):
        loss, model = ValidRecorder(), nn.Conv2d(3, 1, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.0)
        train_one_epoch(model, batch, loss, opt, rt, teacher=nobody, distill=0.5, distill_below=1)
        (target,) = loss.targets
        assert torch.equal(loss.valid[0, 0, :2], torch.zeros(2, 8))  # ignored
        assert torch.equal(loss.valid[0, 0, 2:], torch.ones(6, 8))
        assert torch.allclose(target[0, 0, 2:], torch.full((6, 8), 0.5))  # photo: blended
        assert torch.equal(target[1], torch.ones(1, 8, 8))  # not a photo: its mask


def test_concat_gives_each_sample_its_index_in_the_whole():
    from personseg.data.synth import Concat

    class Part(torch.utils.data.Dataset):
        def __init__(self, n: int):
            self.n = n

        def __len__(self) -> int:
            return self.n

        def __getitem__(self, i: int):
            return torch.zeros(1), torch.zeros(1), i  # its own index, as every part answers

    both = Concat([Part(3), Part(2)])
    assert [both[i][2] for i in range(5)] == [0, 1, 2, 3, 4]
    assert both[-1][2] == 4


def test_fit_with_a_teacher_records_it_and_trains(tiny_root, teacher_file, tmp_path, caplog):
    caplog.set_level("INFO", logger="personseg")
    out = tmp_path / "run"
    result = fit(_config(tiny_root, out, teacher=str(teacher_file), distill=0.3))
    assert f"distilling from {teacher_file} (30 % of each target)" in caplog.text
    saved = TrainConfig.load(out / "config.yaml")
    assert saved.teacher == str(teacher_file) and saved.distill == 0.3
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert result["epochs_run"] == 1 and float(rows[0]["train_loss"]) > 0


@pytest.mark.parametrize("distill_on", ["all", "photos"])
def test_fit_distils_on_photos_only_when_asked(
    tiny_root, teacher_file, tmp_path, caplog, monkeypatch, distill_on
):
    """The run hands the epoch loop the number of photos (the samples before the synthetic
    ones) as the limit, or no limit; and records the setting."""
    import personseg.engine.trainer as trainer

    limits = []

    def recording(*args, **kwargs):
        limits.append(kwargs["distill_below"])
        return real(*args, **kwargs)

    real = trainer.train_one_epoch
    monkeypatch.setattr(trainer, "train_one_epoch", recording)
    caplog.set_level("INFO", logger="personseg")
    out = tmp_path / "run"
    cfg = _config(tiny_root, out, teacher=str(teacher_file), distill_on=distill_on)
    backgrounds = tmp_path / "backgrounds"
    backgrounds.mkdir()
    for i in range(2):  # person-free photos, so the epoch also holds synthetic samples
        cv2.imwrite(str(backgrounds / f"bg{i}.jpg"), np.full((40, 48, 3), 60 * i, np.uint8))
    data = dataclasses.replace(cfg.data, scenes=2, backgrounds=str(backgrounds))
    cfg = dataclasses.replace(cfg, data=data)
    fit(cfg)
    photos = int(re.search(r"data: (\d+) training", caplog.text).group(1))
    assert limits == ([photos] if distill_on == "photos" else [None])
    which = "each photo's target" if distill_on == "photos" else "each target"
    assert f"(50 % of {which})" in caplog.text
    assert TrainConfig.load(out / "config.yaml").distill_on == distill_on
