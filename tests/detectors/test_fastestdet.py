"""FastestDet: the reference decoding on a hand-made output map, real people on real PETS09 frames,
and where its weights come from."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from masa.detectors.fastestdet import (
    COCO80_NAMES,
    build_fastestdet_detector,
    decode_fastestdet,
    resolve_fastestdet_weights,
)
from masa.errors import InputError

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def weights_dir(shared: Path) -> Path:
    return shared / "data" / "weights" / "fastestdet"


@pytest.fixture(scope="module")
def detector(weights_dir: Path):
    return build_fastestdet_detector(weights=weights_dir, num_threads=1)


def test_decode_matches_the_reference_formulas() -> None:
    # One confident cell at (gy, gx) = (1, 2) of a 4x4 grid; sigmoid(0) = 0.5 sizes.
    fm = np.zeros((85, 4, 4), dtype=np.float32)
    fm[5:] = 1.0 / 80  # uniform class probabilities elsewhere: score 0 * ... = 0
    fm[0, 1, 2] = 0.9
    fm[5 + 2, 1, 2] = 0.8  # car
    fm[1, 1, 2] = math.atanh(0.5)  # x offset +0.5 cell
    dets = decode_fastestdet(fm, 100, 200, score_threshold=0.5, nms_iou_threshold=0.35)
    cx, cy = (2 + 0.5) / 4, (1 + 0) / 4
    expected = torch.tensor(
        [[(cx - 0.25) * 200, (cy - 0.25) * 100, (cx + 0.25) * 200, (cy + 0.25) * 100]]
    )
    torch.testing.assert_close(dets.xyxy, expected)
    assert dets.confidence.tolist() == pytest.approx([0.72])
    assert dets.class_id.tolist() == [2] and COCO80_NAMES[2] == "car"


def test_decode_clips_to_the_frame_and_suppresses_overlaps() -> None:
    fm = np.zeros((85, 2, 2), dtype=np.float32)
    fm[0] = [[0.9, 0.8], [0.0, 0.0]]
    fm[5] = 1.0  # person everywhere
    fm[3:5] = 10.0  # boxes of (almost) the whole frame: both cells overlap fully
    dets = decode_fastestdet(fm, 50, 80, score_threshold=0.5, nms_iou_threshold=0.35)
    assert len(dets) == 1 and dets.confidence.item() == pytest.approx(0.9)
    assert (
        float(dets.xyxy.min()) >= 0
        and float(dets.xyxy[0, 2]) <= 80
        and float(dets.xyxy[0, 3]) <= 50
    )


def _pets_frame(shared: Path, frame: int) -> np.ndarray:
    image = cv2.imread(str(shared / "data" / "mot" / "PETS09-S2L1" / "img1" / f"{frame:06d}.jpg"))
    return np.ascontiguousarray(image[..., ::-1])


def _gt_boxes(shared: Path, frame: int) -> torch.Tensor:
    gt = np.loadtxt(shared / "data" / "mot" / "PETS09-S2L1" / "gt" / "gt.txt", delimiter=",")
    rows = gt[(gt[:, 0] == frame) & (gt[:, 6] != 0)]
    return torch.tensor(np.c_[rows[:, 2:4], rows[:, 2:4] + rows[:, 4:6]], dtype=torch.float32)


def test_finds_the_pedestrians_of_pets09(detector, shared: Path) -> None:
    frames = (1, 50)
    results = detector([_pets_frame(shared, f) for f in frames])  # one batch of two real frames
    matched = total = 0
    for frame, dets in zip(frames, results):
        people = dets[dets.class_id == 0]
        assert len(people) >= 3 and bool((people.confidence > 0.5).all())
        best_iou = box_iou(_gt_boxes(shared, frame), people.xyxy).max(1).values  # (G,)
        matched += int((best_iou > 0.5).sum())
        total += len(best_iou)
    assert matched / total >= 0.75, f"only {matched} of {total} pedestrians found with IoU > 0.5"


def test_input_is_fed_as_bgr_like_the_reference(detector, shared: Path) -> None:
    # The network was trained on cv2.imread (BGR) images: feeding the colour-swapped frame must
    # change the scores, so the flip is really applied.
    frame = _pets_frame(shared, 1)
    as_rgb, as_bgr = detector([frame, np.ascontiguousarray(frame[..., ::-1])])
    assert not torch.allclose(
        as_rgb.confidence.sort().values[-3:], as_bgr.confidence.sort().values[-3:]
    )


def test_weights_from_a_file_a_folder_or_a_known_name(
    weights_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    onnx = weights_dir / "FastestDet.onnx"
    assert resolve_fastestdet_weights(onnx) == onnx
    assert resolve_fastestdet_weights(weights_dir) == onnx
    with pytest.raises(FileNotFoundError, match=r"holds no FastestDet\.onnx"):
        resolve_fastestdet_weights(tmp_path)
    with pytest.raises(FileNotFoundError, match="known: fastestdet"):
        resolve_fastestdet_weights("yolo")
    monkeypatch.setenv("MASA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MASA_OFFLINE", "1")
    with pytest.raises(
        InputError,
        match=r"not cached and MASA_OFFLINE is set: download https://raw\.githubusercontent",
    ):
        resolve_fastestdet_weights("fastestdet")
    cached = tmp_path / "home" / "detectors" / "FastestDet.onnx"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(onnx.read_bytes())
    assert resolve_fastestdet_weights(None) == cached  # the known name, from the cache, offline


def test_a_broken_onnx_file_is_a_one_line_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "FastestDet.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(InputError, match="cannot load the ONNX model"):
        build_fastestdet_detector(weights=bad)
