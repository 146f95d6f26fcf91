"""Tests for masa.io.detections: MOT txt and COCO/TAO JSON readers, validation and frame checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from masa.errors import InputError
from masa.io.detections import (
    check_frames,
    read_coco_detections,
    read_detections,
    read_mot_detections,
)

PETS = Path("/work/shared/data/mot/PETS09-S2L1")
needs_data = pytest.mark.skipif(not PETS.is_dir(), reason="shared data folder not present")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _count_lines(path: Path, frame: int | None = None) -> int:
    """Independent count of non-blank lines (optionally of one 1-based frame)."""
    count = 0
    with open(path) as f:
        for line in f:
            if line.strip() and (frame is None or int(line.split(",")[0]) == frame):
                count += 1
    return count


@needs_data
@pytest.mark.parametrize("name", ["det/det.txt", "gt/gt.txt"])
def test_pets_counts_and_frame_base(name):
    path = PETS / name
    table = read_mot_detections(path)
    assert table.num_detections == _count_lines(path)
    assert table.frame_indices[0] == 0 and table.max_frame_idx == 168
    assert len(table.get(0)) == _count_lines(path, frame=1)
    assert sum(len(table.get(f)) for f in table.frame_indices) == table.num_detections
    check_frames(table, 169, path)


@needs_data
def test_pets_det_vs_gt_layout():
    det = read_mot_detections(PETS / "det" / "det.txt").get(0)
    gt = read_mot_detections(PETS / "gt" / "gt.txt").get(0)
    assert "source_id" not in det.data and det.class_id.tolist() == [0] * len(det)
    assert gt.data["source_id"].dtype == torch.int64 and gt.data["source_id"].tolist()[0] == 9
    # gt line 1: 1,9,499,158,31.03,75.17,... -> xyxy
    assert gt.xyxy[0].tolist() == pytest.approx([499, 158, 530.03, 233.17])


def test_mot_whitespace_separated_7_columns(tmp_path):
    path = _write(tmp_path / "det.txt", "1 -1 10 20 30 40 0.9\n\n3 -1 0 0 5 5 0.2\n")
    table = read_mot_detections(path)
    assert table.frame_indices == [0, 2] and table.num_frames == 3
    assert table.get(0).xyxy.tolist() == [[10, 20, 40, 60]]
    assert len(table.get(1)) == 0 and table.class_names == {0: "object"}
    assert len(read_mot_detections(path, min_confidence=0.5).get(2)) == 0


def test_mot_gt_with_classes(tmp_path):
    lines = ["1,1,0,0,5,5,1,1,0.8", "1,2,0,0,5,5,0,3,1.0", "2,1,1,1,5,5,1,1,0.9"]
    path = _write(tmp_path / "gt.txt", "\n".join(lines) + "\n")
    first = read_mot_detections(path).get(0)
    assert first.class_id.tolist() == [1, 3] and first.data["source_id"].tolist() == [1, 2]
    assert read_mot_detections(path).class_names == {1: "pedestrian", 3: "car"}


@pytest.mark.parametrize(
    "bad_line, problem",
    [
        ("2,-1,nan,20,30,40,0.9,-1,-1,-1", "NaN"),
        ("2,-1,10,20,-30,40,0.9,-1,-1,-1", "width must be > 0"),
        ("2,-1,10,20,30,0,0.9,-1,-1,-1", "height must be > 0"),
        ("2,-1,10,20,30,40,0.9,-1,-1", "expected 10 columns"),
        ("2,-1,10,abc,30,40,0.9,-1,-1,-1", "'abc' is not a number"),
        ("0,-1,10,20,30,40,0.9,-1,-1,-1", "frame must be >= 1"),
        ("1.5,-1,10,20,30,40,0.9,-1,-1,-1", "frame must be an integer"),
    ],
)
def test_mot_bad_line_names_file_and_line(tmp_path, bad_line, problem):
    good = "1,-1,10,20,30,40,0.9,-1,-1,-1\n"
    path = _write(tmp_path / "det.txt", good + good + "\n" + bad_line + "\n" + good)
    with pytest.raises(InputError) as e:
        read_mot_detections(path)
    message = str(e.value)
    assert "det.txt:4:" in message and problem in message and "\n" not in message


def test_mot_wrong_column_count_on_first_line_and_empty_file(tmp_path):
    with pytest.raises(InputError, match=r"det.txt:1: expected 7 to 10 columns, but got 6"):
        read_mot_detections(_write(tmp_path / "det.txt", "1,-1,1,1,2,2\n"))
    with pytest.raises(InputError, match="empty"):
        read_mot_detections(_write(tmp_path / "empty.txt", "\n  \n"))
    with pytest.raises(InputError, match="no such file"):
        read_mot_detections(tmp_path / "missing.txt")


def test_coco_results_list_uses_image_id_minus_one(tmp_path):
    entries = [
        {"image_id": 1, "bbox": [10, 20, 30, 40], "score": 0.9, "category_id": 3},
        {"image_id": 3, "bbox": [0, 0, 5, 5], "score": 0.5, "category_id": 7, "track_id": 4},
    ]
    table = read_coco_detections(_write(tmp_path / "r.json", json.dumps(entries)))
    assert table.frame_indices == [0, 2] and table.class_names == {3: "3", 7: "7"}
    assert table.get(0).xyxy.tolist() == [[10, 20, 40, 60]]
    assert table.get(2).class_id.tolist() == [7]
    assert table.get(0).mask is None and "source_id" not in table.get(0).data


def test_coco_dict_with_images_and_categories(tmp_path):
    data = {
        "videos": [{"id": 5, "name": "v"}],
        "images": [
            {"id": 11, "video_id": 5, "frame_index": 30},  # TAO: explicit 0-based frame
            {"id": 12, "video_id": 5, "frame_id": 4},  # mmdet cocovid
            {"id": 21, "video_id": 5},  # positional: first image without a frame field
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "car"}],
        "annotations": [
            {"image_id": 11, "bbox": [0, 0, 2, 2], "category_id": 2, "track_id": 1},
            {"image_id": 12, "bbox": [0, 0, 2, 2], "category_id": 1, "track_id": 2},
            {"image_id": 21, "bbox": [0, 0, 2, 2], "category_id": 1, "track_id": 2},
            {"image_id": 21, "bbox": [0, 0, 2, 2], "category_id": 1, "frame_index": 8,
             "track_id": 3},
        ],
    }
    table = read_coco_detections(_write(tmp_path / "gt.json", json.dumps(data)))
    assert table.frame_indices == [0, 4, 8, 30]
    assert table.class_names == {1: "person", 2: "car"}
    assert table.get(30).class_id.tolist() == [2] and table.get(30).confidence.tolist() == [1.0]
    assert table.get(8).data["source_id"].tolist() == [3]


def test_coco_rle_and_polygon_segmentation(tmp_path):
    from pycocotools import mask as mask_utils

    expected = np.zeros((6, 8), bool)
    expected[1:3, 2:5] = True
    rle = mask_utils.encode(np.asfortranarray(expected[:, :, None].astype(np.uint8)))[0]
    compressed = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
    column_major = expected.T.flatten().astype(int)  # uncompressed RLE runs, starting with zeros
    runs = [len(list(g)) for g in np.split(column_major, np.flatnonzero(np.diff(column_major)) + 1)]
    data = {
        "images": [{"id": 1, "frame_index": 0, "height": 6, "width": 8}],
        "annotations": [
            {"image_id": 1, "bbox": [2, 1, 3, 2], "category_id": 1, "segmentation": compressed},
            {"image_id": 1, "bbox": [2, 1, 3, 2], "category_id": 1,
             "segmentation": {"size": [6, 8], "counts": runs}},
            {"image_id": 1, "bbox": [2, 1, 3, 2], "category_id": 1,
             "segmentation": [[2, 1, 5, 1, 5, 3, 2, 3]]},
        ],
    }
    masks = read_coco_detections(_write(tmp_path / "m.json", json.dumps(data))).get(0).mask
    assert masks.dtype == torch.bool and masks.shape == (3, 6, 8)
    assert torch.equal(masks[0], torch.from_numpy(expected))
    assert torch.equal(masks[1], torch.from_numpy(expected))
    assert masks[2, 2, 3] and not masks[2, 5, 7]  # polygon interior / exterior
    no_masks = read_coco_detections(tmp_path / "m.json", load_masks=False).get(0)
    assert no_masks.mask is None


@pytest.mark.parametrize(
    "segmentation, problem",
    [
        ({"size": [6, 8], "counts": "zzz"}, "do not cover the 6x8 mask"),
        ({"size": [6, 8], "counts": [10, 100]}, "do not cover the 6x8 mask"),
        ({"counts": "=2"}, "needs 'size'"),
        ([[1, 1, 5, 1, 5, 5]], "polygon segmentation needs the frame size"),
        ([[1, 1, 5]], "polygon must be"),
    ],
)
def test_coco_bad_segmentation(tmp_path, segmentation, problem):
    entry = {"image_id": 1, "bbox": [0, 0, 1, 1], "score": 1, "category_id": 1,
             "segmentation": segmentation}
    path = _write(tmp_path / "r.json", json.dumps([entry]))
    with pytest.raises(InputError, match=f"r.json: annotation 0: .*{problem}"):
        read_coco_detections(path, image_size=None if "frame size" in problem else (6, 8))


@pytest.mark.parametrize(
    "entry, problem",
    [
        ({"image_id": 1, "score": 0.5, "category_id": 1}, "missing key 'bbox'"),
        ({"image_id": 1, "bbox": [0, 0, 1, 1], "category_id": 1}, "missing key 'score'"),
        ({"image_id": 1, "bbox": [0, 0, float("nan"), 1], "score": 1, "category_id": 1}, "NaN"),
        ({"image_id": 1, "bbox": [0, 0, -3, 1], "score": 1, "category_id": 1}, "width and height"),
        ({"frame_index": -2, "bbox": [0, 0, 1, 1], "score": 1, "category_id": 1}, "frame index"),
        ({"image_id": 0, "bbox": [0, 0, 1, 1], "score": 1, "category_id": 1}, "image_id must be"),
    ],
)
def test_coco_bad_entry_names_file_and_index(tmp_path, entry, problem):
    good = {"image_id": 1, "bbox": [0, 0, 1, 1], "score": 1, "category_id": 1}
    path = _write(tmp_path / "r.json", json.dumps([good, entry]))
    with pytest.raises(InputError) as e:
        read_coco_detections(path)
    assert "r.json: annotation 1:" in str(e.value) and problem in str(e.value)


def test_coco_unknown_image_category_and_several_videos(tmp_path):
    base = {"images": [{"id": 1, "video_id": 1}, {"id": 2, "video_id": 2}],
            "categories": [{"id": 1, "name": "a"}]}

    def ann(image_id: int, cat: int = 1) -> dict:
        return {"image_id": image_id, "bbox": [0, 0, 1, 1], "category_id": cat}

    cases = [([ann(9)], "image_id 9 is not in 'images'"), ([ann(1, 4)], "category_id 4"),
             ([ann(1), ann(2)], "cover 2 videos")]
    for anns, problem in cases:
        path = _write(tmp_path / "d.json", json.dumps({**base, "annotations": anns}))
        with pytest.raises(InputError, match=problem):
            read_coco_detections(path)
    assert read_coco_detections(path, video_id=2).num_detections == 1
    with pytest.raises(InputError, match=r"bad.json:1: invalid JSON"):
        read_coco_detections(_write(tmp_path / "bad.json", "[{"))


def test_read_detections_dispatch_and_check_frames(tmp_path):
    mot = read_detections(_write(tmp_path / "a.txt", "5,-1,0,0,1,1,1\n"))
    coco = read_detections(_write(tmp_path / "a.json", json.dumps(
        [{"frame_index": 4, "bbox": [0, 0, 1, 1], "score": 1.0, "category_id": 0}])))
    assert mot.frame_indices == coco.frame_indices == [4]
    check_frames(mot, 5, "a.txt")
    with pytest.raises(InputError, match=r"a.txt: detections reference frame 5, .* only 4 frames"):
        check_frames(mot, 4, "a.txt")
    with pytest.raises(InputError, match=r"a.json: detections reference frame index 4"):
        check_frames(coco, 4, "a.json")
    with pytest.raises(InputError, match="unsupported detections format '.csv'"):
        read_detections(_write(tmp_path / "a.csv", "x"))


def test_det_layout_keeps_a_detectors_class_column(tmp_path) -> None:
    from masa.io import read_mot_detections

    path = tmp_path / "dets.txt"
    path.write_text("1,-1,10,10,20,20,0.9,2,1\n1,-1,40,10,20,20,0.8,1,1\n")
    table = read_mot_detections(path)
    assert table.get(0).class_id.tolist() == [2, 1] and table.class_names == {1: "1", 2: "2"}
    path.write_text("1,-1,10,10,20,20,0.9,-1,-1,-1\n")  # MOT15 det: world coordinates, unknown
    assert read_mot_detections(path).get(0).class_id.tolist() == [0]
