"""masa.io.export.yolo: Ultralytics dataset layout, normalised boxes, track-id sidecar, frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from masa.io.export import YoloDatasetWriter
from tests.io.export.dets import STRIDED, dets

W, H = 100, 50


def _write(folder: Path, frames, images=None, **kw) -> None:
    args = {
        "video_name": "clip",
        "class_names": {2: "bus", 1: "car"},
        "width": W,
        "height": H,
        **kw,
    }
    with YoloDatasetWriter(folder, **args) as writer:
        for frame_idx, d in frames:
            writer.write(frame_idx, d, None if images is None else images[frame_idx])


def test_labels_tracks_and_data_yaml(tmp_path: Path) -> None:
    folder = tmp_path / "clip_yolo"
    _write(folder, STRIDED)
    labels = sorted(p.name for p in (folder / "labels" / "train").iterdir())
    assert labels == [
        "clip_000001.txt",
        "clip_000003.txt",
        "clip_000005.txt",
        "clip_000007.txt",
        "clip_000009.txt",
    ]  # 1-based frame numbers, one file per written frame
    assert not (folder / "images").exists()
    # frame 2: tracker ids 0 (car -> class 0) and 3 (bus -> class 1)
    assert (folder / "labels" / "train" / "clip_000003.txt").read_text().splitlines() == [
        "0 0.070000 0.100000 0.100000 0.200000",
        "1 0.300000 0.600000 0.200000 0.400000",
    ]
    assert (folder / "tracks" / "train" / "clip_000003.txt").read_text().splitlines() == [
        "0 0.070000 0.100000 0.100000 0.200000 0.5000 1",
        "1 0.300000 0.600000 0.200000 0.400000 0.5000 4",
    ]
    assert (folder / "labels" / "train" / "clip_000001.txt").read_text().count(
        "\n"
    ) == 1  # -1 skipped
    yaml = (folder / "data.yaml").read_text()
    assert 'train: images/train\nval: images/train\nnc: 2\nnames:\n  0: "car"\n  1: "bus"\n' in yaml


def test_unnamed_classes_are_appended_and_boxes_clipped(tmp_path: Path) -> None:
    folder = tmp_path / "y"
    _write(folder, [(0, dets([[-10, -5, 20, 60], [0, 0, 10, 10]], [0, 1], class_id=[7, 1]))])
    assert (folder / "labels" / "train" / "clip_000001.txt").read_text().splitlines() == [
        "2 0.100000 0.500000 0.200000 1.000000",
        "0 0.050000 0.100000 0.100000 0.200000",
    ]
    assert (folder / "data.yaml").read_text().endswith('  0: "car"\n  1: "bus"\n  2: "7"\n')


def test_save_frames_writes_the_rgb_frames_as_jpeg(tmp_path: Path) -> None:
    image = np.zeros((H, W, 3), np.uint8)
    image[..., 0] = 200  # red in RGB
    folder = tmp_path / "y"
    _write(folder, [(4, dets([[0, 0, 10, 10]], [0]))], images={4: image}, save_frames=True)
    saved = cv2.imread(str(folder / "images" / "train" / "clip_000005.jpg"))  # BGR
    assert (
        saved.shape == (H, W, 3)
        and abs(int(saved[..., 2].mean()) - 200) <= 2
        and saved[..., 0].max() < 10
    )
    with pytest.raises(ValueError, match="save_frames needs the frame"):
        _write(tmp_path / "z", [(0, dets([[0, 0, 1, 1]], [0]))], save_frames=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["y"]  # the failed folder is gone


def test_replaces_an_old_folder_only_on_success(tmp_path: Path) -> None:
    folder = tmp_path / "y"
    _write(folder, [(0, dets([[0, 0, 1, 1]], [0]))])
    with pytest.raises(RuntimeError):
        with YoloDatasetWriter(
            folder, video_name="new", class_names={}, width=W, height=H
        ) as writer:
            writer.write(0, dets([[0, 0, 1, 1]], [0]))
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["y"]
    assert (folder / "labels" / "train" / "clip_000001.txt").is_file()
    _write(folder, [], video_name="new")
    assert list((folder / "labels" / "train").iterdir()) == [] and (folder / "data.yaml").is_file()
