"""The detector interface: user callables, filtering and NMS, class names, batching ahead."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
import torch

from masa.detectors import (
    CallableDetector,
    DetectAhead,
    FilteredDetector,
    filter_detections,
    resolve_class_ids,
)
from masa.errors import InputError
from masa.io import Frame
from masa.pipeline import track_frames
from masa.structures import Detections

IMAGE = np.zeros((40, 60, 3), dtype=np.uint8)


def test_callable_per_image_and_batched_give_the_same_detections() -> None:
    def per_image(image):
        return [[1, 2, 11, 22]], [0.9], [3]

    single = CallableDetector(per_image, class_names={3: "car"})([IMAGE, IMAGE])
    batched = CallableDetector(lambda images: [per_image(i) for i in images], batched=True)(
        [IMAGE, IMAGE]
    )
    for dets in (*single, *batched):
        torch.testing.assert_close(dets.xyxy, torch.tensor([[1.0, 2.0, 11.0, 22.0]]))
        assert dets.class_id.dtype == torch.int64 and dets.class_id.tolist() == [3]
    assert CallableDetector(per_image).class_names == {0: "object"}


def test_callable_accepts_detections_and_empty_outputs() -> None:
    dets = Detections.from_arrays([[0, 0, 5, 5]], [0.5])
    out = CallableDetector(lambda image: dets)([IMAGE])[0]
    assert out is dets
    empty = CallableDetector(lambda image: (np.zeros((0, 4)), [], []))([IMAGE])[0]
    assert len(empty) == 0 and empty.xyxy.shape == (0, 4)
    no_labels = CallableDetector(lambda image: ([[0, 0, 5, 5]], [0.5]))([IMAGE])[0]
    assert no_labels.class_id.tolist() == [0]


@pytest.mark.parametrize(
    "output, error, message",
    [
        (([[0, 0, 5]], [0.5], [0]), ValueError, r"shape \(N, 4\), but got shape \(1, 3\)"),
        (([[0, 0, 5, 5]], [0.5, 0.4], [0]), ValueError, "same length, but got 1, 2 and 1"),
        (([[5, 0, 0, 5]], [0.5], [0]), ValueError, "x1 <= x2"),
        ("boxes", TypeError, "must return"),
    ],
)
def test_callable_rejects_malformed_outputs(output, error, message) -> None:
    with pytest.raises(error, match=message):
        CallableDetector(lambda image: output)([IMAGE])


def test_images_must_be_uint8_rgb() -> None:
    with pytest.raises(ValueError, match=r"images\[0\] must be uint8 with shape \(H, W, 3\)"):
        CallableDetector(lambda image: ([], [], []))([IMAGE.astype(np.float32)])


# Boxes: 0 and 1 overlap with IoU 0.81 (9x9 inside 10x10 => 81/100); 2 is apart.
_DETS = Detections.from_arrays(
    [[0, 0, 10, 10], [0, 0, 9, 9], [20, 20, 30, 30]], [0.6, 0.9, 0.3], [1, 2, 1]
)


@pytest.mark.parametrize(
    "kwargs, expected_scores",
    [
        ({}, [0.6, 0.9, 0.3]),
        ({"class_ids": [1]}, [0.6, 0.3]),
        ({"score_threshold": 0.5}, [0.6, 0.9]),
        (
            {"nms_iou_threshold": 0.8},
            [0.9, 0.3],
        ),  # class-agnostic: box 0 (class 1) goes under box 1 (class 2)
        ({"nms_iou_threshold": 0.85}, [0.9, 0.6, 0.3]),
        ({"class_ids": [1], "nms_iou_threshold": 0.5}, [0.6, 0.3]),
    ],
)
def test_filter_detections(kwargs, expected_scores) -> None:
    kept = filter_detections(_DETS, **kwargs)
    assert kept.confidence.tolist() == pytest.approx(expected_scores)


def test_filtered_detector_keeps_class_names() -> None:
    inner = CallableDetector(lambda image: _DETS, class_names={1: "a", 2: "b"})
    wrapped = FilteredDetector(inner, class_ids=[2])
    assert wrapped.class_names == {1: "a", 2: "b"}
    assert wrapped([IMAGE])[0].class_id.tolist() == [2]


def test_resolve_class_ids_by_name_or_id() -> None:
    names = {0: "person", 2: "car", 67: "cell phone"}
    assert resolve_class_ids(["car", " Person", "67", "car"], names) == (2, 0, 67)
    with pytest.raises(
        InputError, match=r"--classes: 'truck' is not a class of this detector \(known: car, cell"
    ):
        resolve_class_ids(["truck"], names)


class _CountingDetector:
    class_names: ClassVar[dict[int, str]] = {0: "object"}

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []

    def __call__(self, images):
        self.batch_sizes.append(len(images))
        return [
            Detections.from_arrays([[0, 0, 1 + int(image[0, 0, 0]), 5]], [0.9]) for image in images
        ]


class _Embedder:
    def embed(self, image, boxes_xyxy):
        return torch.ones(len(boxes_xyxy), 4)


class _Tracker:
    def reset(self) -> None:
        pass

    def update(self, detections, frame_idx):
        return detections.replace(tracker_id=torch.full((len(detections),), frame_idx))


def test_detect_ahead_runs_the_detector_per_batch_and_keeps_frame_order() -> None:
    frames = [Frame(i, np.full((8, 8, 3), i, dtype=np.uint8)) for i in range(7)]
    detector = _CountingDetector()
    ahead = DetectAhead(frames, detector, batch_size=3)
    results = list(track_frames(ahead, ahead.detect, _Embedder(), _Tracker()))
    assert detector.batch_sizes == [3, 3, 1]
    assert [r.frame_idx for r in results] == list(range(7))
    assert [r.detections.xyxy[0, 2].item() for r in results] == [
        1 + i for i in range(7)
    ]  # frame i's own boxes
    assert len(ahead) == 7 and ahead.class_names == {0: "object"}


def test_detect_ahead_passes_source_attributes_and_refuses_foreign_frames() -> None:
    class Source(list):
        name, fps, height, width = "clip", 12.5, 8, 8

    ahead = DetectAhead(Source([Frame(0, IMAGE)]), _CountingDetector(), batch_size=2)
    assert (ahead.name, ahead.fps, ahead.num_frames) == ("clip", 12.5, 1)
    with pytest.raises(RuntimeError, match="frame 5 was not read through this DetectAhead"):
        ahead.detect(5, IMAGE)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        DetectAhead([], _CountingDetector(), batch_size=0)
