"""Tests for masa.io.writers: round trips, temporal class consistency, atomicity, H.264 output."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from masa.io.detections import read_coco_detections, read_mot_detections
from masa.io.writers import MotTxtWriter, OverlayVideoWriter, TaoJsonWriter
from masa.structures import Detections


def _dets(xyxy, tracker_id, class_id=None, confidence=None, **kwargs) -> Detections:
    n = len(xyxy)
    return Detections.from_arrays(
        np.asarray(xyxy, np.float32).reshape(n, 4),
        [0.5] * n if confidence is None else confidence,
        [0] * n if class_id is None else class_id,
        tracker_id=tracker_id,
        **kwargs,
    )


def test_mot_round_trip(tmp_path):
    path = tmp_path / "out" / "seq.txt"
    with MotTxtWriter(path) as writer:
        writer.write(0, _dets([[10, 20, 40, 60], [1, 1, 2, 2]], [0, -1], confidence=[0.91234, 0.1]))
        writer.write(1, Detections.empty().replace(tracker_id=torch.zeros(0, dtype=torch.int64)))
        writer.write(2, _dets([[0.5, 0.25, 10.5, 20.25], [5, 5, 9, 9]], [0, 7]))
    assert path.read_text().splitlines()[0] == "1,1,10.00,20.00,30.00,40.00,0.9123,-1,-1,-1"
    table = read_mot_detections(path)
    assert table.frame_indices == [0, 2] and table.num_detections == 3
    assert table.get(0).data["source_id"].tolist() == [1]  # tracker id 0 -> 1 on disk
    assert table.get(2).data["source_id"].tolist() == [1, 8]
    assert table.get(2).xyxy[0].tolist() == pytest.approx([0.5, 0.25, 10.5, 20.25], abs=0.01)
    assert sorted(p.name for p in path.parent.iterdir()) == ["seq.txt"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_tao_json_temporal_class_consistency(tmp_path):
    path = tmp_path / "tao.json"
    names = {1: "person", 2: "dog", 3: "cat"}
    with TaoJsonWriter(path, video_name="v", class_names=names, video_id=9) as writer:
        # track 0 votes 2:1 for class 3; track 5 ties 1:1 between classes 2 and 1 -> smaller id 1
        writer.write(0, _dets([[0, 0, 10, 10], [5, 5, 8, 9]], [0, 5], class_id=[3, 2]))
        writer.write(1, _dets([[1, 1, 11, 11], [5, 5, 8, 9]], [0, 5], class_id=[2, 1]))
        writer.write(2, _dets([[2, 2, 12, 12], [0, 0, 1, 1]], [0, -1], class_id=[3, 2]))
    entries = json.loads(path.read_text())
    assert len(entries) == 5
    # tracker ids 0 and 5 are written as 1 and 6, the MOT txt's ids
    assert {e["category_id"] for e in entries if e["track_id"] == 1} == {3}
    assert {e["category_id"] for e in entries if e["track_id"] == 6} == {1}
    first = entries[0]
    assert first == {
        "image_id": 1, "video_id": 9, "track_id": 1, "bbox": [0.0, 0.0, 10.0, 10.0],
        "score": 0.5, "category_id": 3, "category_name": "cat",
    }
    table = read_coco_detections(path)  # image_id - 1 -> frame index, track_id -> source_id
    assert table.frame_indices == [0, 1, 2] and table.get(1).data["source_id"].tolist() == [1, 6]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tao.json"]


def test_tao_json_without_tcc_keeps_classes(tmp_path):
    path = tmp_path / "tao.json"
    with TaoJsonWriter(path, video_name="v", class_names={}, temporal_class_consistency=False,
                       write_category_names=False) as writer:
        writer.write(0, _dets([[0, 0, 1, 1]], [2], class_id=[4]))
        writer.write(1, _dets([[0, 0, 1, 1]], [2], class_id=[6]))
    assert [e["category_id"] for e in json.loads(path.read_text())] == [4, 6]
    assert "category_name" not in json.loads(path.read_text())[0]


def _overlay(path, width=65, height=49):
    return OverlayVideoWriter(path, fps=12.5, width=width, height=height, class_names={0: "thing"})


@pytest.mark.parametrize(
    "make",
    [
        lambda p: MotTxtWriter(p / "a.txt"),
        lambda p: TaoJsonWriter(p / "a.json", video_name="v", class_names={0: "x"}),
        lambda p: _overlay(p / "a.mp4"),
    ],
    ids=["mot", "tao", "overlay"],
)
def test_exception_inside_with_leaves_nothing(tmp_path, make):
    image = np.zeros((49, 65, 3), np.uint8)
    with pytest.raises(KeyError):
        with make(tmp_path) as writer:
            writer.write(0, _dets([[1, 1, 9, 9]], [0]), image)
            raise KeyError("boom")
    assert list(tmp_path.iterdir()) == []
    writer = make(tmp_path)
    writer.write(0, _dets([[1, 1, 9, 9]], [0]), image)
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_overlay_video_is_h264_with_right_frames_and_size(tmp_path):
    import av

    path = tmp_path / "overlay.mp4"
    rng = np.random.default_rng(0)
    mask = np.zeros((2, 49, 65), bool)
    mask[0, 5:20, 5:30] = True
    with _overlay(path) as writer:
        for k in range(6):
            image = rng.integers(0, 255, (49, 65, 3), dtype=np.uint8)
            boxes = [[5 + k, 5, 30 + k, 20], [40, 30, 60, 45]]
            writer.write(k, _dets(boxes, [3, -1], mask=mask), image)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        rate = float(stream.average_rate)  # read while open: PyAV 18.1.1 refuses it after close
        frames = list(container.decode(stream))
    assert len(frames) == 6
    assert (frames[0].width, frames[0].height) == (66, 50)  # odd sizes padded to even
    assert frames[0].format.name == "yuv420p"
    assert rate == pytest.approx(12.5)


def test_overlay_requires_matching_image_and_closed_writer_refuses(tmp_path):
    writer = _overlay(tmp_path / "o.mp4", width=64, height=48)
    with pytest.raises(ValueError, match="image must be uint8"):
        writer.write(0, _dets([[1, 1, 9, 9]], [0]), None)
    writer.write(0, _dets([[1, 1, 9, 9]], [0]), np.zeros((48, 64, 3), np.uint8))
    writer.close()
    with pytest.raises(RuntimeError, match="closed"):
        writer.write(1, _dets([[1, 1, 9, 9]], [0]), np.zeros((48, 64, 3), np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4"]
