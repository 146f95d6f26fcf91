"""benchmarks/gpu.py off the GPU: its refusal without CUDA, its helpers, and one tiny CPU pass."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.py"
_SPEC = importlib.util.spec_from_file_location("gpu_benchmark", _PATH)
gpu = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = gpu  # its dataclass looks its module up
_SPEC.loader.exec_module(gpu)


def test_without_cuda_it_stops_with_a_message(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as exit_info:
        gpu.main([])
    assert exit_info.value.code == 2
    assert "needs a CUDA device" in capsys.readouterr().err


def test_boxes_and_frames() -> None:
    boxes = gpu.random_boxes(50, 1280, 720, seed=3)
    assert boxes.shape == (50, 4)
    assert bool(
        (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 1280).all() and (boxes[:, 3] <= 720).all()
    )
    assert bool((boxes[:, 2:] - boxes[:, :2] >= 16).all())
    torch.testing.assert_close(boxes, gpu.random_boxes(50, 1280, 720, seed=3))
    frames = gpu.synthetic_frames(3, 64, 48, video=Path("no-such-video.mp4"))
    assert len(frames) == 3 and all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in frames)
    assert gpu.per_frame_ms(lambda: None, 4, 2, torch.device("cpu")) >= 0


def test_every_stage_runs_with_tiny_models_on_the_cpu(capsys) -> None:
    rows = gpu.main(
        [
            "--cpu-smoke",
            "--size",
            "160",
            "128",
            "--batches",
            "1",
            "2",
            "--dtypes",
            "fp32",
            "--repeats",
            "1",
        ]
    )
    assert {r["stage"] for r in rows} == set(gpu.STAGES)
    assert all(r["ms"] > 0 for r in rows)
    assert {r["batch"] for r in rows if r["stage"] == "sam-b"} == {
        1
    }  # SAM encodes one frame a call
    out = capsys.readouterr().out
    assert "frames/s" in out and "no goal applies" in out
