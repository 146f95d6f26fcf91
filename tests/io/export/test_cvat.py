"""masa.io.export.cvat: CVAT for video 1.1 XML, outside rows at pauses, polygons from masks."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from masa.io.export import CvatVideoXmlWriter
from masa.io.export.cvat import mask_to_polygon
from tests.io.export.dets import STRIDED, dets


def _write(path: Path, frames, **kw) -> ET.Element:
    args = {
        "video_name": "clip",
        "class_names": {1: "car", 2: "bus & co"},
        "width": 64,
        "height": 48,
        "total_frames": 10,
        "source": "clip.mp4",
        **kw,
    }
    with CvatVideoXmlWriter(path, **args) as writer:
        for frame_idx, d in frames:
            writer.write(frame_idx, d)
    return ET.parse(path).getroot()


def _shapes(track: ET.Element) -> list[tuple[int, str]]:
    return [(int(s.get("frame")), s.get("outside")) for s in track]


def test_tracks_boxes_and_outside_rows(tmp_path: Path) -> None:
    root = _write(tmp_path / "clip.cvat.xml", STRIDED)
    assert root.tag == "annotations" and root.findtext("version") == "1.1"
    task = root.find("meta/task")
    assert [
        task.findtext(k) for k in ("name", "size", "mode", "start_frame", "stop_frame", "source")
    ] == ["clip", "10", "interpolation", "0", "9", "clip.mp4"]
    assert [label.findtext("name") for label in task.iter("label")] == ["car", "bus & co"]
    assert (task.findtext("original_size/width"), task.findtext("original_size/height")) == (
        "64",
        "48",
    )
    first, second = root.findall("track")
    assert (first.get("id"), first.get("label")) == (
        "1",
        "car",
    )  # tracker id 0 -> 1, majority class
    # frames 0, 2, absent at 4 (outside), back at 6, 8 (the last processed frame: no outside row)
    assert _shapes(first) == [(0, "0"), (2, "0"), (4, "1"), (6, "0"), (8, "0")]
    assert all(s.tag == "box" and s.get("keyframe") == "1" for s in first)
    assert [first[0].get(k) for k in ("xtl", "ytl", "xbr", "ybr")] == [
        "0.00",
        "0.00",
        "10.00",
        "10.00",
    ]
    assert first[2].get("xtl") == "2.00"  # the outside row repeats the last box
    assert (second.get("id"), second.get("label")) == ("4", "bus & co")
    assert _shapes(second) == [(2, "0"), (4, "0"), (6, "1")]


def test_masks_give_polygon_tracks(tmp_path: Path) -> None:
    mask = np.zeros((1, 48, 64), bool)
    mask[0, 10:20, 5:25] = True
    frames = [
        (0, dets([[5, 10, 25, 20]], [0], mask=mask)),
        (1, dets([[5, 10, 25, 20]], [0], mask=np.zeros((1, 48, 64), bool))),  # empty: the box
        (2, dets([], [], mask=np.zeros((0, 48, 64), bool))),
    ]
    root = _write(tmp_path / "m.xml", frames, total_frames=3)
    (track,) = root.findall("track")
    assert [s.tag for s in track] == ["polygon", "polygon", "polygon"] and _shapes(track)[-1] == (
        2,
        "1",
    )
    corners = {tuple(map(float, p.split(","))) for p in track[0].get("points").split(";")}
    assert corners == {(5, 10), (5, 19), (24, 19), (24, 10)}  # the pixel outline of the rectangle
    assert track[1].get("points") == "5.00,10.00;25.00,10.00;25.00,20.00;5.00,20.00"


def test_mask_to_polygon() -> None:
    assert mask_to_polygon(np.zeros((5, 5), bool)) is None
    assert mask_to_polygon(np.eye(1, dtype=bool)) is None  # one pixel: no area
    two = np.zeros((20, 20), bool)
    two[1:3, 1:3] = True
    two[5:15, 5:15] = True
    assert mask_to_polygon(two).min(axis=0).tolist() == [5, 5]  # the larger part


def test_error_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with CvatVideoXmlWriter(
            tmp_path / "a.xml", video_name="v", class_names={}, width=4, height=4, total_frames=1
        ) as writer:
            writer.write(0, dets([[0, 0, 1, 1]], [0]))
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_unknown_length_runs_to_the_last_frame(tmp_path: Path) -> None:
    root = _write(tmp_path / "live.xml", STRIDED, total_frames=None)  # a live source
    assert (root.findtext("meta/task/size"), root.findtext("meta/task/stop_frame")) == ("9", "8")
