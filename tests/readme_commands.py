"""The README's `masa` commands on the bundled sample, found in its bash blocks and run in-process
(tests/test_readme_commands.py checks them; tests/io/export/test_consumers.py checks the files)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from masa_cli.app import app

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
            uses_sample = any(w.startswith("samples/") for w in words)
            if words[:1] == ["masa"] and uses_sample and words not in commands:
                commands.append(words)
    return commands


def run_sample_commands(folder: Path) -> list[tuple[list[str], Any]]:
    """Runs them in order as if from a checkout at `folder` (`samples/` is the repository's, every
    other relative path lands in `folder`); returns (command, CliRunner result) pairs."""

    def where(word: str) -> str:
        if word.startswith("samples/"):
            return str(REPO / word)
        return str(folder / word) if word.startswith("masa_out") else word

    runs = []
    for command in sample_commands():
        args = [where(w) for w in command[1:]] + (["--quiet"] if command[1] == "track" else [])
        runs.append((command, CliRunner().invoke(app, args)))
    return runs
