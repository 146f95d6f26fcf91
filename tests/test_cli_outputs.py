"""`--out` problems of the tracking commands: a file, a folder that cannot be written, a full disk.
Each is one `error:` line, exit code 2, and no output or temporary file left behind."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from masa_cli.app import app

runner = CliRunner()


@pytest.fixture(scope="module")
def pets(shared: Path) -> Path:
    return shared / "data" / "mot" / "PETS09-S2L1"


def _track(pets: Path, checkpoint: Path, out: Path, video: bool = False) -> object:
    return runner.invoke(app, [
        "track", str(pets / "img1"), "--detections", str(pets / "det" / "det.txt"), "--checkpoint",
        str(checkpoint), "--out", str(out), "--end", "3", "--quiet",
        "--video" if video else "--no-video",
    ])


def _one_line_error(result: object, *words: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert all(word in lines[0] for word in words), lines[0]


def _no_space(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_out_is_a_file(pets: Path, tiny_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "taken"
    out.write_text("keep me")
    _one_line_error(_track(pets, tiny_checkpoint, out), str(out), "is a file, not a folder")
    _one_line_error(_track(pets, tiny_checkpoint, out / "sub"), "cannot create the folder")
    assert out.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_unwritable_folder(
    pets: Path, tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """chmod 0o500 does not stop root (who runs these tests): refuse file creation in the folder
    at the system call instead, as the kernel does for other users."""
    out = tmp_path / "locked"
    out.mkdir()
    real_open = os.open

    def refuse_in_out(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if flags & os.O_CREAT and Path(str(path)).parent == out:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse_in_out)
    _one_line_error(_track(pets, tiny_checkpoint, out), str(out), "Permission denied")
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("when", ["mid-run", "at the end"])
def test_full_disk(
    when: str, pets: Path, tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from masa.io import writers

    if when == "mid-run":  # the MOT txt write of the second of three frames fails
        write, calls = writers.MotTxtWriter._write, []

        def write_then_fail(self: object, *args: object) -> None:
            calls.append(1)
            if len(calls) == 2:
                _no_space()
            write(self, *args)

        monkeypatch.setattr(writers.MotTxtWriter, "_write", write_then_fail)
    else:  # the TAO JSON is written out after the video is complete
        monkeypatch.setattr(writers.TaoJsonWriter, "_finish", _no_space)
    out = tmp_path / "out"
    result = _track(pets, tiny_checkpoint, out, video=when == "at the end")
    _one_line_error(result, str(out), "No space left on device")
    assert list(out.iterdir()) == []  # no output, no temporary file


def test_detect_track_out_is_a_file(shared: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    out = tmp_path / "taken.txt"
    out.write_text("")
    result = runner.invoke(app, [
        "detect-track", str(shared / "data" / "mot" / "PETS09-S2L1" / "img1"), "--detector",
        "fastestdet", "--detector-weights", str(shared / "data" / "weights" / "fastestdet"),
        "--end", "2", "--out", str(out), "--quiet",
    ])
    _one_line_error(result, "is a file, not a folder")
