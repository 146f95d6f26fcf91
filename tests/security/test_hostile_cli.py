"""Every command that reads a weights file refuses a hostile one: exit code 2, one `error:` line
naming the file, no sentinel file, nothing written to --out.

One representative per path (the library readers get the whole container x payload matrix in
test_hostile_files.py): the issue's own snippet (a raw pickle, default protocol) and a torch zip
file whose pickle is protocol 5 (read by the restricted unpickler, not torch's).
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from masa_cli.app import app
from tests.conftest import REPO
from tests.security.hostile import write_hostile

runner = CliRunner()
SAMPLE = REPO / "samples" / "shapes.mp4"
SAMPLE_DETS = REPO / "samples" / "shapes_dets.txt"


class _IssueSnippet:
    """The object of issue 21: `pickle.dump({"state_dict": Evil()}, f)`."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


@pytest.fixture(params=["issue-snippet", "zip-p5"])
def hostile(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path]:
    """(hostile file, sentinel it would create)."""
    sentinel = tmp_path / "pwned"
    if request.param == "issue-snippet":
        path = tmp_path / "evil.pth"
        with open(path, "wb") as f:
            pickle.dump({"state_dict": _IssueSnippet(sentinel)}, f)
        return path, sentinel
    path = write_hostile(tmp_path, "zip-p5", "subprocess.Popen", sentinel, name="evil.pth")
    return path, sentinel


def _refused(result: object, path: Path, sentinel: Path, out: Path | None = None) -> None:
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0], lines
    assert "refused" in lines[0] and "Traceback" not in result.output  # type: ignore[attr-defined]
    assert not sentinel.exists()
    if out is not None:
        assert not out.exists() or not any(out.iterdir())


def test_track_checkpoint(hostile: tuple[Path, Path], tmp_path: Path) -> None:
    path, sentinel = hostile
    out = tmp_path / "out"
    result = runner.invoke(app, ["track", str(SAMPLE), "--detections", str(SAMPLE_DETS),
                                 "--checkpoint", str(path), "--out", str(out), "--quiet"])
    _refused(result, path, sentinel, out)


def test_segment_track_checkpoint(hostile: tuple[Path, Path], tmp_path: Path) -> None:
    pytest.importorskip("segment_anything")
    path, sentinel = hostile
    out = tmp_path / "out"
    result = runner.invoke(app, ["segment-track", str(SAMPLE), "--checkpoint", str(path),
                                 "--out", str(out), "--end", "1", "--quiet"])
    _refused(result, path, sentinel, out)


@pytest.mark.parametrize("hostile", ["issue-snippet"], indirect=True)  # builds SSDlite: one case
def test_detect_track_torchvision_detector_weights(hostile: tuple[Path, Path],
                                                   tmp_path: Path) -> None:
    path, sentinel = hostile
    out = tmp_path / "out"
    result = runner.invoke(app, ["detect-track", str(SAMPLE), "--detector", "ssdlite",
                                 "--detector-weights", str(path), "--out", str(out), "--quiet"])
    _refused(result, path, sentinel, out)


def test_detect_track_fastestdet_onnx_that_is_a_pickle(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    sentinel = tmp_path / "pwned"
    path = write_hostile(tmp_path, "raw-p2", "os.system", sentinel, name="FastestDet.onnx")
    result = runner.invoke(app, ["detect-track", str(SAMPLE), "--detector", "fastestdet",
                                 "--detector-weights", str(path), "--out", str(tmp_path / "out"),
                                 "--quiet"])
    assert result.exit_code == 2 and not sentinel.exists()
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "cannot load the ONNX model" in lines[0]


@pytest.mark.parametrize("container", ["zip-p2", "raw-p2"])
def test_detect_track_grounding_dino_folder_with_a_pickle(container: str, tmp_path: Path) -> None:
    """A transformers folder whose only weights are a hostile `pytorch_model.bin`."""
    pytest.importorskip("transformers")
    from tests.detectors.tiny_gdino import save_tiny_gdino

    folder = save_tiny_gdino(tmp_path / "gdino")
    (folder / "model.safetensors").unlink()
    sentinel = tmp_path / "pwned"
    write_hostile(folder, container, "os.system", sentinel, name="pytorch_model.bin")
    result = runner.invoke(app, ["detect-track", str(SAMPLE), "--detector", "grounding-dino",
                                 "--prompt", "car", "--detector-weights", str(folder),
                                 "--out", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 2 and not sentinel.exists(), result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(folder) in lines[0] and "refused" in lines[0], lines


@pytest.fixture
def train_data(tmp_path: Path) -> tuple[Path, Path]:
    """(image folder, proposals file): one image with one box."""
    from masa.train.proposals import make_proposals

    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), np.full((64, 64, 3), 127, np.uint8))
    coco = tmp_path / "coco.json"
    coco.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 64}],
        "annotations": [{"id": 1, "image_id": 1, "bbox": [5, 5, 20, 20], "area": 400,
                         "category_id": 1, "iscrowd": 0}],
        "categories": [{"id": 1, "name": "thing"}],
    }))
    proposals, _ = make_proposals(images, tmp_path / "proposals.json", method="coco",
                                  coco_json=coco)
    return images, proposals


def _train(images: Path, proposals: Path, out: Path, *args: str) -> object:
    return runner.invoke(app, ["train", "--images", str(images), "--proposals", str(proposals),
                               "--out", str(out), "--model", "lite", "--channels", "32",
                               "--embed-dim", "32", "--size", "64", "--workers", "0",
                               "--quiet", *args])


def test_train_backbone_weights(hostile: tuple[Path, Path], train_data: tuple[Path, Path],
                                tmp_path: Path) -> None:
    path, sentinel = hostile
    out = tmp_path / "run"
    _refused(_train(*train_data, out, "--backbone-weights", str(path)), path, sentinel, out)


def test_train_resume_state(hostile: tuple[Path, Path], train_data: tuple[Path, Path],
                            tmp_path: Path) -> None:
    from masa.train.loop import RESUME_FILE

    path, sentinel = hostile
    out = tmp_path / "run"
    out.mkdir()
    state = shutil.move(path, out / RESUME_FILE)
    result = _train(*train_data, out, "--resume")
    _refused(result, Path(state), sentinel)
    assert sorted(p.name for p in out.iterdir()) == [RESUME_FILE]


def test_proposals_sam_checkpoint(hostile: tuple[Path, Path], train_data: tuple[Path, Path],
                                  tmp_path: Path) -> None:
    pytest.importorskip("segment_anything")
    path, sentinel = hostile
    images, _ = train_data
    out = tmp_path / "sam_proposals.json"
    result = runner.invoke(app, ["proposals", str(images), "--method", "sam", "--sam-checkpoint",
                                 str(path), "--out", str(out), "--quiet"])
    _refused(result, path, sentinel)
    assert not out.exists()


def test_a_real_checkpoint_still_runs(tmp_path: Path) -> None:
    """Control: the same command with a benign torch checkpoint of the same layout gets past
    reading (and fails later only because a bare state dict names no model)."""
    path = tmp_path / "plain.pth"
    torch.save({"conv.weight": torch.zeros(1)}, path, pickle_protocol=5)
    result = runner.invoke(app, ["track", str(SAMPLE), "--detections", str(SAMPLE_DETS),
                                 "--checkpoint", str(path), "--out", str(tmp_path / "out"),
                                 "--quiet"])
    assert result.exit_code == 2 and "does not say which model it is" in result.stderr
