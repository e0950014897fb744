import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from personseg import dice_coefficient, evaluate_metrics, iou_score
from personseg.metrics import MetricAccumulator, boundary_counts, scores_from_counts

masks = arrays(np.bool_, st.tuples(st.integers(1, 3), st.integers(4, 12), st.integers(4, 12)))


@settings(max_examples=60, deadline=None)
@given(masks)
def test_identical_masks_score_one(m):
    out = evaluate_metrics(m, m)
    for key in ("dice", "iou", "precision", "recall", "accuracy", "boundary_f1"):
        assert out[f"mean_{key}"] == pytest.approx(1.0)
        assert out[f"pooled_{key}"] == pytest.approx(1.0)


@settings(max_examples=60, deadline=None)
@given(masks)
def test_complement_scores_zero(m):
    # every pixel is in exactly one of the two masks, so no image is empty in both
    assert dice_coefficient(m, ~m) == 0.0
    assert iou_score(m, ~m) == 0.0


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_symmetric_and_dice_iou_relation(data):
    a = data.draw(masks)
    b = data.draw(arrays(np.bool_, a.shape))
    assert dice_coefficient(a, b) == pytest.approx(dice_coefficient(b, a))
    assert iou_score(a, b) == pytest.approx(iou_score(b, a))
    acc = MetricAccumulator()
    acc.update(a, b)
    for row in acc.per_image():
        assert row["dice"] == pytest.approx(2 * row["iou"] / (1 + row["iou"]))
        assert 0 <= row["iou"] <= row["dice"] <= 1


def test_both_empty_scores_one_one_empty_scores_zero():
    empty = np.zeros((1, 8, 8), bool)
    full = np.ones((1, 8, 8), bool)
    assert dice_coefficient(empty, empty) == 1.0
    assert iou_score(empty, empty) == 1.0
    assert dice_coefficient(full, empty) == 0.0
    assert iou_score(empty, full) == 0.0


def test_hand_computed_example_and_threshold():
    # 4x4: truth has 4 pixels; prediction (prob 0.9) covers 2 of them and 2 others.
    truth = np.zeros((4, 4), bool)
    truth[0, :] = True
    prob = np.zeros((4, 4), np.float32)
    prob[0, :2] = 0.9
    prob[1, :2] = 0.9
    prob[3, 3] = 0.4  # below the threshold
    out = evaluate_metrics(torch.from_numpy(prob)[None, None], truth[None, None])
    assert out["mean_dice"] == pytest.approx(2 * 2 / (4 + 4))
    assert out["mean_iou"] == pytest.approx(2 / 6)
    assert out["mean_precision"] == pytest.approx(0.5)
    assert out["mean_recall"] == pytest.approx(0.5)
    assert not {"dice", "iou", "precision", "recall", "boundary_f1"} & set(out)  # one name each
    assert out["mean_accuracy"] == pytest.approx(12 / 16)
    assert evaluate_metrics(prob[None], truth[None], threshold=0.3)["mean_iou"] == pytest.approx(
        2 / 7
    )


def test_pooled_differs_from_mean_as_documented():
    # image 1: big person found entirely; image 2: tiny person missed.
    truth = np.zeros((2, 10, 10), bool)
    truth[0, :, :5] = True  # 50 px
    truth[1, 0, 0] = True  # 1 px
    pred = truth.copy()
    pred[1, 0, 0] = False
    out = evaluate_metrics(pred, truth)
    assert out["mean_iou"] == pytest.approx(0.5)  # (1 + 0) / 2
    assert out["pooled_iou"] == pytest.approx(50 / 51)


def square(offset: int) -> np.ndarray:
    m = np.zeros((40, 40), bool)
    m[10 + offset : 30 + offset, 10:30] = True
    return m


def test_boundary_f1_tolerance():
    near = scores_from_counts(np.r_[np.zeros(4), boundary_counts(square(2), square(0), 3)])
    far = scores_from_counts(np.r_[np.zeros(4), boundary_counts(square(6), square(0), 3)])
    # shifted by 6 rows (> 3 px), the top and bottom edges no longer match; only parts of the
    # side columns do, so the F1 falls well below 1
    assert near["boundary_f1"] == pytest.approx(1.0)
    assert 0.0 < far["boundary_f1"] < 0.7


def test_accumulator_in_parts_equals_one_shot():
    rng = np.random.default_rng(0)
    a, b = rng.random((6, 16, 16)) > 0.5, rng.random((6, 16, 16)) > 0.5
    acc = MetricAccumulator()
    acc.update(a[:4], b[:4])
    acc.update(a[4:], b[4:])
    whole = evaluate_metrics(a, b)
    for k, v in acc.compute().items():
        assert whole[k] == pytest.approx(v)
    with pytest.raises(ValueError):
        MetricAccumulator().compute()
