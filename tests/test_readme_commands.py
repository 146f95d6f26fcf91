"""Every `masa` command the README shows on the bundled sample runs as shown: tracking, scoring
with `masa eval`, and the pre-labeling exports. (Commands on other data, e.g. ../shared or a
hub model, are exercised by the tests of each command.)"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from masa_cli.app import app

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


def sample_commands() -> list[list[str]]:
    """The README's `masa ...` commands that use `samples/`, in order, without repeats."""
    text = (REPO / "README.md").read_text()
    commands: list[list[str]] = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():  # join continued lines
            words = shlex.split(line, comments=True)
            while "&&" in words:  # `python -m venv ... && masa track ...`: the last command
                words = words[words.index("&&") + 1 :]
            if (
                words[:1] == ["masa"]
                and any(w.startswith("samples/") for w in words)
                and words not in commands
            ):
                commands.append(words)
    return commands


def test_the_readme_shows_tracking_scoring_and_prelabeling_of_the_sample() -> None:
    shown = [" ".join(c[:2]) + (" --format" if "--format" in c else "") for c in sample_commands()]
    assert shown == ["masa track", "masa eval", "masa track --format"]
    text = (REPO / "README.md").read_text()
    section = text.split("## Pre-labeling for CVAT / Label Studio / YOLO", 1)[1].split("\n## ", 1)[
        0
    ]
    assert "--format cvat,labelstudio,yolo,coco,mot" in section


def test_readme_sample_commands_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "samples").symlink_to(REPO / "samples")
    monkeypatch.chdir(tmp_path)
    for command in sample_commands():
        result = CliRunner().invoke(
            app, [*command[1:], *(["--quiet"] if command[1] == "track" else [])]
        )
        assert result.exit_code == 0, (command, result.output)
        if command[1] == "eval":
            assert "HOTA" in result.output and "shapes" in result.output
    out = tmp_path / "masa_out"
    assert sorted(p.name for p in out.iterdir()) == [
        "shapes.coco.json",
        "shapes.cvat.xml",
        "shapes.json",
        "shapes.labelstudio.json",
        "shapes.labelstudio.xml",
        "shapes.mp4",
        "shapes.txt",
        "shapes_yolo",
    ]
    yolo = out / "shapes_yolo"
    assert (yolo / "data.yaml").is_file()
    assert (
        len(list((yolo / "images" / "train").iterdir()))
        == len(list((yolo / "labels" / "train").iterdir()))
        == 96
    )
