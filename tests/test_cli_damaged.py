"""Damaged input for the tracking commands: a corrupt image in a folder, a truncated video.

What decodes is tracked; each skipped frame is one warning line and counted in the summary; a
skipped frame gets no rows and the tracker never sees it. `--strict` stops at the first one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import pytest
from typer.testing import CliRunner

import masa_cli.runner
from masa_cli.app import app
from tests.conftest import REPO

runner = CliRunner()


@pytest.fixture(scope="module")
def pets(shared: Path) -> Path:
    return shared / "data" / "mot" / "PETS09-S2L1"


@pytest.fixture()
def seen(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The frame indices the tracker is given, in order."""
    frames: list[int] = []

    def spying(loop):
        def spy(frame_source, detect, embedder, tracker, **kwargs):
            update = tracker.update
            tracker.update = lambda dets, frame_idx, **kw: frames.append(frame_idx) or update(dets, frame_idx, **kw)
            return loop(frame_source, detect, embedder, tracker, **kwargs)

        return spy

    for name in ("track_frames", "track_frames_overlapped"):  # the sequential and the prefetching loop
        monkeypatch.setattr(masa_cli.runner, name, spying(getattr(masa_cli.runner, name)))
    return frames


def _track(source: Path, dets: Path, checkpoint: Path, out: Path, *extra: str) -> object:
    return runner.invoke(app, ["track", str(source), "--detections", str(dets), "--checkpoint",
                               str(checkpoint), "--out", str(out), *extra])


def _folder_with_garbage(pets: Path, folder: Path, count: int, bad: int) -> Path:
    """The first `count` PETS frames, frame index `bad` replaced by garbage bytes, and their
    detections in `folder.parent / "dets.txt"`."""
    folder.mkdir()
    for name in sorted(p.name for p in (pets / "img1").iterdir())[:count]:
        shutil.copy(pets / "img1" / name, folder / name)
    (folder / f"{bad + 1:06d}.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    lines = (pets / "det" / "det.txt").read_text().splitlines(keepends=True)
    kept = [line for line in lines if int(line.split(",")[0]) <= count]
    (folder.parent / "dets.txt").write_text("".join(kept))
    return folder


def _skip_warnings(stderr: str) -> list[str]:
    """The warning lines about skipped frames (not other warnings, e.g. an assumed frame rate)."""
    return [ln for ln in stderr.splitlines() if ln.startswith("warning:") and "; skipped " in ln]


def _frames_written(out: Path, name: str) -> tuple[set[int], set[int], int]:
    """1-based frames in the MOT txt, image ids in the TAO JSON, frames in the overlay video."""
    mot = {int(line.split(",")[0]) for line in (out / f"{name}.txt").read_text().splitlines()}
    tao = {e["image_id"] for e in json.loads((out / f"{name}.json").read_text())}
    with av.open(str(out / f"{name}.mp4")) as container:
        video = sum(1 for _ in container.decode(container.streams.video[0]))
    return mot, tao, video


def test_corrupt_image_is_skipped(
    pets: Path, tiny_checkpoint: Path, tmp_path: Path, seen: list[int]
) -> None:
    frames = _folder_with_garbage(pets, tmp_path / "frames", 5, bad=2)
    dets, out = tmp_path / "dets.txt", tmp_path / "out"
    result = _track(frames, dets, tiny_checkpoint, out)
    assert result.exit_code == 0, result.output
    assert _skip_warnings(result.stderr) == [
        f"warning: {frames / '000003.jpg'}: cannot decode image; skipped frame 2"
    ]
    assert "1 frame skipped" in result.stderr
    assert seen == [0, 1, 3, 4]  # the tracker never sees frame 2
    assert _frames_written(out, "frames") == ({1, 2, 4, 5}, {1, 2, 4, 5}, 4)

    strict = _track(frames, dets, tiny_checkpoint, tmp_path / "strict", "--strict", "-q")
    assert strict.exit_code == 2
    assert strict.stderr.strip().splitlines() == [
        f"error: {frames / '000003.jpg'}: cannot decode image"
    ]
    assert list((tmp_path / "strict").iterdir()) == []


def test_truncated_video_keeps_what_decodes(
    shared: Path, tiny_checkpoint: Path, tmp_path: Path, seen: list[int]
) -> None:
    data = (shared / "data" / "videos" / "test-sample2.mp4").read_bytes()
    video = tmp_path / "cut.mp4"
    video.write_bytes(data[: len(data) // 10])  # as `head -c` leaves it: 4 frames decode
    dets = tmp_path / "dets.txt"  # one box on each of the 149 frames the container declares
    dets.write_text("".join(f"{k},-1,100,100,40,60,0.9\n" for k in range(1, 150)))
    result = _track(video, dets, tiny_checkpoint, tmp_path / "out")
    assert result.exit_code == 0, result.output
    decoded = len(seen)
    assert seen == list(range(decoded)) and 2 < decoded < 20
    warnings = _skip_warnings(result.stderr)
    assert len(warnings) == 1 and f"skipped {149 - decoded} frames ({decoded}..148)" in warnings[0]
    assert f"{149 - decoded} frames skipped" in result.stderr
    mot, tao, frames = _frames_written(tmp_path / "out", "cut")
    assert mot == tao == set(range(1, decoded + 1)) and frames == decoded

    strict = _track(video, dets, tiny_checkpoint, tmp_path / "strict", "--strict", "-q",
                    "--start", str(decoded - 1), "--no-video")
    assert strict.exit_code == 2 and "cut.mp4" in strict.stderr
    assert list((tmp_path / "strict").iterdir()) == []


def test_video_cut_before_its_index_is_one_line_error(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    """samples/shapes.mp4 keeps its index (moov) at the end: cut, nothing in it can be found."""
    data = (REPO / "samples" / "shapes.mp4").read_bytes()
    video = tmp_path / "shapes.mp4"
    video.write_bytes(data[: len(data) // 2])
    dets = REPO / "samples" / "shapes_dets.txt"
    result = _track(video, dets, tiny_checkpoint, tmp_path / "out", "-q")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {video}: cannot read video (corrupt or unsupported format)"
    ]


def test_detect_track_skips_a_corrupt_frame(
    pets: Path, shared: Path, tiny_checkpoint: Path, tmp_path: Path, seen: list[int]
) -> None:
    pytest.importorskip("onnxruntime")
    frames = _folder_with_garbage(pets, tmp_path / "frames", 4, bad=1)
    out = tmp_path / "out"
    weights = shared / "data" / "weights" / "fastestdet"
    result = runner.invoke(app, [
        "detect-track", str(frames), "--detector-weights", str(weights), "--classes", "person",
        "--checkpoint", str(tiny_checkpoint), "--out", str(out), "--batch-size", "2", "--quiet",
    ])
    assert result.exit_code == 0, result.output
    assert _skip_warnings(result.stderr) == [
        f"warning: {frames / '000002.jpg'}: cannot decode image; skipped frame 1"
    ]
    assert seen == [0, 2, 3]
    mot, tao, video = _frames_written(out, "frames")
    assert 2 not in mot | tao and video == 3


def test_a_second_pass_over_the_source_warns_once(capsys: pytest.CaptureFixture[str]) -> None:
    """A frame skipped again when the source is decoded again is reported and counted once."""
    import warnings

    from masa.io import DamagedFrameWarning
    from masa_cli.damaged import print_damaged_frames

    with print_damaged_frames() as skipped:
        for _ in range(2):
            warnings.warn(DamagedFrameWarning("a.jpg: cannot decode image; skipped frame 3", [3]))
        warnings.warn(DamagedFrameWarning("v.mp4: truncated; skipped 2 frames (8..9)", [8, 9]))
    assert skipped == {3, 8, 9}
    assert capsys.readouterr().err.splitlines() == [
        "warning: a.jpg: cannot decode image; skipped frame 3",
        "warning: v.mp4: truncated; skipped 2 frames (8..9)",
    ]
