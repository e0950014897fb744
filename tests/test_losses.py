import pytest
import torch
import torch.nn.functional as F

from personseg import CombinedLoss
from personseg.losses import soft_dice_loss


def test_alpha_one_is_plain_bce_and_zero_is_plain_dice():
    torch.manual_seed(0)
    logits = torch.randn(3, 1, 8, 8)
    target = (torch.rand(3, 1, 8, 8) > 0.5).float()
    assert CombinedLoss(1.0)(logits, target) == pytest.approx(
        F.binary_cross_entropy_with_logits(logits, target).item(), rel=1e-6
    )
    assert CombinedLoss(0.0)(logits, target) == pytest.approx(
        soft_dice_loss(logits, target).item(), rel=1e-6
    )


def test_soft_dice_by_hand():
    # probabilities 0.5 everywhere on a 2x2 image with one person pixel:
    # inter = 0.5, sum(p) = 2, sum(t) = 1 → dice = (2*0.5 + 1) / (2 + 1 + 1) = 0.5
    logits = torch.zeros(1, 1, 2, 2)
    target = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    assert soft_dice_loss(logits, target).item() == pytest.approx(0.5)


def test_confident_right_answer_scores_near_zero_and_wrong_answer_high():
    target = torch.zeros(2, 1, 16, 16)
    target[:, :, 4:12, 4:12] = 1
    right = (target * 2 - 1) * 20
    loss = CombinedLoss()
    assert loss(right, target).item() < 1e-3
    assert loss(-right, target).item() > 5


def test_gradient_reaches_logits():
    logits = torch.randn(1, 1, 8, 8, requires_grad=True)
    CombinedLoss()(logits, torch.ones(1, 1, 8, 8)).backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_alpha_out_of_range():
    with pytest.raises(ValueError):
        CombinedLoss(1.5)
