"""Proposals: COCO reading and checks (SPEC §5.1), conversion, caching, SAM and weight-free methods."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from masa.errors import InputError
from masa.train.proposals import ProposalError, make_proposals, read_proposals
from masa.train.selective_search import selective_search_boxes


def _coco(path: Path, annotations: list[dict], images: list[dict] | None = None) -> Path:
    images = images or [
        {"id": 1, "file_name": "a.jpg", "width": 100, "height": 80},
        {"id": 2, "file_name": "b.jpg", "width": 50, "height": 50},
    ]
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": [{"id": 3}]})
    )
    return path


def _ann(ann_id: int, bbox: list[float], image_id: int = 1, **extra: object) -> dict:
    return {"id": ann_id, "image_id": image_id, "bbox": bbox, "category_id": 3, **extra}


def test_read_applies_the_skip_rules(tmp_path: Path) -> None:
    path = _coco(
        tmp_path / "p.json",
        [
            _ann(1, [10, 10, 20, 30]),  # kept -> xyxy (10, 10, 30, 40)
            _ann(2, [0, 0, 5, 5], iscrowd=1),  # crowd: ignored
            _ann(3, [0, 0, 5, 5], area=0),  # area <= 0
            _ann(4, [0, 0, 0.5, 5]),  # w < 1
            _ann(5, [200, 10, 10, 10]),  # outside the 100x80 image
            _ann(6, [0, 0, 5, 5], ignore=True),  # ignore flag
            _ann(7, [90, 70, 20, 20]),  # partly outside: kept, not clipped
            _ann(8, [1, 1, 2, 2], image_id=2, iscrowd=1),  # image 2 has no usable box: left out
        ],
    )
    result = read_proposals(path)
    assert [im.file_name for im in result.images] == ["a.jpg"]
    np.testing.assert_array_equal(result.images[0].xyxy, [[10, 10, 30, 40], [90, 70, 110, 90]])
    assert result.images[0].instance_id.tolist() == [1, 7]
    assert (result.num_skipped, result.num_empty_images, result.method) == (6, 1, "coco")


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        (
            [_ann(1, [0, 0, 5, 5]), _ann(1, [1, 1, 5, 5])],
            "annotations[1]: annotation id 1 must be positive and unique",
        ),
        ([_ann(0, [0, 0, 5, 5])], "annotation id 0 must be positive"),
        ([_ann(1, [0, 0, 5])], "annotations[0]: bbox must be [x, y, w, h]"),
        ([_ann(1, [0, 0, 5, 5], image_id=9)], "image_id 9 is not in 'images'"),
        ([{"image_id": 1, "bbox": [0, 0, 5, 5]}], "annotations[0] must have int 'id'"),
        ([_ann(1, [0, 0, 5, 5], iscrowd=1)], "no image has a usable proposal"),
    ],
)
def test_read_rejects_malformed_entries(
    tmp_path: Path, annotations: list[dict], message: str
) -> None:
    path = _coco(tmp_path / "p.json", annotations)
    with pytest.raises(ProposalError) as error:
        read_proposals(path)
    assert str(path) in str(error.value) and message in str(error.value)


def test_read_rejects_bad_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_proposals(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ProposalError, match="not a readable JSON"):
        read_proposals(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(ProposalError, match="expected a COCO object"):
        read_proposals(tmp_path / "list.json")


def _image_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    for name, colour in (("a.png", 40), ("sub/b.png", 200)):
        image = np.full((60, 80, 3), colour, np.uint8)
        image[10:40, 20:50] = 255 - colour
        cv2.imwrite(str(folder / name), image)
    return folder


def test_make_with_a_detector_caches_and_refuses_silent_recompute(tmp_path: Path) -> None:
    images, out, calls = _image_dir(tmp_path), tmp_path / "p.json", []

    def detect(image: np.ndarray) -> list[dict]:  # stands in for SAM's generator (XYWH boxes)
        calls.append(image.shape)
        return [{"bbox": [20, 10, 30, 30], "area": 900.0}, {"bbox": [0, 0, 10, 5], "area": 50.0}]

    path, reused = make_proposals(
        images, out, method="sam", detect=detect, params={"model": "fake"}
    )
    assert not reused and calls == [(60, 80, 3)] * 2
    result = read_proposals(path)
    assert [im.file_name for im in result.images] == ["a.png", "sub/b.png"]
    assert result.method == "sam"
    ids = np.concatenate([im.instance_id for im in result.images])
    assert sorted(ids.tolist()) == [1, 2, 3, 4]
    np.testing.assert_array_equal(result.images[0].xyxy, [[20, 10, 50, 40], [0, 0, 10, 5]])
    assert make_proposals(images, out, method="sam", detect=detect, params={"model": "fake"}) == (
        out,
        True,
    )
    assert len(calls) == 2  # reused, not recomputed
    with pytest.raises(InputError, match="pass --overwrite"):
        make_proposals(images, out, method="sam", detect=detect, params={"model": "other"})
    make_proposals(
        images, out, method="sam", detect=detect, params={"model": "other"}, overwrite=True
    )
    assert len(calls) == 4


def test_convert_coco(tmp_path: Path) -> None:
    images = _image_dir(tmp_path)
    coco = _coco(
        tmp_path / "coco.json",
        [_ann(5, [20, 10, 30, 30], segmentation=[[20, 10, 50, 10, 50, 40]])],
        [{"id": 1, "file_name": "a.png", "width": 80, "height": 60}],
    )
    path, _ = make_proposals(images, tmp_path / "p.json", method="coco", coco_json=coco)
    data = json.loads(path.read_text())
    assert data["categories"] == [{"id": 1, "name": "object"}]
    assert data["annotations"][0]["id"] == 5 and data["annotations"][0]["category_id"] == 1
    assert "segmentation" in data["annotations"][0]
    assert data["info"]["method"] == "coco" and len(data["info"]["cache_key"]) == 64
    missing = _coco(
        tmp_path / "m.json",
        [_ann(1, [0, 0, 5, 5])],
        [{"id": 1, "file_name": "x.png", "width": 8, "height": 8}],
    )
    with pytest.raises(InputError, match="not in the image folder"):
        make_proposals(images, tmp_path / "q.json", method="coco", coco_json=missing)


def test_sam_needs_weights(tmp_path: Path) -> None:
    pytest.importorskip("segment_anything")
    from masa.train.proposals import build_sam_generator

    with pytest.raises(FileNotFoundError, match="SAM weights not found"):
        build_sam_generator(tmp_path / "sam_vit_h.pth")


def test_selective_search_finds_painted_objects() -> None:
    rng = np.random.default_rng(0)
    image = (
        (rng.normal(90, 4, (240, 320, 3))).clip(0, 255).astype(np.uint8)
    )  # textured grey background
    objects = np.array([[40, 30, 120, 110], [180, 120, 300, 220]], np.float32)
    image[30:110, 40:120] = (220, 40, 40)
    image[120:220, 180:300] = (30, 160, 60)
    boxes, scores = selective_search_boxes(image)
    assert len(boxes) == len(scores) and 2 <= len(boxes) <= 100
    ious = [_best_iou(obj, boxes) for obj in objects]
    assert min(ious) > 0.8, ious


def _best_iou(box: np.ndarray, boxes: np.ndarray) -> float:
    x1, y1 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    x2, y2 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = (x2 - x1).clip(0) * (y2 - y1).clip(0)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return float((inter / (area(box) + area(boxes) - inter)).max())


def test_fastestdet_pseudo_boxes_from_the_command_line(tmp_path: Path, shared: Path) -> None:
    pytest.importorskip("onnxruntime")
    import torch
    from torchvision.ops import box_iou
    from typer.testing import CliRunner

    from masa.detectors.fastestdet import build_fastestdet_detector
    from masa.train.proposals import read_image
    from masa_cli.app import app

    coco = shared / "data" / "images" / "coco128"
    truth = json.loads((coco / "annotations_coco_json" / "instances_train2017_coco128.json")
                       .read_text())
    names = sorted(im["file_name"] for im in truth["images"])[:4]
    images = tmp_path / "images"
    images.mkdir()
    for name in names:
        (images / name).symlink_to(coco / "images" / "train2017" / name)
    weights = shared / "data" / "weights" / "fastestdet" / "FastestDet.onnx"
    out = tmp_path / "p.json"
    args = ["proposals", str(images), "--method", "fastestdet", "--detector-weights",
            str(weights), "--out", str(out), "--quiet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "reused" in CliRunner().invoke(app, args).stdout
    proposals = read_proposals(out)
    assert proposals.method == "fastestdet"
    detector = build_fastestdet_detector(weights=weights, score_threshold=0.3)
    by_name = {im.file_name: im for im in proposals.images}
    matched = 0
    for name in names:
        boxes = detector([read_image(images / name)])[0].xyxy
        got = by_name[name].xyxy if name in by_name else np.zeros((0, 4))
        np.testing.assert_allclose(got, boxes.numpy(), atol=1e-3)  # the detector's boxes, XYXY
        image_id = next(im["id"] for im in truth["images"] if im["file_name"] == name)
        gt = [a["bbox"] for a in truth["annotations"] if a["image_id"] == image_id]
        if len(got) and gt:
            gt_xyxy = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in gt])
            matched += int((box_iou(torch.as_tensor(got).float(), gt_xyxy).max(1).values > 0.5)
                           .sum())
    assert matched >= 3  # real objects, not noise
    bad = CliRunner().invoke(app, [*args[:5], str(tmp_path / "none.onnx"), "--out",
                                   str(tmp_path / "q.json")])
    assert bad.exit_code == 2 and "neither a file" in bad.output
    assert not (tmp_path / "q.json").exists()
