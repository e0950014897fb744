"""Label import (COCO, CVAT, LabelMe, VOC, YOLO-seg), ignore pixels and pre-label round trips.

The real exports of ../shared/data/formats are checked against renderings that share no code
with the importers: pycocotools' ``COCO.annToMask`` for COCO, ``cv2.fillPoly`` for LabelMe,
the palette indices for VOC, and the CVAT COCO export for the CVAT XML.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from personseg.cli import main
from personseg.data.dataset import find_pairs, load_mask

FORMATS_DIR = "formats"
MISSING = "18 × image missing (49 person annotation(s) skipped)"


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    union = (a | b).sum()
    return 1.0 if union == 0 else float((a & b).sum() / union)


def imported(tmp_path: Path, fmt: str, source: Path, *extra: str) -> Path:
    out = tmp_path / f"root_{fmt}_{source.name}"
    assert main(["data", "import", fmt, str(source), "--out", str(out), *extra]) == 0
    return out


def masks_of(root: Path) -> dict[str, np.ndarray]:
    return {p.stem: load_mask(p) for p in sorted((root / "masks").glob("*.png"))}


@pytest.fixture(scope="module")
def formats(shared_data: Path) -> Path:
    return shared_data / FORMATS_DIR


# --- real exports against independent renderings -------------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools under NumPy 2
@pytest.mark.parametrize(
    "name", ["wkentaro-labelme-labelme2coco", "KGCraig-urban-scene-annotation-cvat-coco"]
)
def test_coco_import_equals_pycocotools_ann_to_mask(formats, tmp_path, name, capsys):
    from pycocotools.coco import COCO

    src = formats / "coco" / name
    json_path = next(src.rglob("*.json"))
    root = imported(tmp_path, "coco", src, "--keep-empty")
    coco = COCO(str(json_path))
    person = coco.getCatIds(catNms=["person", "PEDESTRIAN"])
    got = masks_of(root)
    assert got, "nothing imported"
    for img in coco.dataset["images"]:
        stem = Path(img["file_name"]).stem
        if stem not in got:
            continue
        ref = np.zeros((img["height"], img["width"]), bool)
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=img["id"], catIds=person)):
            ref |= coco.annToMask(ann).astype(bool)
        assert iou(got[stem], ref) >= 0.99, stem
    out = capsys.readouterr().out
    if "KGCraig" in name:
        assert len(got) == 2 and "PEDESTRIAN (65, kept)" in out
        assert MISSING in out  # 65 pedestrians, 16 of them in the 2 photos present
        assert "read as person" in out  # CVAT's iscrowd=1 on single people is not a crowd
    else:
        assert len(got) == 3 and "person (6, kept)" in out


def test_cvat_xml_and_cvat_coco_give_the_same_masks(formats, tmp_path, capsys):
    xml_root = imported(tmp_path, "cvat", formats / "cvat" / "KGCraig-urban-scene-annotation")
    out = capsys.readouterr().out
    assert "PEDESTRIAN (65, kept)" in out and MISSING in out
    coco_root = imported(
        tmp_path, "coco", formats / "coco" / "KGCraig-urban-scene-annotation-cvat-coco"
    )
    a, b = masks_of(xml_root), masks_of(coco_root)
    assert sorted(a) == sorted(b) and len(a) == 2
    for stem in a:
        assert a[stem].sum() > 10_000
        assert iou(a[stem], b[stem]) >= 0.99, stem


def fillpoly_reference(json_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Person and ignore masks drawn with cv2.fillPoly (not the importer's pycocotools)."""
    data = json.loads(json_path.read_text())
    h, w = cv2.imread(str(json_path.with_suffix(".jpg"))).shape[:2]
    person, ignore = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
    for s in data["shapes"]:
        label = s["label"].rsplit("-", 1)[0] if s["label"][-1].isdigit() else s["label"]
        target = person if label == "person" else ignore if label == "__ignore__" else None
        if target is not None:
            cv2.fillPoly(target, [np.round(np.array(s["points"])).astype(np.int32)], 1)
    return person.astype(bool), ignore.astype(bool)


@pytest.mark.parametrize("layout", ["wkentaro-labelme", "wkentaro-labelme-v2018-label-suffix"])
def test_labelme_import_matches_labelme2voc_and_keeps_ignore(formats, tmp_path, layout):
    """labelme2voc's class PNGs are labelme's own rendering of these JSONs (ignore drawn last)."""
    from PIL import Image

    src = formats / "labelme" / layout / "data_annotated"
    voc = formats / "voc" / "wkentaro-labelme-labelme2voc" / "SegmentationClass"
    root = imported(tmp_path, "labelme", src)
    got = masks_of(root)
    assert sorted(got) == ["2011_000003", "2011_000006"]  # 2011_000025 has nobody: skipped
    for stem, mask in got.items():
        cls = np.asarray(Image.open(voc / f"{stem}.png"))
        ign = load_mask(root / "ignore" / f"{stem}.png").astype(bool)
        free = (cls == 0) | (cls == 15)  # labelme2voc drew later shapes (sofa...) over people
        # the 2018 file's points differ by a pixel or two from the JSON labelme2voc rendered
        bar = 0.99 if layout == "wkentaro-labelme" else 0.95
        assert iou(mask.astype(bool) & free, cls == 15) >= bar, stem
        assert iou(ign, cls == 255) >= 0.99, stem
        person, ignore = fillpoly_reference(src / f"{stem}.json")  # OpenCV: a sanity bound
        assert iou(mask, person) >= 0.95 and iou(ign, ignore) >= 0.85, stem


def test_labelme_layouts_and_voc_agree(formats, tmp_path):
    new = masks_of(imported(tmp_path, "labelme", formats / "labelme" / "wkentaro-labelme"))
    old = masks_of(
        imported(tmp_path, "labelme", formats / "labelme" / "wkentaro-labelme-v2018-label-suffix")
    )
    voc = masks_of(imported(tmp_path, "voc", formats / "voc" / "wkentaro-labelme-labelme2voc"))
    assert sorted(old) == sorted(new) == sorted(voc)
    for stem in old:
        assert iou(new[stem], old[stem]) >= 0.95  # the 2018 points moved by a pixel or two
        assert iou(new[stem], voc[stem]) >= 0.97


def test_voc_import_equals_palette_indices(formats, tmp_path):
    from PIL import Image

    src = formats / "voc" / "wkentaro-labelme-labelme2voc"
    root = imported(tmp_path, "voc", src, "--keep-empty")
    got = masks_of(root)
    assert len(got) == 3
    for stem, mask in got.items():
        cls = np.asarray(Image.open(src / "SegmentationClass" / f"{stem}.png"))
        assert np.array_equal(mask.astype(bool), cls == 15), stem
        ign = root / "ignore" / f"{stem}.png"
        if (cls == 255).any():
            assert np.array_equal(load_mask(ign).astype(bool), cls == 255)
        else:
            assert not ign.exists()
    pairs, _, _ = find_pairs(root)
    assert sum(s.ignore is not None for s in pairs) == 2


# --- YOLO-seg, from its specification --------------------------------------------------------


def write_yolo(tmp_path: Path) -> Path:
    root = tmp_path / "yolo"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "data.yaml").write_text("names:\n  0: person\n  1: car\n")
    for stem in ("a", "b", "c"):
        cv2.imwrite(str(root / "images" / f"{stem}.jpg"), np.full((40, 80, 3), 90, np.uint8))
    (root / "labels" / "a.txt").write_text(
        "0 0.25 0.25 0.75 0.25 0.75 0.75 0.25 0.75\n"  # person: 40x20 px rectangle
        "1 0.0 0.0 0.1 0.0 0.1 0.1\n"  # car: not kept
        "0 0.5 0.5 0.2 0.2\n"  # a detection box line: counted and dropped
        "7 0.1 0.1 0.2 0.1 0.2 0.2\n"  # unknown class index
    )
    (root / "labels" / "b.txt").write_text("0 0.1 0.1 0.1 0.1\n")  # a box only: no person
    return root


def test_yolo_seg_import_and_problem_report(tmp_path, capsys):
    root = imported(tmp_path, "yolo-seg", write_yolo(tmp_path))
    out = capsys.readouterr().out
    got = masks_of(root)
    assert sorted(got) == ["a"]
    assert abs(int(got["a"].sum()) - 40 * 20) <= 2 * (40 + 20)
    assert got["a"][20, 40] and not got["a"][2, 2]
    assert "person (3, kept), car (1)" in out
    assert "2 × box line" in out and "1 × unknown class index" in out
    assert "2 × no person in the image" in out  # b (box only) and c (no label file)


# --- problems counted, bad input in one line ------------------------------------------------


def write_coco(tmp_path: Path, images: list[dict], anns: list[dict]) -> Path:
    folder = tmp_path / "coco"
    folder.mkdir(exist_ok=True)
    for im in images:
        path = folder / im["file_name"]
        if not path.exists() and not im.get("absent"):
            cv2.imwrite(str(path), np.zeros((im.get("real_h", 30), im.get("real_w", 40), 3)))
    cats = [{"id": 1, "name": "Person"}, {"id": 2, "name": "dog"}]
    data = {"images": images, "annotations": anns, "categories": cats}
    (folder / "annotations.json").write_text(json.dumps(data))
    return folder / "annotations.json"


def poly(i: int, image_id: int, cat: int = 1, seg=None, crowd: int = 0) -> dict:
    seg = seg if seg is not None else [[5, 5, 30, 5, 30, 25, 5, 25]]
    ann = {"id": i, "image_id": image_id, "category_id": cat, "segmentation": seg}
    return {**ann, "iscrowd": crowd}


def test_every_problem_is_counted(tmp_path, capsys):
    images = [
        {"id": 1, "file_name": "ok.png", "height": 30, "width": 40},
        {"id": 2, "file_name": "gone.png", "height": 30, "width": 40, "absent": True},
        {"id": 3, "file_name": "rot.png", "height": 40, "width": 30, "real_h": 30, "real_w": 40},
        {"id": 4, "file_name": "sub/ok.png", "height": 30, "width": 40, "absent": True},
        {"id": 5, "file_name": "empty.png", "height": 30, "width": 40},
    ]
    (tmp_path / "coco" / "sub").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "coco" / "sub" / "ok.png"), np.zeros((30, 40, 3)))
    anns = [
        poly(1, 1),
        poly(2, 1, seg=[[1, 1, 2, 2]]),  # degenerate
        poly(3, 1, seg=[[-10, 0, 50, 0, 50, 29, 0, 29]]),  # out of bounds
        poly(4, 1, cat=9),  # unknown category
        poly(5, 2),
        poly(6, 3),
        poly(7, 4),
        poly(8, 1, crowd=1),  # a COCO crowd region: ignore
    ]
    path = write_coco(tmp_path, images, anns)
    root = imported(tmp_path, "coco", path)
    out = capsys.readouterr().out
    for line in (
        "1 × degenerate polygon",
        "1 × polygon out of the image's bounds",
        "1 × unknown category id",
        "1 × image missing",
        "EXIF rotation",
        "1 × duplicate file name",
        "1 × no person in the image",
        "Person (7, kept)",
    ):
        assert line in out, line
    assert sorted(masks_of(root)) == ["ok"]
    assert (root / "ignore" / "ok.png").is_file()
    as_person = imported(tmp_path, "coco", path, "--crowd", "person")  # the same root again
    assert as_person == root and not (root / "ignore" / "ok.png").exists()
    assert "iscrowd=1 read as person (--crowd person" in capsys.readouterr().out


@pytest.mark.parametrize(
    "fmt, name, text, message",
    [
        ("coco", "a.json", '{"images": [{"id": 1,', "not valid JSON"),
        ("coco", "a.json", '{"annotations": []}', "no 'images' list"),
        ("cvat", "a.xml", "<root><thing/></root>", "not a CVAT for images XML"),
        ("cvat", "a.xml", "<annotations><image", "not valid XML"),
        ("labelme", "a.json", '{"shapes": [', "not valid JSON"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, capsys, fmt, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    assert main(["data", "import", fmt, str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_rle_whose_size_disagrees_with_the_photo(tmp_path, capsys):
    images = [{"id": 1, "file_name": "a.png", "height": 30, "width": 40}]
    rle = {"size": [20, 40], "counts": [100, 50, 650]}
    path = write_coco(tmp_path, images, [poly(1, 1, seg=rle)])
    assert main(["data", "import", "coco", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "RLE whose size differs" in err and len(err.splitlines()) == 1


def test_rle_of_another_size_when_the_file_states_none(tmp_path, capsys):
    images = [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}]  # no sizes
    bad = {"size": [20, 40], "counts": [100, 50, 650]}  # the photos are 30 x 40
    good = {"size": [30, 40], "counts": [100, 50, 1050]}
    path = write_coco(tmp_path, images, [poly(1, 1, seg=bad), poly(2, 2, seg=good)])
    assert main(["data", "import", "coco", str(path), "--out", str(tmp_path / "o")]) == 0
    assert "size in the file differs from the photo: skipped" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "o" / "masks").iterdir()) == ["b.png"]


def test_a_photo_named_without_an_extension_gets_its_formats(tmp_path):
    images = [{"id": 1, "file_name": "noext", "height": 30, "width": 40}]
    folder = tmp_path / "coco"
    folder.mkdir()
    cv2.imwrite(str(folder / "noext.png"), np.zeros((30, 40, 3), np.uint8))
    (folder / "noext.png").rename(folder / "noext")
    path = write_coco(tmp_path, images, [poly(1, 1)])
    out = imported(tmp_path, "coco", path, "--val-fraction", "0")
    assert [p.name for p in (out / "images").iterdir()] == ["noext.png"]
    assert len(find_pairs(out)[0]) == 1  # paired with its mask, trainable


def test_a_renamed_labelme_pair_keeps_its_own_name(tmp_path):
    folder = tmp_path / "lm"
    folder.mkdir()
    shape = {"label": "person", "points": [[5, 5], [30, 5], [30, 25]], "shape_type": "polygon"}
    for stem in ("b", "c"):  # copies of one annotation, renamed: imagePath still says plain.jpg
        cv2.imwrite(str(folder / f"{stem}.jpg"), np.zeros((30, 40, 3), np.uint8))
        data = {"imagePath": "plain.jpg", "shapes": [shape], "imageHeight": 30, "imageWidth": 40}
        (folder / f"{stem}.json").write_text(json.dumps(data))
    out = imported(tmp_path, "labelme", folder, "--val-fraction", "0")
    assert sorted(p.name for p in (out / "images").iterdir()) == ["b.jpg", "c.jpg"]


# --- ignore pixels: loss, metrics, dataset, evaluate -------------------------------------------


def test_ignore_pixels_leave_loss_and_metrics():
    from personseg.losses import CombinedLoss, split_ignore
    from personseg.metrics import MetricAccumulator

    torch.manual_seed(0)
    logits = torch.randn(2, 1, 8, 8)
    target = (torch.rand(2, 1, 8, 8) > 0.5).float()
    marked = target.clone()
    marked[:, :, :4] = 255  # top half ignored
    t, valid = split_ignore(marked)
    assert valid is not None and valid[:, :, :4].sum() == 0 and t.max() <= 1
    loss = CombinedLoss(1.0)  # BCE only: the mean over the valid pixels
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        logits[:, :, 4:], target[:, :, 4:]
    )
    assert torch.allclose(loss(logits, t, valid), expected)
    garbage = logits.clone()
    garbage[:, :, :4] = 50.0  # anything on ignore pixels changes nothing
    assert torch.allclose(CombinedLoss()(garbage, t, valid), CombinedLoss()(logits, t, valid))
    assert split_ignore(target)[1] is None  # no ignore pixels: the old path, unchanged
    pred = torch.zeros(1, 1, 8, 8)
    pred[:, :, 4:] = 1.0
    truth = torch.ones(1, 1, 8, 8)
    acc = MetricAccumulator()
    acc.update(pred, truth, torch.cat([torch.zeros(1, 1, 4, 8), torch.ones(1, 1, 4, 8)], 2))
    assert acc.compute()["mean_iou"] == 1.0
    plain = MetricAccumulator()
    plain.update(pred, truth)
    assert plain.compute()["mean_iou"] == 0.5


def test_dataset_marks_ignore_pixels(tmp_path):
    from personseg.data import SegmentationDataset, eval_transform

    root = imported(tmp_path, "yolo-seg", write_yolo(tmp_path))
    (root / "ignore").mkdir()
    ign = np.zeros((40, 80), np.uint8)
    ign[:, :10] = 255
    cv2.imwrite(str(root / "ignore" / "a.png"), ign)
    pairs, _, _ = find_pairs(root)
    ds = SegmentationDataset(pairs, eval_transform(32, "stretch"))
    _, mask, _ = ds[0]
    assert set(torch.unique(mask).tolist()) == {0.0, 1.0, 255.0}


class _AlwaysPerson:
    """A stand-in segmenter that marks every pixel as person."""

    threshold, refine, input_size = 0.5, None, 32

    def predict(self, image, size=None):
        return np.ones(size or image.shape[:2], np.float32)


def test_evaluate_and_data_check_leave_out_ignore_pixels(tmp_path):
    from personseg.data import check_data
    from personseg.inference.run import evaluate_samples

    root = imported(tmp_path, "yolo-seg", write_yolo(tmp_path))  # a: person in the middle
    person = load_mask(root / "masks" / "a.png").astype(bool)
    pairs, _, _ = find_pairs(root)
    before = evaluate_samples(_AlwaysPerson(), pairs)["mean_iou"]
    assert before < 0.5
    (root / "ignore").mkdir()
    cv2.imwrite(str(root / "ignore" / "a.png"), (~person).astype(np.uint8) * 255)
    pairs, _, _ = find_pairs(root)
    after = evaluate_samples(_AlwaysPerson(), pairs)
    assert after["mean_iou"] == 1.0
    # the edge of the ignore region is no boundary: perfect where it counts
    assert after["mean_boundary_f1"] == 1.0
    assert any("ignore maps" in line for line in check_data(root).lines)


def test_fine_tune_from_the_bundled_model_on_an_imported_root(formats, tmp_path):
    root = imported(
        tmp_path, "labelme", formats / "labelme" / "wkentaro-labelme", "--keep-empty", "--link"
    )
    assert main(["data", "check", str(root)]) == 0
    run_dir = tmp_path / "run"
    args = ["train", "--data", str(root), "--init", "default", "--epochs", "1"]
    args += ["--model", "unet-efficientnet-lite0"]
    args += ["--input-size", "64", "--batch-size", "2", "--workers", "0", "--out", str(run_dir)]
    assert main([*args, "--val-fraction", "0.34"]) == 0
    assert main(["evaluate", "--model", str(run_dir), "--data", str(root)]) == 0


# --- pre-labels: write → import gives the same masks ------------------------------------------


@pytest.mark.parametrize("fmt, bar", [("coco", 0.99), ("cvat", 0.99), ("labelme", 0.97)])
def test_prelabel_round_trip_on_20_ccp_val_masks(shared_data, tmp_path, fmt, bar):
    from personseg.data.formats import write_coco, write_cvat, write_labelme

    ccp = shared_data / "ccp"
    stems = (ccp / "val.txt").read_text().split()[:20]
    out = tmp_path / "labels"
    (out / "images").mkdir(parents=True)
    items = []
    for stem in stems:
        image = next((ccp / "images").glob(f"{stem}.*"))
        mask = load_mask(next((ccp / "masks").glob(f"{stem}*"))).astype(bool)
        if mask.shape != cv2.imread(str(image)).shape[:2]:
            continue
        items.append((image.name, mask))
        folder = out if fmt == "labelme" else out / "images"
        (folder / image.name).symlink_to(image.resolve())
        if fmt == "labelme":
            write_labelme(image.name, mask, out / f"{stem}.json")
    if fmt == "coco":
        write_coco(items, out / "annotations.json")
    elif fmt == "cvat":
        write_cvat(items, out / "annotations.xml")
    assert len(items) >= 15
    got = masks_of(imported(tmp_path, fmt, out, "--keep-empty", "--link"))
    ious = [iou(got[Path(name).stem], mask) for name, mask in items]
    assert min(ious) >= bar, (fmt, min(ious))


def test_predict_labels_round_trip_with_the_model(shared_data, tmp_path, default_segmenter):
    """predict → labels → import on 20 ccp val photos gives the model's masks back."""
    from personseg.data import load_image
    from personseg.inference.run import prelabel_files

    ccp = shared_data / "ccp"
    stems = (ccp / "val.txt").read_text().split()[:20]
    paths = [next((ccp / "images").glob(f"{s}.*")) for s in stems]
    seg = default_segmenter
    preds = {p.stem: seg.predict(load_image(p)) > seg.threshold for p in paths}
    for fmt, bar in (("coco", 0.99), ("cvat", 0.99), ("labelme", 0.97)):
        out = tmp_path / fmt
        result = prelabel_files(seg, paths, out, fmt)
        assert result["written"] and not result["failed"]
        got = masks_of(imported(tmp_path, fmt, out, "--keep-empty"))
        assert sorted(got) == sorted(preds)
        worst = min(iou(got[stem], pred) for stem, pred in preds.items())
        assert worst >= bar, (fmt, worst)


def test_predict_labels_cli(shared_data, tmp_path, capsys):
    photo = next((shared_data / "ccp" / "images").glob("0002.*"))
    out = tmp_path / "pre"
    assert main(["predict", str(photo), "--labels", "cvat", "--out", str(out)]) == 0
    assert "personseg data import cvat" in capsys.readouterr().out
    assert (out / "annotations.xml").is_file() and (out / "images" / photo.name).is_file()
    got = masks_of(imported(tmp_path, "cvat", out))
    assert list(got) == [photo.stem] and got[photo.stem].mean() > 0.05


def test_importing_into_the_folder_of_the_photos_keeps_them(tmp_path, capsys):
    src = write_yolo(tmp_path)
    photo = (src / "images" / "a.jpg").read_bytes()
    for link in ([], ["--link"]):
        assert main(["data", "import", "yolo-seg", str(src), "--out", str(src), *link]) == 0
        assert (src / "images" / "a.jpg").read_bytes() == photo  # still the photo, not gone
        assert load_mask(src / "masks" / "a.png").sum() > 0
    # nothing usable: the error line says which classes the file has
    assert main(["data", "import", "yolo-seg", str(src), "--out", str(tmp_path / "x"),
                 "--classes", "dog"]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "nothing usable" in err and "classes seen" in err and "person" in err


def test_a_null_size_in_the_file_uses_the_photos_own(formats, tmp_path):
    src = formats / "coco" / "wkentaro-labelme-labelme2coco"
    data = json.loads((src / "annotations.json").read_text())
    for im in data["images"]:
        im["height"] = None  # as some exporters write it
    (tmp_path / "annotations.json").write_text(json.dumps(data))
    args = ["--images", str(src / "JPEGImages")]
    with_null = imported(tmp_path / "null", "coco", tmp_path / "annotations.json", *args)
    plain = imported(tmp_path / "plain", "coco", src / "annotations.json", *args)
    assert with_null != plain
    a, b = masks_of(with_null), masks_of(plain)
    assert a.keys() == b.keys() and a and all(np.array_equal(a[k], b[k]) for k in a)


def test_import_writes_a_seeded_split_that_train_and_evaluate_read(formats, tmp_path):
    src = formats / "labelme" / "wkentaro-labelme"
    root = imported(tmp_path, "labelme", src, "--keep-empty")  # 3 photos, default 0.2
    stems = set(masks_of(root))
    val = (root / "val.txt").read_text().split()
    train = (root / "train.txt").read_text().split()
    assert len(val) == 1 and set(val) | set(train) == stems and not set(val) & set(train)
    again = imported(tmp_path / "again", "labelme", src, "--keep-empty")
    assert (again / "val.txt").read_text().split() == val  # seeded: the same draw
    none = imported(tmp_path / "none", "labelme", src, "--val-fraction", "0")
    assert not (none / "val.txt").exists()
    assert main(["data", "import", "labelme", str(src), "--out", str(tmp_path / "x"),
                 "--val-fraction", "1"]) == 2  # fmt: skip
