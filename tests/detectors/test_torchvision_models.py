"""torchvision detectors: random weights end to end, weights from a file, and offline errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from masa.detectors import DetectAhead, FilteredDetector, build_ssdlite_detector
from masa.detectors.torchvision_models import build_fcos_detector
from masa.errors import InputError
from masa.io import Frame
from masa.pipeline import track_frames


@pytest.fixture(scope="module")
def random_ssdlite():
    torch.manual_seed(0)
    return build_ssdlite_detector(weights=None)


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(3)]


def test_random_weights_run_end_to_end_through_the_pipeline(
    random_ssdlite, frames, tiny_checkpoint: Path
) -> None:
    from masa.tracking import build_tao_tracker_test
    from masa.weights import load_adapter

    assert random_ssdlite.class_names[1] == "person" and random_ssdlite.class_names[3] == "car"
    assert "__background__" not in random_ssdlite.class_names.values()
    detector = FilteredDetector(random_ssdlite, nms_iou_threshold=0.1)
    ahead = DetectAhead([Frame(i, image) for i, image in enumerate(frames)], detector, batch_size=3)
    results = list(
        track_frames(ahead, ahead.detect, load_adapter(tiny_checkpoint), build_tao_tracker_test())
    )
    assert [r.frame_idx for r in results] == [0, 1, 2]
    for r in results:
        dets = r.detections
        assert len(dets) > 0 and dets.tracker_id is not None
        assert bool((dets.xyxy[:, 2:] <= torch.tensor([160.0, 120.0])).all())


def test_weights_from_a_state_dict_file(random_ssdlite, tmp_path: Path) -> None:
    path = tmp_path / "ssdlite.pth"
    torch.save(random_ssdlite.model.state_dict(), path)
    loaded = build_ssdlite_detector(weights=path)
    expected = random_ssdlite.model.state_dict()
    actual = loaded.model.state_dict()
    assert actual.keys() == expected.keys()
    assert all(torch.equal(actual[k], expected[k]) for k in expected)


def test_weights_that_do_not_fit_are_refused(random_ssdlite, tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"backbone.nothing": torch.zeros(1)}, path)
    with pytest.raises(InputError, match="does not fit the model: missing"):
        build_ssdlite_detector(weights=path)
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"garbage")
    with pytest.raises(InputError, match="cannot read detector weights"):
        build_ssdlite_detector(weights=broken)


def test_pretrained_weights_offline_are_a_one_line_error(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("MASA_OFFLINE", "1")
    with pytest.raises(
        InputError,
        match=r"fcos_resnet50_fpn_coco-99b0c9b7\.pth is not cached .* --detector-weights",
    ):
        build_fcos_detector()
    with pytest.raises(FileNotFoundError, match="neither a file nor one of COCO_V1, DEFAULT"):
        build_fcos_detector(weights="IMAGENET")
