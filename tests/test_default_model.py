"""The bundled default model: the demo, the cut-out CLI, and its quality on a few real photos."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from conftest import REPO, run, val_mean_iou

from personseg.checkpoint import bundled_checkpoint, load_checkpoint
from personseg.data import load_image
from personseg.data.splits import negative_split
from personseg.data.synth import background_files
from personseg.inference.run import sample_image


def test_bundled_weights_are_small_and_load_with_weights_only():
    path = bundled_checkpoint()
    assert path.stat().st_size <= 25 * 2**20
    ckpt = load_checkpoint(path)  # torch.load(weights_only=True) inside
    assert ckpt.spec.name == "unet-efficientnet-lite0"
    # shipped for prediction at about 448² pixels shaped like the photo (MODEL_CARD.md)
    assert (ckpt.spec.input_size, ckpt.spec.resize) == (448, "fit")


def test_demo_writes_four_pictures_of_the_sample_photo(tmp_path):
    proc = run("demo", "--out", str(tmp_path / "demo"), cwd=tmp_path)
    h, w = load_image(sample_image()).shape[:2]
    names = ["mask", "overlay", "cutout", "blur"]
    for name in names:
        path = tmp_path / "demo" / f"grace_hopper_{name}.png"
        assert str(path) in proc.stdout
        arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert arr.shape[:2] == (h, w)
    assert " ms " in proc.stdout
    mask = cv2.imread(str(tmp_path / "demo" / "grace_hopper_mask.png"), cv2.IMREAD_GRAYSCALE)
    # a portrait: the person fills a good part of the picture, not all of it
    assert 0.25 < (mask > 127).mean() < 0.9
    assert cv2.imread(str(tmp_path / "demo" / "grace_hopper_cutout.png"), -1).shape[2] == 4


@pytest.mark.realdata
def test_predict_cutout_gives_an_rgba_png_of_the_photo_size(shared_data, tmp_path):
    photo = shared_data / "humanseg290" / "images" / "1.jpg"
    run("predict", str(photo), "--effect", "cutout", "--out", str(tmp_path / "out"), cwd=REPO)
    rgba = cv2.imread(str(tmp_path / "out" / "1_cutout.png"), cv2.IMREAD_UNCHANGED)
    assert rgba.shape == (*load_image(photo).shape[:2], 4)
    alpha = rgba[..., 3]
    assert (alpha == 0).any() and (alpha == 255).any()


@pytest.mark.realdata
@pytest.mark.parametrize(("name", "floor"), [("ccp", 0.9), ("humanseg290", 0.8)])
def test_default_model_segments_real_validation_photos(shared_data, default_segmenter, name, floor):
    """A floor well under the measured figures (MODEL_CARD.md) on the first 12 val photos: a
    broken model, weights file or preprocessing falls far below it."""
    assert val_mean_iou(default_segmenter, shared_data / name, 12) > floor


@pytest.mark.realdata
def test_default_model_marks_almost_nothing_on_held_out_empty_photos(
    shared_data, default_segmenter
):
    _, held = background_files(shared_data / "backgrounds", holdout=20)
    marked = [float((default_segmenter.predict(load_image(f)) > 0.5).mean()) for f in held]
    assert np.mean(marked) < 0.02


def test_demo_photo_person_and_less_of_the_flag_behind_her(default_segmenter):
    """The README's demo photo against a person outline drawn by hand
    (benchmarks/data/grace_hopper_person.json). The default before hard negatives scored IoU
    0.78 with 62 % of the flag marked; the current one 0.89 with 20 % (MODEL_CARD.md). The
    floors sit between the two."""
    polygon = json.loads((REPO / "benchmarks/data/grace_hopper_person.json").read_text())
    image = load_image(sample_image())
    truth = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(truth, [np.array(polygon["polygon_xy"], np.int32)], 1)
    pred = default_segmenter.predict(image) > default_segmenter.threshold
    inter, union = (pred & (truth > 0)).sum(), (pred | (truth > 0)).sum()
    assert inter / union >= 0.85
    flag = np.zeros_like(pred)
    flag[:, :240] = True  # the flag is left of x = 240, the sky right of it
    assert pred[flag & (truth == 0)].mean() < 0.35


@pytest.mark.realdata
def test_default_model_leaves_the_subject_of_person_free_photos_alone(
    shared_data, default_segmenter
):
    """objects/val.txt: animals, food, tools, vehicles and nobody. The default before hard
    negatives marked more than 1 % of the pixels in 178 of 210 (85 %); on the first 40 val
    photos the current model must stay far below that."""
    files = negative_split(shared_data / "objects", "val")[:40]
    marked = [float((default_segmenter.predict(load_image(f)) > 0.5).mean()) for f in files]
    assert sum(m > 0.01 for m in marked) <= 4
