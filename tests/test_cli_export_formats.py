"""`--format` / `--save-frames` of the tracking commands, and one track numbering across outputs."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from masa.errors import InputError
from masa_cli.app import app
from masa_cli.export_formats import FORMATS, parse_formats

runner = CliRunner()
ALL = "mot,tao,coco,cvat,labelstudio,yolo"


@pytest.fixture(scope="module")
def pets(shared: Path) -> Path:
    return shared / "data" / "mot" / "PETS09-S2L1"


def test_parse_formats() -> None:
    assert parse_formats(" CVAT, yolo,cvat ") == ["cvat", "yolo"]
    assert parse_formats(ALL, save_frames=True) == list(FORMATS)
    with pytest.raises(InputError, match=r"unknown format 'vott'; choose from mot, tao, coco"):
        parse_formats("cvat,vott")
    with pytest.raises(InputError, match="no format given"):
        parse_formats(" , ")
    with pytest.raises(InputError, match="add yolo to --format"):
        parse_formats("cvat", save_frames=True)


@pytest.mark.parametrize("command", ["track", "detect-track", "segment-track"])
def test_unknown_format_is_one_line_exit_2_before_anything_runs(
    command: str, pets: Path, tmp_path: Path
) -> None:
    args = [
        command,
        str(pets / "img1"),
        "--format",
        "cvat,labelbox",
        "--out",
        str(tmp_path / "out"),
    ]
    if command == "track":
        args += ["--detections", str(pets / "det" / "det.txt")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "error: --format: unknown format 'labelbox'; choose from mot, tao, coco, cvat, "
        "labelstudio, yolo (comma-separated)"
    ]
    assert not (tmp_path / "out").exists()


def _track_pets(pets: Path, checkpoint: Path, out: Path, *args: str) -> object:
    """`masa track` on PETS09 frames with the tiny test checkpoint."""
    return runner.invoke(app, [
        "track", str(pets / "img1"), "--detections", str(pets / "det" / "det.txt"), "--checkpoint",
        str(checkpoint), "--out", str(out), "--quiet", *args,
    ])


def test_save_frames_without_yolo_is_an_error(
    pets: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    result = _track_pets(pets, tiny_checkpoint, tmp_path / "out", "--end", "2", "--format", "cvat",
                         "--save-frames")
    assert result.exit_code == 2 and result.stderr.strip() == (
        "error: --save-frames adds the frames to the YOLO dataset: add yolo to --format"
    )
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def _pairs_of_every_output(out: Path, name: str) -> dict[str, set[tuple[int, int]]]:
    """(1-based frame, track id) of every box, per output."""
    pairs = {
        "mot": {
            (int(r.split(",")[0]), int(r.split(",")[1]))
            for r in (out / f"{name}.txt").read_text().split()
        }
    }
    pairs["tao"] = {
        (e["image_id"], e["track_id"]) for e in json.loads((out / f"{name}.json").read_text())
    }
    coco = json.loads((out / f"{name}.coco.json").read_text())
    pairs["coco"] = {(a["image_id"], a["track_id"]) for a in coco["annotations"]}
    pairs["cvat"] = {
        (int(box.get("frame")) + 1, int(track.get("id")))
        for track in ET.parse(out / f"{name}.cvat.xml").getroot().iter("track")
        for box in track
        if box.get("outside") == "0"
    }
    (task,) = json.loads((out / f"{name}.labelstudio.json").read_text())
    pairs["labelstudio"] = {
        (key["frame"], int(region["id"]))
        for region in task["predictions"][0]["result"]
        for key in region["value"]["sequence"]
    }
    pairs["yolo"] = {
        (int(p.stem.rsplit("_", 1)[1]), int(line.split()[-1]))
        for p in (out / f"{name}_yolo" / "tracks" / "train").iterdir()
        for line in p.read_text().splitlines()
    }
    return pairs


def test_every_output_shows_the_mot_id(pets: Path, tiny_checkpoint: Path, tmp_path: Path) -> None:
    result = _track_pets(pets, tiny_checkpoint, tmp_path, "--end", "6", "--format", ALL,
                         "--save-frames")
    assert result.exit_code == 0, result.output
    pairs = _pairs_of_every_output(tmp_path, "PETS09-S2L1")
    assert len(pairs["mot"]) >= 15 and min(i for _, i in pairs["mot"]) == 1
    assert all(p == pairs["mot"] for p in pairs.values()), {k: len(v) for k, v in pairs.items()}
    assert len(list((tmp_path / "PETS09-S2L1_yolo" / "images" / "train").iterdir())) == 6


def test_overlay_labels_use_the_mot_id(tmp_path: Path) -> None:
    from masa.io.writers import OverlayVideoWriter
    from tests.io.export.dets import dets

    writer = OverlayVideoWriter(
        tmp_path / "v.mp4", fps=5, width=8, height=8, class_names={0: "person"}
    )
    labels = writer._labels(dets([[0, 0, 1, 1], [0, 0, 2, 2]], [0, 4], confidence=[0.9, 0.5]))
    writer.abort()
    assert labels == ["#1 person 0.90", "#5 person 0.50"]  # tracker ids 0 and 4: MOT ids 1 and 5
