"""``--subject main`` and ``--min-area``: which person regions a map keeps (the rule in
personseg.inference.subject), on drawn maps, through the Segmenter, in video and the CLI."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import run

from personseg.checkpoint import ModelSpec
from personseg.inference import Segmenter
from personseg.inference.subject import SubjectFilter


def scene(*boxes: tuple[int, int, int, int], shape=(120, 200), p: float = 0.9) -> np.ndarray:
    """A probability map with ``p`` inside each (top, bottom, left, right) box, soft-edged."""
    prob = np.zeros(shape, np.float32)
    for top, bottom, left, right in boxes:
        prob[top:bottom, left:right] = p
    return cv2.GaussianBlur(prob, (3, 3), 0)


CENTRE, BYSTANDER = (20, 115, 85, 125), (40, 115, 0, 18)
HAND, SPECK = (60, 70, 128, 133), (5, 8, 160, 163)  # 3 px from CENTRE; 9 pixels


def kept(prob: np.ndarray, box) -> bool:
    top, bottom, left, right = box
    return prob[(top + bottom) // 2, (left + right) // 2] > 0.5


def test_main_keeps_the_central_person_and_what_touches_it_and_drops_the_rest():
    prob = scene(CENTRE, BYSTANDER, HAND, SPECK)
    out = SubjectFilter("main")(prob)
    assert kept(out, CENTRE) and kept(out, HAND)
    assert not kept(out, BYSTANDER) and not kept(out, SPECK)
    # the bystander's soft edge goes with it; the subject's stays as it was
    assert out[:, :25].max() == 0
    top, bottom, left, right = CENTRE
    window = np.s_[top:bottom, left - 2 : right]
    np.testing.assert_array_equal(out[window], prob[window])


def test_main_keeps_every_person_of_a_group_photo():
    """Three people of about the same size and place weigh alike: all are the subject."""
    group = [(20, 115, 40, 70), (25, 115, 85, 115), (20, 115, 130, 160)]
    out = SubjectFilter("main")(scene(*group))
    assert all(kept(out, box) for box in group)
    # with a threshold of peers above what the side ones score, only the middle one stays
    out = SubjectFilter("main", peers=1.0)(scene(*group))
    assert [kept(out, box) for box in group] == [False, True, False]


def test_all_with_min_area_drops_only_specks_and_all_alone_changes_nothing():
    prob = scene(CENTRE, BYSTANDER, SPECK)
    out = SubjectFilter("all", min_area=0.001)(prob)  # 0.1 % of 24,000 pixels: 24
    assert kept(out, CENTRE) and kept(out, BYSTANDER) and not kept(out, SPECK)
    assert SubjectFilter("all")(prob) is prob


def test_main_on_a_map_with_nobody_is_empty():
    faint = np.full((50, 60), 0.4, np.float32)  # below the threshold everywhere
    assert SubjectFilter("main")(faint).max() == 0
    assert SubjectFilter("main")(np.zeros((50, 60), np.float32)).max() == 0


def test_tracking_keeps_the_same_person_when_another_outgrows_them():
    """Frame 1: A in the middle, B small at the side. Frame 2: A walks off to the left and
    shrinks, B comes forward and is now the larger: a photo would pick B, a video keeps A."""
    a1, b1 = (20, 115, 80, 120), (70, 115, 170, 185)
    a2, b2 = (50, 110, 78, 92), (10, 118, 105, 185)
    tracked = SubjectFilter("main", track=True)
    first = tracked(scene(a1, b1))
    assert kept(first, a1) and not kept(first, b1)
    second = tracked(scene(a2, b2))
    assert kept(second, a2)
    assert not kept(SubjectFilter("main")(scene(a2, b2)), a2)
    tracked.reset()
    assert not kept(tracked(scene(a2, b2)), a2)


@pytest.mark.parametrize("bad", [("everyone", 0.0), ("main", 1.0), ("main", -0.1)])
def test_bad_settings_say_what_is_allowed(bad):
    with pytest.raises(ValueError, match=r"subject must be one of|min-area is a share"):
        SubjectFilter(*bad)


def _bright_is_person(batch: np.ndarray) -> np.ndarray:
    """Logits (N, 1, H, W): +8 where the normalised red channel is bright, else -8."""
    return np.where(batch[:, :1] > 0, 8.0, -8.0).astype(np.float32)


def _photo() -> np.ndarray:
    image = np.full((120, 200, 3), 30, np.uint8)
    for top, bottom, left, right in (CENTRE, BYSTANDER):
        image[top:bottom, left:right] = 220
    return image


@pytest.mark.parametrize("refine", ["guided", "none"])
def test_the_segmenter_keeps_the_main_subject_at_the_photos_size(refine):
    spec = ModelSpec("unet", input_size=96, resize="stretch", mean=(0.5,) * 3, std=(0.5,) * 3)
    image = _photo()
    every = Segmenter(_bright_is_person, spec, refine=refine).predict(image)
    main = Segmenter(_bright_is_person, spec, refine=refine, subject="main").predict(image)
    assert main.shape == every.shape == (120, 200)
    assert kept(every, BYSTANDER) and kept(every, CENTRE)
    assert not kept(main, BYSTANDER) and kept(main, CENTRE)
    assert np.abs(main[:, 60:] - every[:, 60:]).max() < 1e-3  # the subject's side untouched


def test_subject_flags_are_checked_before_any_model_loads(tmp_path):
    cv2.imwrite(str(tmp_path / "two.png"), _photo())
    proc = run("predict", str(tmp_path / "two.png"), "--subject", "some", check=False)
    assert proc.returncode == 2 and "invalid choice: 'some'" in proc.stderr
    proc = run("predict", str(tmp_path / "two.png"), "--min-area", "2", check=False)
    assert proc.returncode == 2 and "must be at least 0 and below 1" in proc.stderr


@pytest.mark.slow
@pytest.mark.realdata
def test_predict_subject_main_leaves_a_bystander_at_the_edge_out(tmp_path, shared_data):
    """A real ccp val photo with a person of people_rgba pasted at its left edge, smaller:
    the bundled model marks both; ``--subject main`` writes the photo's own person only."""
    stem = (shared_data / "ccp" / "val.txt").read_text().split()[0]
    photo = cv2.imread(str(shared_data / "ccp" / "images" / f"{stem}.jpg"))
    truth = cv2.imread(str(shared_data / "ccp" / "masks" / f"{stem}.png"), 0) > 127
    rgba = cv2.imread(str(sorted((shared_data / "people_rgba").glob("*.png"))[0]), -1)
    h = photo.shape[0] // 2
    rgba = cv2.resize(rgba, (round(rgba.shape[1] * h / rgba.shape[0]), h))
    w = rgba.shape[1]
    a = rgba[..., 3:] / 255
    region = photo[-h:, :w]
    photo[-h:, :w] = (a * rgba[..., :3] + (1 - a) * region).astype(np.uint8)
    truth[-h:, :w] &= a[..., 0] < 0.5
    bystander = np.zeros_like(truth)
    bystander[-h:, :w] = a[..., 0] > 0.5
    cv2.imwrite(str(tmp_path / "photo.png"), photo)
    masks = {}
    for subject in ("all", "main"):
        out = tmp_path / subject
        run("predict", str(tmp_path / "photo.png"), "--out", str(out), "--subject", subject)
        masks[subject] = cv2.imread(str(next(out.glob("*.png"))), 0) > 127
    assert masks["all"][bystander].mean() > 0.5  # the model does find the pasted person
    assert masks["main"][bystander].mean() < 0.02
    inter = (masks["main"] & truth).sum()
    assert inter / (masks["main"] | truth).sum() > 0.85  # the photo's person is all kept
