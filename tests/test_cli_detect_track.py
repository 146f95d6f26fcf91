"""`masa detect-track` end to end (FastestDet on real PETS09 frames, a tiny Grounding DINO in both
plug-and-play and unified modes, a random-weight torchvision detector) and its bad inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import pytest
import torch
from typer.testing import CliRunner

from masa_cli.app import app
from tests.detectors.tiny_gdino import save_tiny_gdino, tiny_unified_adapter_config

runner = CliRunner()
NUM_FRAMES = 4


@pytest.fixture(scope="module")
def pets(shared: Path) -> Path:
    return shared / "data" / "mot" / "PETS09-S2L1" / "img1"


@pytest.fixture(scope="module")
def fastestdet_dir(shared: Path) -> Path:
    pytest.importorskip("onnxruntime")
    return shared / "data" / "weights" / "fastestdet"


@pytest.fixture(scope="module")
def gdino_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    return save_tiny_gdino(tmp_path_factory.mktemp("gdino"))


@pytest.fixture(scope="module")
def unified_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from masa.adapter import build_masa_adapter
    from masa.weights import save_adapter

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("unified") / "tiny_unified.safetensors"
    return save_adapter(build_masa_adapter(tiny_unified_adapter_config()), path)


def _run(*args: str) -> object:
    return runner.invoke(app, ["detect-track", *args, "--quiet"])


def _outputs(out: Path, name: str) -> tuple[list[str], list[dict]]:
    mot = (out / f"{name}.txt").read_text().splitlines()
    tao = json.loads((out / f"{name}.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == [f"{name}.json", f"{name}.mp4", f"{name}.txt"]
    return mot, tao


def test_help_is_fast_and_lists_detect_track() -> None:
    code = (
        "import sys, masa_cli.app; "
        "masa_cli.app.app(['detect-track', '--help'], standalone_mode=False); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().endswith("False")
    assert "--prompt" in out and "fastestdet" in out


def test_fastestdet_tracks_pets_pedestrians(
    pets: Path, fastestdet_dir: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    result = _run(
        str(pets),
        "--classes",
        "person",
        "--detector-weights",
        str(fastestdet_dir),
        "--checkpoint",
        str(tiny_checkpoint),
        "--out",
        str(tmp_path),
        "--end",
        str(NUM_FRAMES),
        "--batch-size",
        "3",
    )
    assert result.exit_code == 0, result.output
    mot, tao = _outputs(tmp_path, "PETS09-S2L1")
    assert {int(line.split(",")[0]) for line in mot} == set(range(1, NUM_FRAMES + 1))
    assert len({int(line.split(",")[1]) for line in mot}) >= 3  # three pedestrians from frame 1 on
    assert {e["category_name"] for e in tao} == {"person"}
    with av.open(str(tmp_path / "PETS09-S2L1.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert sum(1 for _ in container.decode(stream)) == NUM_FRAMES


@pytest.mark.parametrize("mode", ["plug-and-play", "unified"])
def test_grounding_dino_tiny_runs_end_to_end(
    mode: str,
    pets: Path,
    gdino_dir: Path,
    tiny_checkpoint: Path,
    unified_checkpoint: Path,
    tmp_path: Path,
) -> None:
    checkpoint = tiny_checkpoint if mode == "plug-and-play" else unified_checkpoint
    result = _run(
        str(pets),
        "--detector",
        "grounding-dino",
        "--model",
        str(gdino_dir),
        "--prompt",
        "person . car",
        "--input-size",
        "128",
        "--score-threshold",
        "0.3",
        "--nms-iou",
        "0.7",
        "--tracker",
        "tao-test",
        "--checkpoint",
        str(checkpoint),
        "--out",
        str(tmp_path),
        "--end",
        "3",
        "--batch-size",
        "2",
    )
    assert result.exit_code == 0, result.output
    mot, tao = _outputs(tmp_path, "PETS09-S2L1")
    assert len(mot) > 0  # random weights: boxes anywhere, but every one of them tracked
    assert {e["category_name"] for e in tao} <= {"person", "car"}


def test_torchvision_detector_with_random_weights(
    pets: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    from masa.detectors import build_ssdlite_detector

    torch.manual_seed(0)
    weights = tmp_path / "ssdlite_random.pth"
    torch.save(build_ssdlite_detector(weights=None).model.state_dict(), weights)
    out = tmp_path / "out"
    result = _run(
        str(pets),
        "--detector",
        "ssdlite",
        "--detector-weights",
        str(weights),
        "--score-threshold",
        "0",
        "--nms-iou",
        "0.3",
        "--tracker",
        "tao-test",
        "--checkpoint",
        str(tiny_checkpoint),
        "--out",
        str(out),
        "--end",
        "1",
        "--no-video",
    )
    assert result.exit_code == 0, result.output
    assert len((out / "PETS09-S2L1.txt").read_text().splitlines()) > 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--detector", "grounding-dino"], "needs --prompt"),
        (["--prompt", "car"], "--prompt apply to --detector grounding-dino only, not fastestdet"),
        (["--classes", "person,unicorn"], "--classes: 'unicorn' is not a class of this detector"),
        (["--detector", "grounding-dino", "--prompt", "car", "--classes", "car"], "closed-set"),
        (
            ["--detector", "grounding-dino", "--prompt", "car . person"],
            "hf download IDEA-Research/grounding-dino-tiny",
        ),
        (["--detector-weights", "no/such/FastestDet.onnx"], "neither a file"),
        (["UNIFIED"], "has no backbone of its own"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_output(
    args: list[str],
    message: str,
    pets: Path,
    fastestdet_dir: Path,
    tiny_checkpoint: Path,
    unified_checkpoint: Path,
    tmp_path: Path,
) -> None:
    checkpoint = unified_checkpoint if args == ["UNIFIED"] else tiny_checkpoint
    args = [] if args == ["UNIFIED"] else args
    if "--detector-weights" not in args and "grounding-dino" not in args:
        args = [*args, "--detector-weights", str(fastestdet_dir)]
    out = tmp_path / "out"
    result = _run(
        str(pets), *args, "--checkpoint", str(checkpoint), "--out", str(out), "--end", "2"
    )
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not out.exists() or not any(out.iterdir())
