"""Photos with nobody in them as training data: negatives roots, composites beside the
subject, portrait framings, and their place in the config, the CLI and ``fit``."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import TINY_TRAIN, run, write_root
from test_synth import write_cutouts

from personseg.config import DataConfig, TrainConfig
from personseg.data import SegmentationDataset, check_negatives, train_transform
from personseg.data.dataset import find_pairs
from personseg.data.splits import negative_split
from personseg.data.synth import (
    PeopleSource,
    PersonFreeDataset,
    PortraitCrop,
    load_cutouts,
    paste_beside_subject,
    paste_portrait,
    person_cutout,
    portrait_crop,
)


def write_negatives(root: Path, n: int = 6, split: bool = True, nested: bool = True) -> Path:
    """``n`` photos with nobody in them: a bright square 'subject' in the middle."""
    folder = root / "images" if nested else root
    folder.mkdir(parents=True)
    for i in range(n):
        photo = np.full((40, 56, 3), 30 + 10 * i, np.uint8)
        photo[12:28, 20:36] = 220
        cv2.imwrite(str(folder / f"neg{i}.jpg"), photo)
    if split:
        (root / "train.txt").write_text("\n".join(f"neg{i}" for i in range(n - 2)) + "\n")
        (root / "val.txt").write_text(f"neg{n - 2}\nneg{n - 1}\n")
    return root


def standing_person(h: int = 120, w: int = 80) -> tuple[np.ndarray, np.ndarray]:
    image = np.zeros((h, w, 3), np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[10:110, 30:50] = 1  # 100 px high, 20 wide: a standing person
    image[mask > 0] = 200
    return image, mask


def test_negative_splits_follow_the_split_files(tmp_path):
    root = write_negatives(tmp_path / "neg")
    assert [p.stem for p in negative_split(root, "train")] == [f"neg{i}" for i in range(4)]
    assert [p.stem for p in negative_split(root, "val")] == ["neg4", "neg5"]
    (root / "train.txt").unlink()  # only val.txt: the rest is for training
    assert [p.stem for p in negative_split(root, "train")] == [f"neg{i}" for i in range(4)]
    flat = write_negatives(tmp_path / "flat", split=False, nested=False)
    assert len(negative_split(flat, "train")) == 6 and negative_split(flat, "val") == []


def test_negative_split_naming_a_missing_photo_is_a_clear_error(tmp_path):
    root = write_negatives(tmp_path / "neg")
    (root / "val.txt").write_text("neg4\nnobody\n")
    with pytest.raises(ValueError, match=r"names 1 photo\(s\) that are not in"):
        negative_split(root, "val")


def test_data_check_reports_a_negatives_root(tmp_path):
    root = write_negatives(tmp_path / "neg")
    (root / "images" / "broken.jpg").write_bytes(b"not a jpeg")
    report = check_negatives(root)
    text = report.format()
    assert "photos: 7" in text and "train.txt: 4 ids" in text and "val.txt: 2 ids" in text
    assert not report.ok and "1 unreadable photo(s): broken.jpg" in text
    proc = run("data", "check", "--negatives", str(root), check=False)
    assert proc.returncode == 1 and "unreadable photo" in proc.stdout
    (root / "images" / "broken.jpg").unlink()
    assert run("data", "check", "--negatives", str(root)).returncode == 0
    missing = run("data", "check", "--negatives", str(tmp_path / "none"), check=False)
    assert missing.returncode == 1 and "negatives folder not found" in missing.stdout


def test_composites_put_people_beside_the_centre_and_only_them_in_the_mask():
    person = np.zeros((40, 16, 4), np.uint8)
    person[..., 1] = 255
    person[..., 3] = 255
    image = np.zeros((100, 200, 3), np.uint8)
    mask = np.zeros((100, 200), np.uint8)
    for seed in range(20):
        out, out_mask = paste_beside_subject(image, mask, [person], rng=random.Random(seed))
        cols = np.nonzero(out_mask.any(axis=0))[0]
        centre = (cols.min() + cols.max() + 1) / 2
        assert 0.1 * 200 <= abs(centre - 100) <= 0.4 * 200  # beside the middle, not on it
        assert np.array_equal(out[..., 1] > 0, out_mask > 0)
    assert mask.sum() == 0 and image.sum() == 0  # inputs untouched


def test_portrait_composites_frame_the_top_of_one_person_cut_by_the_bottom_edge():
    person = np.zeros((110, 30, 4), np.uint8)  # a 100 x 20 body in a transparent margin
    person[5:105, 5:25, 3] = 255
    person[5:105, 5:25, 1] = np.arange(100, dtype=np.uint8)[:, None] + 1  # row number, 1-100
    person[5:105, 5:15, 0] = 255  # its left half is red: tells a flip
    image = np.zeros((120, 160, 3), np.uint8)
    mask = np.zeros((120, 160), np.uint8)
    red_left = set()
    for seed in range(20):
        out, out_mask = paste_portrait(image, mask, person, rng=random.Random(seed))
        rows = np.nonzero(out_mask.any(axis=1))[0]
        assert rows.max() == 119  # cut by the bottom edge
        assert 0.6 * 120 - 1 <= len(rows) <= 120  # the body, not its margin: 60-100 % high
        assert out[rows.min(), :, 1].max() <= 3  # the top of the head at the top
        assert out[119, :, 1].max() <= 61  # only the top 20-60 % of the person is shown
        assert np.array_equal(out[..., 1] > 0, out_mask > 0)
        cols = np.nonzero(out_mask[-1])[0]
        red_left.add(bool(out[-1, cols[0], 0] > 127))
    assert red_left == {True, False}  # flipped about half the time
    assert mask.sum() == 0 and image.sum() == 0  # inputs untouched
    wide = np.zeros((40, 80, 4), np.uint8)  # already a portrait, wider than high
    wide[..., 3] = 255
    wide[..., 1] = np.arange(40, dtype=np.uint8)[:, None] + 1  # row number, 1-40
    wide[..., 0] = np.arange(80, dtype=np.uint8)[None, :] * 3 + 1  # column number
    for seed in range(20):
        out, out_mask = paste_portrait(image, mask, wide, rng=random.Random(seed))
        h = out_mask.any(axis=1).sum()
        assert out[119, out_mask[119] > 0, 1].max() >= 39  # kept whole, down to its last row
        cols = np.nonzero(out_mask[119])[0]
        span = (int(out[119, cols, 0].max()) - int(out[119, cols, 0].min())) / 3
        assert abs(span - len(cols) * 40 / h) <= 2  # as wide as its height says: no squeeze
    empty = np.zeros_like(person)  # nobody in the cut-out: the photo as it was
    out, out_mask = paste_portrait(image, mask, empty, rng=random.Random(0))
    assert out_mask.sum() == 0 and np.array_equal(out, image)


def test_portrait_of_a_standing_person_keeps_the_top_at_its_own_width():
    person = np.zeros((200, 60, 4), np.uint8)  # a body 20 wide whose legs stride 60 wide
    person[:, :20, 3] = 255
    person[150:, :, 3] = 255
    person[:, :20, 0] = np.arange(20, dtype=np.uint8)[None, :] * 12 + 1  # column number
    image = np.zeros((120, 160, 3), np.uint8)
    mask = np.zeros((120, 160), np.uint8)
    for seed in range(20):
        out, out_mask = paste_portrait(image, mask, person, rng=random.Random(seed))
        cols = np.nonzero(out_mask[119])[0]
        centre = (cols.min() + cols.max() + 1) / 2
        assert 0.2 * 160 - 1 <= centre <= 0.8 * 160 + 1  # the kept top, not its old box, placed
        ends = sorted((int(out[119, cols[0], 0]), int(out[119, cols[-1], 0])))
        assert ends[0] <= 13 and ends[1] >= 217  # both of its sides in the photo: none cut off


def test_person_cutout_is_the_masks_box_with_the_mask_as_alpha():
    image, mask = standing_person()
    rgba = person_cutout(image, mask)
    assert rgba.shape == (100, 20, 4)
    assert (rgba[2:-2, 2:-2, 3] == 255).all() and (rgba[..., :3] == 200).all()
    assert person_cutout(image, np.zeros_like(mask)) is None


def test_portrait_crop_is_the_top_of_a_standing_person():
    image, mask = standing_person()
    for seed in range(20):
        crop_image, crop_mask = portrait_crop(image, mask, random.Random(seed))
        h, w = crop_mask.shape
        assert 25 <= h <= 10 + 50 and crop_image.shape[:2] == (h, w)
        assert crop_mask.any(axis=1)[-1]  # the person goes on below the crop
        assert 0.8 * h - 1 <= w <= 1.6 * h + 1 or w == image.shape[1]
    wide = np.zeros_like(mask)
    wide[30:90, 10:70] = 1  # already a portrait: left alone
    assert portrait_crop(image, wide) is None
    assert PortraitCrop(1.0)(image, wide)[1] is wide


def test_person_free_samples_are_empty_or_hold_training_people(tmp_path):
    root = write_root(tmp_path / "data", n=4, size=(64, 48))
    photos = SegmentationDataset(find_pairs(root)[0], transform=None)  # pair() only
    scenes = [np.full((40, 56, 3), 60, np.uint8)] * 3
    tf = train_transform(32, augment="seed")
    empty = PersonFreeDataset(scenes, tf, length=5)
    assert len(empty) == 5 and all(float(empty[i][1].sum()) == 0 for i in range(5))
    random.seed(0)
    people = PeopleSource(photos, load_cutouts(write_cutouts(tmp_path / "people")))
    full = PersonFreeDataset(scenes, tf, length=5, people=people)
    assert all(float(full[i][1].sum()) > 0 for i in range(5))
    random.seed(5)  # without portraits, the draws of a seed are what they were before them
    ref = paste_beside_subject(
        scenes[0], np.zeros((40, 56), np.uint8), [people() for _ in range(random.randint(1, 3))]
    )
    random.seed(5)
    got = PersonFreeDataset(scenes, None, length=5, people=people).compose(scenes[0])
    assert all(np.array_equal(a, b) for a, b in zip(ref, got, strict=True))
    framed = PersonFreeDataset(scenes, None, length=5, people=people, portraits=1.0)
    for _ in range(5):  # one person, cut by the bottom edge
        _, mask = framed.compose(scenes[0])
        assert mask[-1].any() and mask.any(axis=1).sum() >= 0.6 * mask.shape[0] - 1


@pytest.mark.parametrize(
    ("columns", "flagged", "marked"),
    [(0, 0.0, 0.0), (32, 1.0, 1.0), (16, 1.0, 0.5), (1, 1.0, 1 / 32), (0.25, 0.0, 1 / 128)],
)
def test_false_positives_counts_photos_with_marked_pixels(tmp_path, columns, flagged, marked):
    """A stand-in model marks the first ``columns`` columns of a 32×32 input (0.25: a quarter
    of the first column, 0.78 % of the pixels: under the 1 % limit)."""
    import torch

    from personseg.data.synth import NegativeDataset
    from personseg.device import Runtime
    from personseg.engine.loop import false_positives

    class Columns(torch.nn.Module):
        def forward(self, x):
            logits = torch.full_like(x[:, :1], -10.0)
            logits[..., : int(columns)] = 10.0
            if columns == 0.25:
                logits[..., :8, 0] = 10.0
            return logits

    neg = write_negatives(tmp_path / "neg")
    ds = NegativeDataset(negative_split(neg, "val"), train_transform(32, augment="seed"))
    loader = torch.utils.data.DataLoader(ds, batch_size=2)
    rt = Runtime.create("cpu", "fp32", False)
    result = false_positives(Columns(), loader, rt)
    assert result["flagged"] == flagged and result["marked"] == pytest.approx(marked)


def test_training_set_holds_each_part_with_its_share(tmp_path):
    from personseg.engine.loaders import training_set

    root = write_root(tmp_path / "data", n=8, size=(48, 40))
    neg = write_negatives(tmp_path / "neg", n=6)
    d = DataConfig(
        roots=(str(root),),
        input_size=32,
        negatives=(str(neg),),
        negatives_share=0.25,
        composites=4,
        cutouts=str(write_cutouts(tmp_path / "people")),
        backgrounds=str(neg / "images"),
        scenes=3,
    )
    ds, n_photos = training_set(d, find_pairs(root)[0], train_transform(32, augment="seed"), None)
    photos, scenes, composites, negatives = (len(p) for p in ds.datasets)
    assert (photos, scenes, composites) == (8, 3, 4) and n_photos == 8  # the photos come first
    assert negatives == 5  # 0.25 of the epoch: 5 of 8 + 3 + 4 + 5 = 20
    masks = [float(ds[i][1].sum()) for i in range(len(ds))]
    assert all(m > 0 for m in masks[11:15])  # composites always hold people
    assert all(m == 0 for m in masks[15:])  # negatives never do
    assert [ds[i][2] for i in range(len(ds))] == list(range(20))  # indices in the whole
    # no decode cache (None), yet the 56 px wide negatives are held shrunk to its 1.25 × 32 px
    assert {max(im.shape[:2]) for im in ds.datasets[3].images} == {40}


def test_negatives_in_both_splits_and_a_plain_string_in_yaml(tmp_path):
    root = write_negatives(tmp_path / "neg")
    (root / "val.txt").write_text("neg0\n")  # also in train.txt
    with pytest.raises(ValueError, match=r"in both train\.txt and val\.txt"):
        negative_split(root, "train")
    path = tmp_path / "run.yaml"
    path.write_text(f"data:\n  negatives: {root}\n")
    assert TrainConfig.load(path).data.negatives == (str(root),)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"composites": 5}, "composites > 0 needs"),
        ({"negatives_share": 1.0}, "negatives_share must be in"),
        ({"portrait_prob": 1.5}, "portrait_prob must be in"),
        ({"composite_portraits": -0.1}, "composite_portraits must be in"),
        ({"composite_portraits": 0.5}, "composite_portraits > 0 needs composites"),
    ],
)
def test_config_checks_the_new_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DataConfig(**kwargs)


def test_train_with_negatives_composites_and_portraits(tmp_path):
    """The CLI flags reach the config; each epoch reports the negatives' val false
    positives; resuming keeps them."""
    root = write_root(tmp_path / "data", n=8, size=(48, 40), splits=True)
    neg = write_negatives(tmp_path / "neg")
    out = tmp_path / "run"
    proc = run(
        "train",
        *("--data", str(root), "--negatives", str(neg), "--negatives-share", "0.4"),
        *("--composites", "4", "--composite-portraits", "0.5", "--portrait-prob", "0.5"),
        *("--epochs", "1", "--batch-size", "4"),
        *TINY_TRAIN,
        *("--out", str(out)),
    )
    assert "4 composites (portraits 50 %)" in proc.stderr + proc.stdout
    cfg = TrainConfig.load(out / "config.yaml")
    assert cfg.data.negatives == (str(neg),) and cfg.data.composites == 4
    assert cfg.data.portrait_prob == 0.5 and cfg.data.negatives_share == 0.4
    assert cfg.data.composite_portraits == 0.5
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert float(rows[0]["val_neg_flagged"]) in (0.0, 0.5, 1.0)  # of two val negatives
    refused = run("train", "--resume", str(out), "--negatives", str(neg), check=False)
    assert refused.returncode != 0 and "--negatives" in refused.stderr


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "configs").glob("*.yaml")))
def test_shipped_config_files_are_valid(path):
    cfg = TrainConfig.load(path)
    if path.stem == "person-default":  # the bundled model's recipe: negatives and composites
        assert cfg.data.negatives and cfg.data.composites > 0 and cfg.init


def test_composites_without_any_person_are_a_clear_error(tmp_path):
    root = write_root(tmp_path / "data", n=3, size=(48, 40))
    for mask in (root / "masks").iterdir():
        cv2.imwrite(str(mask), np.zeros((48, 40), np.uint8))
    people = PeopleSource(SegmentationDataset(find_pairs(root)[0], transform=None))
    with pytest.raises(ValueError, match="composites need people"):
        people()
