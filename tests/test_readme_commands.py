"""Every `masa` command the README shows on the bundled sample runs as shown: tracking with the
packaged model (offline), scoring with `masa eval`, and the pre-labeling exports. (Commands on
other data, e.g. ../shared or a hub model, are exercised by the tests of each command.)"""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest

from tests.readme_commands import REPO, sample_commands

pytestmark = pytest.mark.slow


def test_the_readme_shows_tracking_scoring_and_prelabeling_of_the_sample() -> None:
    shown = [" ".join(c[:2]) + (" --format" if "--format" in c else "") for c in sample_commands()]
    assert shown == ["masa track", "masa track", "masa eval", "masa track --format"]
    text = (REPO / "README.md").read_text()
    section = text.split("## Pre-labeling for CVAT / Label Studio / YOLO", 1)[1].split("\n## ", 1)[0]
    assert "--format cvat,labelstudio,yolo,coco,mot" in section


def test_readme_sample_commands_run(readme_sample_run: tuple[Path, list]) -> None:
    folder, runs = readme_sample_run
    for command, result in runs:
        assert result.exit_code == 0, (command, result.output)
    (_, scored), = [(c, r) for c, r in runs if c[1] == "eval"]
    assert "HOTA" in scored.output and "shapes" in scored.output
    out = folder / "masa_out"
    assert sorted(p.name for p in out.iterdir()) == [
        "bf16", "shapes.coco.json", "shapes.cvat.xml", "shapes.json", "shapes.labelstudio.json",
        "shapes.labelstudio.xml", "shapes.mp4", "shapes.txt", "shapes_yolo"]
    # the first command: the packaged model names the classes and finds the clip's six objects
    tao = json.loads((out / "shapes.json").read_text())
    assert {e["category_name"] for e in tao} == {"disc", "square"}
    assert 6 <= len({e["track_id"] for e in tao}) <= 8  # six objects; the default tracker keeps their ids
    # the speed command: the same clip under bf16 autocast, two threads, its own folder
    bf16 = json.loads((out / "bf16" / "shapes.json").read_text())
    assert len(bf16) > 0.9 * len(tao) and 6 <= len({e["track_id"] for e in bf16}) <= 8
    with av.open(str(out / "shapes.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "h264"
    # the pre-labeling command: a YOLO dataset with every frame
    yolo = out / "shapes_yolo"
    assert (yolo / "data.yaml").is_file()
    images, labels = (list((yolo / sub / "train").iterdir()) for sub in ("images", "labels"))
    assert len(images) == len(labels) == 96
