"""masa.io.export.coco without masks: a COCO-video box dataset that our reader reads back."""

from __future__ import annotations

import json
from pathlib import Path

from masa.io import read_coco_detections
from masa.io.export import CocoVideoJsonWriter
from tests.io.export.dets import STRIDED


def test_boxes_only_coco_video(tmp_path: Path) -> None:
    path = tmp_path / "clip.coco.json"
    with CocoVideoJsonWriter(
        path, video_name="clip", class_names={1: "car"}, width=100, height=50
    ) as writer:
        for frame_idx, d in STRIDED:
            writer.write(frame_idx, d)
    dataset = json.loads(path.read_text())
    assert [i["frame_id"] for i in dataset["images"]] == [0, 2, 4, 6, 8]
    first = dataset["annotations"][0]
    assert {
        k: first[k]
        for k in (
            "id",
            "image_id",
            "track_id",
            "instance_id",
            "attributes",
            "bbox",
            "area",
            "segmentation",
            "iscrowd",
        )
    } == {
        "id": 1,
        "image_id": 1,
        "track_id": 1,
        "instance_id": 1,
        "attributes": {"track_id": 1},
        "bbox": [0.0, 0.0, 10.0, 10.0],
        "area": 100.0,
        "segmentation": [],
        "iscrowd": 0,
    }
    assert dataset["categories"] == [{"id": 1, "name": "car"}, {"id": 2, "name": "2"}]
    table = read_coco_detections(path)  # `segmentation: []` is read as "no mask"
    assert table.get(2).data["source_id"].tolist() == [1, 4] and table.get(2).mask is None
