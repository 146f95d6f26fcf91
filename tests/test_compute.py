"""Compute settings: thread pools, the autocast dtype, and the commands' flags for them."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
import torch
from typer.testing import CliRunner

import masa.compute
from masa.compute import autocast_dtype, configured_threads, set_threads
from masa.errors import InputError
from masa_cli.app import app


@pytest.fixture
def restore_threads(monkeypatch: pytest.MonkeyPatch):
    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    monkeypatch.setattr(masa.compute, "_threads", None)
    yield
    torch.set_num_threads(torch_threads)
    cv2.setNumThreads(cv2_threads)


def test_set_threads_sizes_torch_opencv_and_later_onnxruntime_sessions(restore_threads) -> None:
    set_threads(None)  # leaves the libraries' choice
    assert configured_threads() is None
    set_threads(1)
    assert torch.get_num_threads() == 1 and cv2.getNumThreads() == 1 and configured_threads() == 1
    with pytest.raises(InputError, match="--threads must be at least 1"):
        set_threads(0)


def test_autocast_dtype_names() -> None:
    assert autocast_dtype("fp32") is None
    assert autocast_dtype("bf16") is torch.bfloat16 and autocast_dtype("fp16") is torch.float16
    with pytest.raises(InputError, match="--dtype must be one of fp32, bf16, fp16"):
        autocast_dtype("int8")


def test_track_threads_dtype_and_both_loops(
    shared: Path, tiny_checkpoint: Path, tmp_path: Path, restore_threads, monkeypatch
) -> None:
    pets = shared / "data" / "mot" / "PETS09-S2L1"
    common = [
        str(pets / "img1"),
        "--detections",
        str(pets / "det" / "det.txt"),
        "--checkpoint",
        str(tiny_checkpoint),
        "--end",
        "4",
        "--no-video",
        "--quiet",
        "--threads",
        "1",
    ]
    from masa.adapter.model import MasaAdapter

    calls: list[tuple[int, object]] = []  # (frames per adapter call, autocast dtype)
    real = MasaAdapter.embed_batch

    def spy(self, prepared, boxes):
        calls.append((len(prepared), self.autocast_dtype))
        return real(self, prepared, boxes)

    monkeypatch.setattr(MasaAdapter, "embed_batch", spy)
    outputs, used = {}, {}
    for name, flags in {
        "new": ["--prefetch"],
        "old": ["--no-prefetch"],
        "bf16": ["--dtype", "bf16"],
    }.items():
        result = CliRunner().invoke(app, ["track", *common, *flags, "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        outputs[name] = (tmp_path / name / "PETS09-S2L1.txt").read_text()
        used[name], calls[:] = list(calls), []
    assert torch.get_num_threads() == 1
    assert (
        outputs["new"] == outputs["old"]
    )  # the overlapped loop tracks exactly as the sequential one
    # the overlapped loop embeds the 4 frames in one call, the sequential one frame by frame
    assert used["new"] == [(4, None)] and used["old"] == [(1, None)] * 4
    assert {dtype for _, dtype in used["bf16"]} == {torch.bfloat16}
    result = CliRunner().invoke(app, ["track", *common, "--dtype", "int8", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--dtype" in result.output
