"""Knowledge distillation: a trained model's probabilities as part of the training target, so
that a smaller network learns what a larger one sees (on every sample: photos, composites,
negatives; or, with ``distill_on: photos``, on the photos alone), after Hinton et al.,
"Distilling the Knowledge in a Neural Network" (2015)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from personseg.checkpoint import load_checkpoint, resolve_checkpoint
from personseg.config import TrainConfig
from personseg.device import Runtime


class Teacher:
    """Callable: a training batch ``(N, 3, S, S)``, normalised as the student was → the
    teacher's person probabilities ``(N, 1, S, S)`` float32 (seen at ``size`` when given)."""

    def __init__(
        self,
        model: torch.nn.Module,
        rt: Runtime,
        scale: Sequence[float],
        shift: Sequence[float],
        size: int = 0,
    ):
        self.model, self.rt, self.size = rt.prepare(model.eval()), rt, size
        for p in self.model.parameters():
            p.requires_grad_(False)
        view = (1, 3, 1, 1)
        self.scale = torch.tensor(scale, dtype=torch.float32, device=rt.device).view(view)
        self.shift = torch.tensor(shift, dtype=torch.float32, device=rt.device).view(view)

    @classmethod
    def load(cls, cfg: TrainConfig, rt: Runtime) -> Teacher:
        """The teacher ``cfg.teacher`` names, with the step from the student's input
        normalisation (``cfg.data``) to its own."""
        ckpt = load_checkpoint(resolve_checkpoint(cfg.teacher))
        spec, d = ckpt.spec, cfg.data
        try:  # the teacher sees teacher_size, else the training size
            spec.check_input_size(cfg.teacher_size or d.input_size)
        except ValueError as err:
            raise ValueError(f"the teacher {cfg.teacher}: {err} (teacher_size)") from None
        size = cfg.teacher_size
        # x_teacher = (x_student * std_s + mean_s - mean_t) / std_t
        scale = [s / t for s, t in zip(d.std, spec.std, strict=True)]
        shift = [(m - mt) / t for m, mt, t in zip(d.mean, spec.mean, spec.std, strict=True)]
        return cls(ckpt.model(), rt, scale, shift, size)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() * self.scale + self.shift
        side = images.shape[-2:]
        if self.size and tuple(side) != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        with self.rt.autocast():
            logits = self.model(x.contiguous(memory_format=self.rt.memory_format))
        prob = torch.sigmoid(logits.float())
        if prob.shape[-2:] != side:
            prob = F.interpolate(prob, size=side, mode="bilinear", align_corners=False)
        return prob
