"""Mask outputs: exact RLE round trips, MOTS JSON, COCO-video JSON (read back by our reader) and PNG
id maps, all atomic."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from masa.io import read_coco_detections
from masa.io.export import CocoVideoJsonWriter
from masa.io.mots import IdMapPngWriter, MotsJsonWriter, mask_to_rle, rle_to_mask
from masa.structures import Detections

H, W = 7, 11


@pytest.mark.parametrize("shape", [(1, 1), (7, 11), (64, 33), (480, 854)])
def test_rle_round_trips_exactly(shape: tuple[int, int]) -> None:
    mask = np.random.default_rng(sum(shape)).random(shape) > 0.6
    rle = mask_to_rle(mask)
    assert rle["size"] == list(shape) and isinstance(rle["counts"], str)
    json.dumps(rle)
    assert np.array_equal(rle_to_mask(rle), mask)


def test_rle_is_row_major_image_order() -> None:
    # A C-ordered stack handed to pycocotools unchanged is mis-encoded; a single pixel shows it.
    mask = np.zeros((3, 5), dtype=bool)
    mask[0, 4] = True  # top-right
    decoded = rle_to_mask(mask_to_rle(mask))
    assert decoded[0, 4] and decoded.sum() == 1
    with pytest.raises(ValueError, match=r"shape \(H, W\)"):
        mask_to_rle(np.zeros((2, 3, 5), dtype=bool))


def _detections(frame_masks: list[np.ndarray], ids: list[int], scores: list[float]) -> Detections:
    masks = torch.zeros((0, H, W), dtype=torch.bool)
    if frame_masks:
        masks = torch.from_numpy(np.stack(frame_masks))
    boxes = torch.tensor([[1.0, 1.0, 5.0, 4.0]] * len(ids)).reshape(-1, 4)
    return Detections(boxes, torch.tensor(scores).reshape(-1), torch.zeros(len(ids), dtype=torch.int64),
                      mask=masks, tracker_id=torch.tensor(ids, dtype=torch.int64).reshape(-1))


def _mask(*cells: tuple[int, int]) -> np.ndarray:
    mask = np.zeros((H, W), dtype=bool)
    for y, x in cells:
        mask[y, x] = True
    return mask


def test_mots_json_is_scalabel_frames_with_rle(tmp_path: Path) -> None:
    path = tmp_path / "v.mots.json"
    with MotsJsonWriter(path, video_name="v", class_names={0: "object"}) as writer:
        masks = [_mask((1, 2)), np.zeros((H, W), bool), _mask((3, 3))]
        writer.write(0, _detections(masks, [4, 5, -1], [0.9, 0.8, 0.7]))
        writer.write(1, _detections([], [], []))
    frames = json.loads(path.read_text())
    assert [(f["name"], f["videoName"], f["frameIndex"]) for f in frames] == [("v-0000001.jpg", "v", 0),
                                                                              ("v-0000002.jpg", "v", 1)]
    (label,) = frames[0]["labels"]  # the empty mask and the untracked detection are not written
    # tracker id 4 is written as 5, the MOT txt's id
    assert (label["id"], label["category"], label["score"]) == ("5", "object", 0.9)
    assert label["box2d"] == {"x1": 1.0, "y1": 1.0, "x2": 5.0, "y2": 4.0}
    assert np.array_equal(rle_to_mask(label["rle"]), _mask((1, 2)))
    assert frames[1]["labels"] == []


def test_coco_video_json_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "v.coco.json"
    masks = [_mask((1, 2), (1, 3)), _mask((5, 9))]
    with CocoVideoJsonWriter(path, video_name="v", class_names={0: "object"}, width=W, height=H) as writer:
        writer.write(0, _detections(masks, [0, 1], [0.9, 0.6]))
        writer.write(2, _detections(masks[:1], [0], [0.8]))
    dataset = json.loads(path.read_text())
    assert [i["frame_id"] for i in dataset["images"]] == [0, 2]
    assert [a["id"] for a in dataset["annotations"]] == [1, 2, 3]
    assert dataset["annotations"][0]["area"] == 2 and dataset["categories"] == [{"id": 0, "name": "object"}]
    table = read_coco_detections(path)
    frame0 = table.get(0)
    # tracker ids 0, 1 are written as the MOT txt's 1, 2
    assert frame0.data["source_id"].tolist() == [1, 2]
    assert table.get(2).data["source_id"].tolist() == [1]
    assert np.array_equal(frame0.mask.numpy(), np.stack(masks))
    assert table.get(2).xyxy.tolist() == [[1.0, 1.0, 5.0, 4.0]]


def test_png_id_maps_give_overlaps_to_the_higher_score(tmp_path: Path) -> None:
    folder = tmp_path / "v_ids"
    with IdMapPngWriter(folder, width=W, height=H) as writer:
        writer.write(3, _detections([_mask((0, 0), (0, 1)), _mask((0, 1), (0, 2))], [7, 300], [0.4, 0.9]))
    ids = cv2.imread(str(folder / "000003.png"), cv2.IMREAD_UNCHANGED)
    assert ids.dtype == np.uint16 and ids.shape == (H, W)
    assert ids[0, :4].tolist() == [8, 301, 301, 0] and ids.sum() == 8 + 301 * 2


def test_writers_leave_nothing_on_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with MotsJsonWriter(tmp_path / "a.json", video_name="v", class_names={}) as mots, \
                IdMapPngWriter(tmp_path / "ids", width=W, height=H) as pngs:
            mots.write(0, _detections([_mask((1, 1))], [0], [0.5]))
            pngs.write(0, _detections([_mask((1, 1))], [0], [0.5]))
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="must have masks"):
        with MotsJsonWriter(tmp_path / "b.json", video_name="v", class_names={}) as mots:
            mots.write(0, _detections([_mask((1, 1))], [0], [0.5]).replace(mask=None))
    assert list(tmp_path.iterdir()) == []
