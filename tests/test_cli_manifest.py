"""OUT/manifest.jsonl: appended line by line, read back tolerating a line cut short by a kill."""

from __future__ import annotations

import json
from pathlib import Path

from masa_cli.manifest import Manifest, VideoRecord


def test_records_round_trip_and_the_last_line_wins(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "a.txt").write_text("")
    manifest.append(
        VideoRecord("clips/a.mp4", "a", "failed", error="clips/a.mp4: cannot read video")
    )
    manifest.append(
        VideoRecord("clips/a.mp4", "a", "done", frames=3, seconds=1.5, outputs=["a/a.txt"])
    )
    manifest.append(
        VideoRecord("clips/b.mp4", "b", "partial", frames=2, error="the stream dropped")
    )
    first = json.loads((tmp_path / "manifest.jsonl").read_text().splitlines()[0])
    assert list(first) == [
        "video",
        "name",
        "status",
        "frames",
        "seconds",
        "outputs",
        "error",
        "warnings",
    ]
    again = Manifest(tmp_path)
    assert again.records["a"] == VideoRecord(
        "clips/a.mp4", "a", "done", frames=3, seconds=1.5, outputs=["a/a.txt"]
    )
    assert again.is_done("a") and not again.is_done("b") and not again.is_done("c")
    (tmp_path / "a" / "a.txt").unlink()
    assert not Manifest(tmp_path).is_done("a")  # its outputs were deleted: do it again


def test_a_line_cut_short_by_a_kill_is_ignored_and_not_joined(tmp_path: Path) -> None:
    path = tmp_path / "manifest.jsonl"
    path.write_text(
        VideoRecord("a.mp4", "a", "done").to_json() + "\n" + '{"video": "b.mp4", "name": "b", "sta'
    )
    manifest = Manifest(tmp_path)
    assert set(manifest.records) == {"a"}
    manifest.append(VideoRecord("c.mp4", "c", "done"))
    assert set(Manifest(tmp_path).records) == {"a", "c"}
    assert path.read_text().splitlines()[-1] == VideoRecord("c.mp4", "c", "done").to_json()
