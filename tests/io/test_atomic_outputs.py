"""Several outputs of one run: a failure while finishing any of them leaves none of them."""

from __future__ import annotations

import errno
from contextlib import ExitStack
from pathlib import Path

import pytest

from masa.io.export.labelstudio import LabelStudioVideoWriter
from masa.io.export.yolo import YoloDatasetWriter
from masa.io.writers import MotTxtWriter, _AtomicWriter
from masa_cli.outputs import finish_all
from tests.io.export.dets import dets


class _DiskFull(_AtomicWriter):
    def _write(self, frame_idx, detections, image) -> None:
        pass

    def _finish(self) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")


def _writers(folder: Path, failing: str | None = None) -> list:
    """A run's outputs; `failing`: none, or a full disk while finishing the first or last one."""
    writers = [
        MotTxtWriter(folder / "v.txt"),
        LabelStudioVideoWriter(
            folder / "v.labelstudio.json",
            video_url="v.mp4",
            class_names={0: "a"},
            width=64,
            height=48,
            fps=10.0,
            total_frames=2,
        ),
        YoloDatasetWriter(
            folder / "v_yolo", video_name="v", class_names={0: "a"}, width=64, height=48
        ),
    ]
    if failing == "first":
        return [_DiskFull(folder / "z.bin")] + writers
    return writers + [_DiskFull(folder / "z.bin")] if failing == "last" else writers


@pytest.mark.parametrize("failing", ["first", "last"])
def test_a_failure_while_finishing_leaves_no_output(tmp_path: Path, failing: str) -> None:
    with pytest.raises(OSError, match="No space left"), ExitStack() as stack:
        writers = [stack.enter_context(w) for w in _writers(tmp_path, failing)]
        for frame in range(2):
            for writer in writers:
                writer.write(frame, dets([[1, 2, 20, 30]], [0], class_id=[0]))
        finish_all(writers)  # as run_tracking does; leaving the block then aborts every writer
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_outputs_appear_only_when_closed(tmp_path: Path) -> None:
    writers = _writers(tmp_path)
    for writer in writers:
        writer.write(0, dets([[1, 2, 20, 30]], [0], class_id=[0]))
    finish_all(writers)
    assert not any(
        p.exists()
        for p in (tmp_path / "v.txt", tmp_path / "v.labelstudio.xml", tmp_path / "v_yolo")
    )
    for writer in writers:
        writer.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["v.labelstudio.json", "v.labelstudio.xml", "v.txt", "v_yolo"]
    assert (tmp_path / "v_yolo" / "data.yaml").is_file()
