"""`masa segment-track` end to end with a tiny official-layout SAM-MASA checkpoint on real video
(../shared/data), and its bad inputs. Random weights give poor masks: structure is checked, not
quality."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from masa.io.mots import rle_to_mask
from masa.segment import save_sam_masa
from masa_cli.app import app
from tests.segment.conftest import build_tiny_model

runner = CliRunner()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_sam_masa(build_tiny_model(), tmp_path_factory.mktemp("ckpt") / "tiny_sam_masa.pth")


@pytest.fixture(scope="module")
def davis(shared: Path) -> Path:
    return shared / "data" / "davis2016"


def _run(*args: str) -> object:
    return runner.invoke(app, ["segment-track", *args, "--quiet"])


def test_video_head_proposals_write_mots_coco_and_h264(
    shared: Path, checkpoint: Path, tmp_path: Path
) -> None:
    result = _run(str(shared / "data" / "videos" / "01_dog.mp4"), "--checkpoint", str(checkpoint),
                  "--out", str(tmp_path), "--end", "2", "--max-objects", "4", "--png-ids",
                  "--tracker", "tao")  # random weights: head scores far below --tracker masa's thresholds
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "01_dog.coco.json", "01_dog.json", "01_dog.mots.json", "01_dog.mp4", "01_dog.txt", "01_dog_ids"]
    mots = json.loads((tmp_path / "01_dog.mots.json").read_text())
    assert [f["frameIndex"] for f in mots] == [0, 1]
    labels = [label for f in mots for label in f["labels"]]
    assert labels and all(rle_to_mask(label["rle"]).shape == (720, 1280) for label in labels)
    coco = json.loads((tmp_path / "01_dog.coco.json").read_text())
    assert {a["track_id"] for a in coco["annotations"]} == {int(label["id"]) for label in labels}
    assert all(a["segmentation"]["size"] == [720, 1280] for a in coco["annotations"])
    with av.open(str(tmp_path / "01_dog.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert sum(1 for _ in container.decode(stream)) == 2
    ids = cv2.imread(str(tmp_path / "01_dog_ids" / "000001.png"), cv2.IMREAD_UNCHANGED)
    assert ids.dtype == np.uint16 and ids.shape == (720, 1280)


def test_davis_boxes_give_masks_with_one_identity(davis: Path, checkpoint: Path, tmp_path: Path) -> None:
    result = _run(str(davis / "JPEGImages" / "dog"), "--detections", str(davis / "dog.txt"),
                  "--checkpoint", str(checkpoint), "--out", str(tmp_path), "--end", "3", "--no-video")
    assert result.exit_code == 0, result.output
    mots = json.loads((tmp_path / "dog.mots.json").read_text())
    labels = [f["labels"] for f in mots]
    assert [len(frame) for frame in labels] == [1, 1, 1]
    assert {frame[0]["id"] for frame in labels} == {"1"}  # one dog, one identity (MOT id 1)
    assert all(rle_to_mask(frame[0]["rle"]).shape == (480, 854) for frame in labels)
    first = [float(v) for v in (davis / "dog.txt").read_text().splitlines()[0].split(",")[2:6]]
    box = labels[0][0]["box2d"]  # the given box, as given (MOT xywh -> xyxy)
    assert [box["x1"], box["y1"], box["x2"] - box["x1"], box["y2"] - box["y1"]] == pytest.approx(first)


def test_formats_give_cvat_polygons_and_one_coco_file_with_masks(
    davis: Path, checkpoint: Path, tmp_path: Path
) -> None:
    import xml.etree.ElementTree as ET

    result = _run(str(davis / "JPEGImages" / "dog"), "--detections", str(davis / "dog.txt"),
                  "--checkpoint", str(checkpoint), "--out", str(tmp_path), "--end", "2",
                  "--no-video", "--format", "cvat,coco,mot")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dog.coco.json", "dog.cvat.xml", "dog.mots.json", "dog.txt"]  # the COCO file written once
    coco = json.loads((tmp_path / "dog.coco.json").read_text())
    assert all(a["segmentation"]["size"] == [480, 854] for a in coco["annotations"])
    (track,) = ET.parse(tmp_path / "dog.cvat.xml").getroot().findall("track")
    assert track.get("id") == "1" and [s.tag for s in track] == ["polygon", "polygon"]
    assert {a["track_id"] for a in coco["annotations"]} == {1}
    assert {line.split(",")[1] for line in (tmp_path / "dog.txt").read_text().splitlines()} == {"1"}


def test_everything_mode_runs(davis: Path, checkpoint: Path, tmp_path: Path) -> None:
    result = _run(str(davis / "JPEGImages" / "dog"), "--mode", "everything", "--points-per-side", "2",
                  "--pred-iou-threshold", "0", "--stability-score-threshold", "0",
                  "--checkpoint", str(checkpoint), "--out", str(tmp_path), "--end", "1", "--no-video")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "dog.mots.json").read_text())[0]["frameIndex"] == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--mode", "boxes"], "--mode boxes needs --detections FILE"),
        (["--mode", "everything", "--detections", "{dets}"], "--detections / --detector are used by --mode boxes only"),
        (["--checkpoint", "{missing}"], "is neither a file nor a known name"),
        (["--checkpoint", "{headless}", "--mode", "head"], "carries no SAM weights"),
    ],
)
def test_bad_options_are_one_line_errors(
    davis: Path, checkpoint: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    headless = save_sam_masa(build_tiny_model(), tmp_path / "no_sam.pth", with_sam=False)
    values = {"dets": str(davis / "dog.txt"), "missing": str(tmp_path / "nope.pth"),
              "headless": str(headless)}
    args = [a.format(**values) for a in args]
    if "--checkpoint" not in args:
        args += ["--checkpoint", str(checkpoint)]
    result = _run(str(davis / "JPEGImages" / "dog"), "--out", str(tmp_path / "out"), "--end", "1", *args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_detector_boxes_from_fastestdet(shared: Path, checkpoint: Path, tmp_path: Path) -> None:
    """Mode (b) with a detector of `masa detect-track`: FastestDet's people on PETS get SAM masks."""
    weights = shared / "data" / "weights" / "fastestdet"
    result = _run(str(shared / "data" / "mot" / "PETS09-S2L1" / "img1"), "--detector", "fastestdet",
                  "--detector-weights", str(weights), "--classes", "person", "--checkpoint", str(checkpoint),
                  "--out", str(tmp_path), "--end", "2", "--no-video")
    assert result.exit_code == 0, result.output
    frames = json.loads((tmp_path / "PETS09-S2L1.mots.json").read_text())
    labels = [label for frame in frames for label in frame["labels"]]
    assert len(labels) >= 4 and {label["category"] for label in labels} == {"person"}
    assert all(rle_to_mask(label["rle"]).shape == (576, 768) for label in labels)
    both = _run(str(shared / "data" / "mot" / "PETS09-S2L1" / "img1"), "--detector", "fastestdet",
                "--detections", "x.txt", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "x"))
    assert both.exit_code == 2 and "not both" in both.stderr
