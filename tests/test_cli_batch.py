"""`masa track` over many videos: OUT/<name>/ per video, the manifest, resuming (also after a kill),
failures that do not stop the batch, --detections folders, streams and Ctrl-C, --fps."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
from typer.testing import CliRunner

from masa_cli.app import app
from tests.batch_helpers import DETS, SAMPLE, one_thread, pets_folder  # noqa: F401 - fixture
from tests.io.stream_server import http_streams

runner = CliRunner()


def _track(*args: str, quiet: bool = True) -> object:
    return runner.invoke(app, ["track", *args, *(["--quiet"] if quiet else [])])


def _manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


@pytest.fixture()
def batch(tmp_path: Path, shared: Path) -> tuple[Path, Path]:
    """videos/{a.mp4, sub/b.mp4, c.mp4 (corrupt), d.mp4 (no detections file), seq/ (6 PETS frames)}
    and dets/{a.txt, b.txt, c.txt, seq.txt}."""
    videos, dets = tmp_path / "videos", tmp_path / "dets"
    (videos / "sub").mkdir(parents=True)
    dets.mkdir()
    for path in (videos / "a.mp4", videos / "sub" / "b.mp4", videos / "d.mp4"):
        shutil.copy(SAMPLE, path)
    (videos / "c.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    for name in ("a", "b", "c"):
        shutil.copy(DETS, dets / f"{name}.txt")
    _, seq_dets = pets_folder(shared, videos / "seq", 6)
    (dets / "seq.txt").write_text(seq_dets)
    return videos, dets


def test_batch_tracks_each_video_into_its_folder_records_failures_and_resumes(
    batch: tuple[Path, Path], tiny_checkpoint: Path, tmp_path: Path
) -> None:
    videos, dets = batch
    out = tmp_path / "out"
    args = [str(videos), "--detections", str(dets), "--checkpoint", str(tiny_checkpoint), "--out", str(out),
            "--end", "3", "--no-video"]
    result = _track(*args, quiet=False)
    assert result.exit_code == 1, result.output  # two videos failed, the others are done
    records = {r["name"]: r for r in _manifest(out)}
    assert set(records) == {"a", "sub/b", "c", "d", "seq"}
    for name in ("a", "sub/b", "seq"):
        r = records[name]
        stem = name.split("/")[-1]
        assert (r["status"], r["frames"], r["error"]) == ("done", 3, None)
        assert r["outputs"] == [f"{name}/{stem}.txt", f"{name}/{stem}.json"] and r["seconds"] > 0
        assert {int(line.split(",")[0]) for line in (out / name / f"{stem}.txt").read_text().splitlines()} == {1, 2, 3}
    assert records["c"]["status"] == "failed" and "cannot read video" in records["c"]["error"]
    assert records["d"]["status"] == "failed" and "no detections file for d" in records["d"]["error"]
    assert records["seq"]["warnings"] == ["seq: no frame rate known (no seqinfo.ini), assumed 30 fps; pass --fps"]
    assert not (out / "c").exists() and not (out / "d").exists()
    assert "2 failed" in result.stderr
    done_at = (out / "a" / "a.txt").stat().st_mtime_ns

    shutil.copy(DETS, dets / "d.txt")  # the user fixes one failure and reruns the same command
    result = _track(*args)
    assert result.exit_code == 1, result.output  # c is still corrupt
    lines = _manifest(out)
    assert [r["name"] for r in lines[5:]] == ["c", "d"]  # only the failed ones were run again
    assert lines[-1]["status"] == "done" and (out / "d" / "d.txt").is_file()
    assert (out / "a" / "a.txt").stat().st_mtime_ns == done_at

    (videos / "c.mp4").unlink()
    result = _track(*args, "--overwrite")
    assert result.exit_code == 0, result.output
    assert [r["name"] for r in _manifest(out)[7:]] == ["a", "d", "seq", "sub/b"]


def test_killed_batch_finishes_the_rest_without_redoing(tmp_path: Path, tiny_checkpoint: Path) -> None:
    videos, dets, out = tmp_path / "videos", tmp_path / "dets", tmp_path / "out"
    videos.mkdir()
    dets.mkdir()
    for name in ("v1", "v2", "v3"):
        shutil.copy(SAMPLE, videos / f"{name}.mp4")
        shutil.copy(DETS, dets / f"{name}.txt")
    args = ["track", str(videos), "--detections", str(dets), "--checkpoint", str(tiny_checkpoint), "--out",
            str(out), "--end", "12", "--no-video", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "masa_cli", *args], stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 240
        while not ((out / "manifest.jsonl").is_file() and (out / "manifest.jsonl").read_text().strip()):
            assert proc.poll() is None and time.monotonic() < deadline, "the batch did not record a video"
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    (first,) = _manifest(out)[:1]
    first_mtime = (out / first["name"] / f"{first['name']}.txt").stat().st_mtime_ns
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    records = _manifest(out)
    assert [r["name"] for r in records].count(first["name"]) == 1
    assert {r["name"] for r in records if r["status"] == "done"} == {"v1", "v2", "v3"}
    assert (out / first["name"] / f"{first['name']}.txt").stat().st_mtime_ns == first_mtime
    assert not [p for p in out.rglob(".*") if p.name != "manifest.jsonl"]  # no temporary files left


def test_image_folder_fps_warns_unless_given(shared: Path, tiny_checkpoint: Path, tmp_path: Path) -> None:
    folder, dets = pets_folder(shared, tmp_path / "frames", 2)
    (tmp_path / "dets.txt").write_text(dets)
    args = [str(folder), "--detections", str(tmp_path / "dets.txt"), "--checkpoint", str(tiny_checkpoint)]
    result = _track(*args, "--out", str(tmp_path / "guess"), "--no-video")
    assert result.exit_code == 0, result.output
    assert "warning: frames: no frame rate known (no seqinfo.ini), assumed 30 fps; pass --fps" in result.stderr
    result = _track(*args, "--out", str(tmp_path / "given"), "--fps", "7")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr
    with av.open(str(tmp_path / "given" / "frames.mp4")) as container:
        assert container.streams.video[0].average_rate == 7


@pytest.fixture(scope="module")
def streams() -> Iterator[str]:
    with http_streams() as url:
        yield url


def test_streams_need_no_end_and_a_drop_is_partial(streams: str, tiny_checkpoint: Path, tmp_path: Path) -> None:
    dets = tmp_path / "dets"
    dets.mkdir()
    for name in ("full", "drop"):
        shutil.copy(DETS, dets / f"{name}.txt")
    out = tmp_path / "out"
    # --tracker tao writes every processed frame's boxes (masa's tentative first frames are not, online)
    result = _track(f"{streams}/full.mp4", f"{streams}/drop.ts", "--detections", str(dets), "--stride", "8",
                    "--checkpoint", str(tiny_checkpoint), "--out", str(out), "--no-video", "--tracker", "tao")
    assert result.exit_code == 0, result.output
    full, drop = sorted(_manifest(out), key=lambda r: r["name"] != "full")
    assert (full["status"], full["frames"]) == ("done", 12)  # frames 0, 8, ..., 88 of 96
    assert drop["status"] == "partial" and "dropped after" in drop["error"] and 0 < drop["frames"] < 12
    assert len({line.split(",")[0] for line in (out / "drop" / "drop.txt").read_text().splitlines()}) == drop["frames"]


def test_ctrl_c_ends_a_stream_cleanly(streams: str, tiny_checkpoint: Path, tmp_path: Path) -> None:
    shutil.copy(DETS, tmp_path / "slow.txt")

    def interrupt_once_tracking() -> None:
        deadline = time.monotonic() + 120
        while signal.getsignal(signal.SIGINT) is signal.default_int_handler and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=interrupt_once_tracking, daemon=True)
    thread.start()
    result = _track(f"{streams}/slow.ts", "--detections", str(tmp_path / "slow.txt"), "--checkpoint",
                    str(tiny_checkpoint), "--out", str(tmp_path / "out"), "--no-video", "--tracker", "tao")
    thread.join()
    assert result.exit_code == 0, result.output
    assert "stopped by Ctrl-C" in result.stderr
    frames = {line.split(",")[0] for line in (tmp_path / "out" / "slow.txt").read_text().splitlines()}
    assert 0 < len(frames) < 96


@pytest.mark.skipif(Path("/dev/video0").exists(), reason="this machine has a webcam 0")
def test_webcam_index_is_a_webcam_not_a_file(tmp_path: Path) -> None:
    result = _track("0", "--detections", str(DETS), "--out", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: webcam 0") and "no such file or folder" not in result.stderr


def test_one_detections_file_for_many_videos_is_an_error(batch: tuple[Path, Path], tmp_path: Path) -> None:
    result = _track(str(batch[0]), "--detections", str(DETS), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "is one file for 5 videos: give a folder" in result.stderr
