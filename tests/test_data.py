from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import write_root
from PIL import Image

from personseg.data import (
    SegmentationDataset,
    check_data,
    eval_transform,
    find_pairs,
    letterbox,
    load_image,
    load_mask,
    load_pair,
    split_roots,
    train_transform,
    unletterbox,
)
from personseg.data.splits import evaluation_samples, load_root, split_samples

TRUTH = np.zeros((20, 30), np.uint8)
TRUTH[5:15, 10:25] = 1


def save(path: Path, arr: np.ndarray, mode: str | None = None) -> Path:
    Image.fromarray(arr, mode).save(path) if mode else Image.fromarray(arr).save(path)
    return path


@pytest.mark.parametrize(
    "kind",
    ["0/255", "0/1", "labels", "palette", "rgba", "16-bit", "soft", "colour"],
)
def test_mask_formats_all_read_as_the_same_person(tmp_path, kind):
    p = tmp_path / "m.png"
    if kind == "0/255":
        save(p, TRUTH * 255)
    elif kind == "0/1":
        save(p, TRUTH)
    elif kind == "labels":  # clothing labels 3 and 17 are both person
        lab = TRUTH * 3
        lab[5:8, 10:25] = 17 * TRUTH[5:8, 10:25]
        save(p, lab.astype(np.uint8))
    elif kind == "palette":
        im = Image.fromarray(TRUTH * 2, "L").convert("P")
        im.putpalette([0, 0, 0, 9, 9, 9, 250, 0, 0] + [0] * 759)
        im.save(p)
    elif kind == "rgba":
        rgba = np.zeros((20, 30, 4), np.uint8)
        rgba[..., :3] = 120  # colour everywhere, the alpha says who is person
        rgba[..., 3] = TRUTH * 255
        save(p, rgba)
    elif kind == "16-bit":
        cv2.imwrite(str(p), TRUTH.astype(np.uint16) * 40000)
    elif kind == "soft":  # anti-aliased matte: grey ramp at the edge, person where >= 128
        soft = (TRUTH * 255).astype(np.float32)
        ramp = np.linspace(0, 255, 60, dtype=np.float32).reshape(2, 30)
        soft[0:2] = ramp  # 60 grey levels on rows 0-1
        expected = TRUTH.copy()
        expected[0:2] = ramp >= 128
        save(p, soft.round().astype(np.uint8))
        np.testing.assert_array_equal(load_mask(p), expected)
        return
    elif kind == "colour":
        rgb = np.zeros((20, 30, 3), np.uint8)
        rgb[TRUTH > 0] = (0, 128, 0)
        save(p, rgb)
    mask = load_mask(p)
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, TRUTH)


def test_images_grey_rgba_and_exif_rotation(tmp_path):
    grey = save(tmp_path / "g.png", np.full((10, 12), 77, np.uint8))
    assert load_image(grey).shape == (10, 12, 3)
    rgba = save(tmp_path / "a.png", np.full((10, 12, 4), 200, np.uint8))
    assert load_image(rgba).shape == (10, 12, 3)
    # a 12 wide x 10 high JPEG whose EXIF says "rotate 90°" is 10 wide x 12 high once loaded
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(tmp_path / "r.jpg", exif=exif)
    assert load_image(tmp_path / "r.jpg").shape[:2] == (12, 10)


def test_broken_and_missing_files_are_clear_errors(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match=r"bad\.jpg is not an image"):
        load_image(tmp_path / "bad.jpg")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_image(tmp_path / "nope.jpg")
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(ValueError, match=r"mask .*bad\.png is not an image"):
        load_mask(tmp_path / "bad.png")


def test_pairing_by_stem_and_mask_suffix(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for stem in ("a", "b", "c"):
        save(tmp_path / "images" / f"{stem}.png", np.zeros((4, 4, 3), np.uint8))
    save(tmp_path / "masks" / "a.png", np.zeros((4, 4), np.uint8))
    save(tmp_path / "masks" / "b_mask.png", np.zeros((4, 4), np.uint8))
    save(tmp_path / "masks" / "z.png", np.zeros((4, 4), np.uint8))
    pairs, lonely_images, lonely_masks = find_pairs(tmp_path)
    assert [p.stem for p in pairs] == ["a", "b"]
    assert [p.name for p in lonely_images] == ["c.png"]
    assert [p.name for p in lonely_masks] == ["z.png"]
    with pytest.raises(FileNotFoundError, match="images/ and masks/"):
        find_pairs(tmp_path / "images")


def tiny_files(root: Path, images: list[str], masks: list[str]) -> Path:
    """``root/images/<name>`` and ``root/masks/<name>``, 4 x 4 pixels each."""
    for folder, names, shape in (("images", images, (4, 4, 3)), ("masks", masks, (4, 4))):
        (root / folder).mkdir(parents=True)
        for name in names:
            save(root / folder / name, np.zeros(shape, np.uint8))
    return root


def test_a_stem_ending_in_mask_pairs_with_the_mask_of_its_own_name(tmp_path):
    """images/gas_mask.jpg is a photo of a gas mask: masks/gas_mask.png is its mask, not gas's."""
    root = tiny_files(tmp_path, ["gas.jpg", "gas_mask.jpg"], ["gas_mask.png"])
    pairs, lonely_images, lonely_masks = find_pairs(root)
    assert [(p.stem, p.mask.name) for p in pairs] == [("gas_mask", "gas_mask.png")]
    assert [p.name for p in lonely_images] == ["gas.jpg"] and lonely_masks == []
    (root / "train.txt").write_text("gas_mask\n")
    assert [s.stem for s in split_samples(root, "train")] == ["gas_mask"]


@pytest.mark.parametrize("stem", ["x", "gas"])
def test_the_mask_suffix_pairs_when_there_is_no_mask_of_the_same_name(tmp_path, stem):
    root = tiny_files(tmp_path, [f"{stem}.jpg"], [f"{stem}_mask.png"])
    pairs, lonely_images, lonely_masks = find_pairs(root)
    assert [(p.stem, p.mask.name) for p in pairs] == [(stem, f"{stem}_mask.png")]
    assert lonely_images == lonely_masks == []


def test_an_image_with_both_masks_is_a_one_line_error_naming_both(tmp_path):
    root = tiny_files(tmp_path, ["x.jpg"], ["x.png", "x_mask.png"])
    with pytest.raises(ValueError) as err:
        find_pairs(root)
    message = str(err.value)
    assert "\n" not in message
    for name in ("x.png", "x_mask.png"):
        assert str(root / "masks" / name) in message


def test_undersized_mask_is_resized_to_the_image_and_reported(tmp_path, caplog):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    save(tmp_path / "images" / "a.png", np.zeros((40, 60, 3), np.uint8))
    save(tmp_path / "masks" / "a.png", TRUTH * 255)  # 20 x 30: half size, same aspect
    save(tmp_path / "images" / "b.png", np.zeros((20, 30, 3), np.uint8))
    save(tmp_path / "masks" / "b.png", TRUTH * 255)
    with caplog.at_level("INFO", logger="personseg"):
        pairs = load_root(tmp_path)
    assert "1 of 2 masks differ in size" in caplog.text
    image, mask = load_pair(pairs[0])
    assert mask.shape == image.shape[:2] == (40, 60)
    assert mask.sum() == TRUTH.sum() * 4  # nearest neighbour: no new values, area scales
    assert set(np.unique(mask)) == {0, 1}
    report = check_data(tmp_path)
    assert report.ok and any("1 mask(s) differ in size" in w for w in report.warnings)


def test_mask_of_another_aspect_ratio_is_an_error(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    save(tmp_path / "images" / "a.png", np.zeros((40, 40, 3), np.uint8))
    save(tmp_path / "masks" / "a.png", TRUTH * 255)
    with pytest.raises(ValueError, match="another aspect ratio"):
        load_root(tmp_path)
    report = check_data(tmp_path)
    assert not report.ok and "another aspect ratio" in report.format()


def test_data_check_reports_problems(tiny_root):
    (tiny_root / "images" / "broken.jpg").write_bytes(b"xx")
    save(tiny_root / "masks" / "broken.png", TRUTH)
    save(tiny_root / "masks" / "orphan.png", TRUTH)
    save(tiny_root / "images" / "empty.png", np.zeros((20, 30, 3), np.uint8))
    save(tiny_root / "masks" / "empty.png", np.zeros((20, 30), np.uint8))
    report = check_data(tiny_root)
    text = report.format()
    assert report.pairs == 14
    assert "1 unreadable pair(s): broken" in text
    assert "1 mask(s) without an image: orphan.png" in text
    assert "1 empty mask(s)" in text
    assert not report.ok


def test_splits_from_files_and_seeded_random_split(tmp_path):
    with_files = write_root(tmp_path / "a", n=8, splits=True)
    plain = write_root(tmp_path / "b", n=10)
    _, val = split_roots([with_files])
    assert [s.stem for s in val] == ["im006", "im007"]
    t1, v1 = split_roots([plain], val_fraction=0.3, seed=1)
    _, v2 = split_roots([plain], val_fraction=0.3, seed=1)
    assert [s.stem for s in v1] == [s.stem for s in v2] and len(v1) == 3
    assert not {s.stem for s in t1} & {s.stem for s in v1}
    both_train, both_val = split_roots([with_files, plain], val_fraction=0.3, seed=1)
    assert len(both_train) == 6 + 7 and len(both_val) == 2 + 3
    assert [s.stem for s in split_samples(with_files, "train")] == [f"im{i:03d}" for i in range(6)]
    (with_files / "train.txt").unlink()  # only val.txt: training gets every other pair
    train, val = split_roots([with_files])
    assert [s.stem for s in val] == ["im006", "im007"] and len(train) == 6
    assert "no train.txt: the train split is every pair not in val.txt" in str(
        check_data(with_files).lines
    )
    (with_files / "val.txt").unlink()
    (with_files / "train.txt").write_text("im000\nim001\nim002\n")  # only train.txt
    train, val = split_roots([with_files])
    assert [s.stem for s in train] == ["im000", "im001", "im002"] and len(val) == 5
    scored, what = evaluation_samples(with_files)  # evaluate scores what training validates on
    assert scored == val and "not in train.txt" in what
    (with_files / "val.txt").write_text("im006\nghost\n")
    with pytest.raises(ValueError, match="ghost"):
        split_roots([with_files])
    with pytest.raises(ValueError, match="ghost"):
        split_samples(with_files)


def test_presets_keep_masks_binary_and_letterbox_round_trips():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (90, 60, 3), dtype=np.uint8)
    mask = np.zeros((90, 60), np.uint8)
    mask[20:70, 10:50] = 1
    for t in (train_transform(64), eval_transform(64), eval_transform(64, "stretch")):
        out = t(image=image, mask=mask)
        assert out["image"].shape == (3, 64, 64) and out["image"].dtype == torch.float32
        assert set(out["mask"].unique().tolist()) <= {0, 1}
    square, box = letterbox(mask.astype(np.float32), 64)
    assert square.shape == (64, 64) and box == (
        0,
        10,
        64,
        43,
    )  # 60 * 64/90 = 42.7 → 43 wide, (64 - 43) // 2 left
    back = unletterbox(square, box, mask.shape) > 0.5
    assert (back == mask.astype(bool)).mean() > 0.97


def test_dataset_items(tiny_root):
    pairs, _, _ = find_pairs(tiny_root)
    ds = SegmentationDataset(pairs, eval_transform(32))
    image, mask, index = ds[3]
    assert image.shape == (3, 32, 32) and mask.shape == (1, 32, 32) and index == 3
    assert mask.dtype == torch.float32 and 0 < mask.mean() < 1


@pytest.mark.realdata
def test_data_check_on_real_sets(shared_data):
    report = check_data(shared_data / "humanseg290")
    assert report.ok and report.pairs == 290
    assert any(w.startswith("198 mask(s) differ in size") for w in report.warnings)


@pytest.mark.parametrize("path", ["letterbox", "stretch", "cache"])
def test_resized_masks_stay_on_their_image(path):
    """A box's mask and its picture keep the same centre when shrunk (OpenCV's plain nearest
    neighbour moved masks about half a pixel down and right)."""
    from personseg.data.dataset import _shrink

    def resized(image, mask):
        if path == "cache":
            small, small_mask = _shrink(image, mask, 80)
            return small.mean(axis=2), small_mask
        out = eval_transform(64, path)(image=image, mask=mask)
        return out["image"].numpy().mean(axis=0), out["mask"].numpy()

    rng = np.random.default_rng(0)
    shifts = []
    for _ in range(40):
        image = np.zeros((900, 1200, 3), np.uint8)
        mask = np.zeros((900, 1200), np.uint8)
        y0, x0 = rng.integers(50, 500), rng.integers(50, 700)
        h, w = rng.integers(100, 350, 2)
        image[y0 : y0 + h, x0 : x0 + w] = 255
        mask[y0 : y0 + h, x0 : x0 + w] = 1
        picture, small_mask = resized(image, mask)
        weight = picture - picture.min()
        rows, cols = np.indices(picture.shape)
        ys, xs = np.nonzero(small_mask)
        centre = np.array([(rows * weight).sum(), (cols * weight).sum()]) / weight.sum()
        shifts.append([ys.mean(), xs.mean()] - centre)
    assert np.abs(np.mean(shifts, axis=0)).max() < 0.1  # was about half a pixel
