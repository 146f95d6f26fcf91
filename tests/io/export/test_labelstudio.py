"""masa.io.export.labelstudio: videorectangle predictions and their labeling config."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from masa.io.export import LabelStudioVideoWriter
from tests.io.export.dets import STRIDED, dets


def _write(path: Path, frames, **kw) -> dict:
    args = {
        "video_url": "/data/local-files/?d=clip.mp4",
        "class_names": {1: "car"},
        "width": 100,
        "height": 50,
        "fps": 4.0,
        "total_frames": 10,
        **kw,
    }
    with LabelStudioVideoWriter(path, **args) as writer:
        for frame_idx, d in frames:
            writer.write(frame_idx, d)
    (task,) = json.loads(path.read_text())
    return task


def test_one_region_per_track_with_keyframes(tmp_path: Path) -> None:
    task = _write(tmp_path / "clip.labelstudio.json", STRIDED)
    assert task["data"] == {"video": "/data/local-files/?d=clip.mp4"}
    (prediction,) = task["predictions"]
    assert prediction["model_version"] == "masa" and prediction["score"] == 0.5
    first, second = prediction["result"]
    assert {k: first[k] for k in ("id", "from_name", "to_name", "type")} == {
        "id": "1",
        "from_name": "box",
        "to_name": "video",
        "type": "videorectangle",
    }
    value = first["value"]
    assert (value["framesCount"], value["duration"], value["labels"]) == (10, 2.5, ["car"])
    # 1-based frames, time = frame_idx / fps, percent of 100 x 50; disabled before the gap and at
    # the end
    assert [(k["frame"], k["time"], k["enabled"]) for k in value["sequence"]] == [
        (1, 0.0, True),
        (3, 0.5, False),
        (7, 1.5, True),
        (9, 2.0, False),
    ]
    assert {k: value["sequence"][1][k] for k in ("x", "y", "width", "height", "rotation")} == {
        "x": 2.0,
        "y": 0.0,
        "width": 10.0,
        "height": 20.0,
        "rotation": 0,
    }
    assert second["id"] == "4" and second["value"]["labels"] == ["2"]  # a class without a name
    assert [k["enabled"] for k in second["value"]["sequence"]] == [True, False]


def test_config_lists_every_label_and_the_frame_rate(tmp_path: Path) -> None:
    _write(tmp_path / "clip.labelstudio.json", STRIDED, class_names={1: 'a "car"', 5: "truck"})
    config = ET.fromstring((tmp_path / "clip.labelstudio.xml").read_text())
    assert [label.get("value") for label in config.iter("Label")] == ['a "car"', "2", "truck"]
    assert config.find("Video").attrib == {"name": "video", "value": "$video", "framerate": "4"}
    assert config.find("VideoRectangle").attrib == {"name": "box", "toName": "video"}
    assert config.find("Labels").get("toName") == "video"


def test_boxes_are_clipped_to_the_frame(tmp_path: Path) -> None:
    task = _write(tmp_path / "c.json", [(0, dets([[-10, 40, 50, 70]], [0]))])
    key = task["predictions"][0]["result"][0]["value"]["sequence"][0]
    assert (key["x"], key["y"], key["width"], key["height"]) == (0.0, 80.0, 50.0, 20.0)


def test_error_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with LabelStudioVideoWriter(
            tmp_path / "a.json",
            video_url="v",
            class_names={},
            width=4,
            height=4,
            fps=1,
            total_frames=1,
        ) as writer:
            writer.write(0, dets([[0, 0, 1, 1]], [0]))
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_unknown_length_runs_to_the_last_frame(tmp_path: Path) -> None:
    task = _write(tmp_path / "live.json", STRIDED, total_frames=None)  # a live source
    value = task["predictions"][0]["result"][0]["value"]
    assert (value["framesCount"], value["duration"]) == (9, 2.25)
