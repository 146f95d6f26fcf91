"""`masa track` end to end on real PETS09 frames with a tiny checkpoint, and its bad inputs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import av
import pytest
from typer.testing import CliRunner

from masa_cli.app import app

runner = CliRunner()
NUM_FRAMES = 6


@pytest.fixture(scope="module")
def pets(shared: Path) -> Path:
    return shared / "data" / "mot" / "PETS09-S2L1"


def _track(*args: str) -> object:
    return runner.invoke(app, ["track", *args, "--quiet"])


def test_help_lists_every_command_fast() -> None:
    # A real process: `masa --help` must not import torch.
    code = "import sys, masa_cli.app; masa_cli.app.app(['--help'], standalone_mode=False); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")
    assert "track" in out


def test_track_writes_mot_tao_and_h264(pets: Path, tiny_checkpoint: Path, tmp_path: Path) -> None:
    result = _track(str(pets / "img1"), "--detections", str(pets / "det" / "det.txt"), "--tracker", "tao",
                    "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path), "--end", str(NUM_FRAMES))
    assert result.exit_code == 0, result.output
    mot = (tmp_path / "PETS09-S2L1.txt").read_text().splitlines()
    frames = {int(line.split(",")[0]) for line in mot}
    ids = {int(line.split(",")[1]) for line in mot}
    assert frames == set(range(1, NUM_FRAMES + 1))
    assert len(ids) >= 4  # PETS frame 1 shows 5+ pedestrians, each gets a track
    tao = json.loads((tmp_path / "PETS09-S2L1.json").read_text())
    assert len(tao) == len(mot) and {e["image_id"] for e in tao} == frames
    assert all(len(e["bbox"]) == 4 and e["bbox"][2] > 0 for e in tao)
    with av.open(str(tmp_path / "PETS09-S2L1.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert sum(1 for _ in container.decode(stream)) == NUM_FRAMES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["PETS09-S2L1.json", "PETS09-S2L1.mp4", "PETS09-S2L1.txt"]


def test_embed_size_sets_the_adapter_input(pets: Path, tiny_checkpoint: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import masa.weights

    sizes = []
    load = masa.weights.load_adapter
    monkeypatch.setattr(masa.weights, "load_adapter", lambda *a, **k: sizes.append(k["resize"]) or load(*a, **k))
    result = _track(str(pets / "img1"), "--detections", str(pets / "det" / "det.txt"), "--checkpoint",
                    str(tiny_checkpoint), "--out", str(tmp_path), "--end", "2", "--embed-size", "96", "--no-video")
    assert result.exit_code == 0, result.output
    assert sizes == [96] and (tmp_path / "PETS09-S2L1.txt").read_text()
    result = _track(str(pets / "img1"), "--detections", str(pets / "det" / "det.txt"), "--embed-size", "8")
    assert result.exit_code == 2 and "--embed-size" in result.output


def _bad_dets(tmp_path: Path, line: str) -> Path:
    path = tmp_path / "dets.txt"
    path.write_text("1,-1,10,10,20,40,0.9,-1,-1,-1\n" + line + "\n")
    return path


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing_video", "no such file or folder"),
        ("missing_dets", "dets.txt"),
        ("nan_line", "dets.txt:2"),
        ("negative_size", "dets.txt:2"),
        ("frame_beyond_video", "frame 99"),
        ("bad_checkpoint", "cannot read checkpoint"),
        ("bdd_with_gate", "apply to the TAO tracker only"),
        ("detector_feature_adapter", "use it with `masa detect-track"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_output(
    case: str, message: str, pets: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    source, dets, ckpt, extra = str(pets / "img1"), _bad_dets(tmp_path, "2,-1,10,10,20,40,0.8,-1,-1,-1"), str(tiny_checkpoint), []
    if case == "missing_video":
        source = str(tmp_path / "nope.mp4")
    elif case == "missing_dets":
        dets.unlink()
    elif case == "nan_line":
        dets = _bad_dets(tmp_path, "2,-1,nan,10,20,40,0.8,-1,-1,-1")
    elif case == "negative_size":
        dets = _bad_dets(tmp_path, "2,-1,10,10,-20,40,0.8,-1,-1,-1")
    elif case == "frame_beyond_video":
        dets = _bad_dets(tmp_path, "99,-1,10,10,20,40,0.8,-1,-1,-1")
        source = str(tmp_path / "few")
        shutil.copytree(pets / "img1", source, ignore=lambda d, names: sorted(names)[5:])
    elif case == "bad_checkpoint":
        ckpt = str(tmp_path / "broken.pth")
        Path(ckpt).write_bytes(b"garbage")
    elif case == "detector_feature_adapter":
        from masa.adapter import build_masa_adapter, AdapterConfig
        from masa.weights import save_adapter

        config = AdapterConfig(backbone=None, in_channels=(32, 64), in_strides=(8, 16), channels=32,
                               fusion_blocks=0, head_convs=0, head_fc_channels=32, embed_dim=8, roi_levels=2)
        ckpt = str(save_adapter(build_masa_adapter(config), tmp_path / "featureless.safetensors"))
    elif case == "bdd_with_gate":
        extra = ["--tracker", "bdd", "--max-distance", "50"]
    out = tmp_path / "out"
    result = _track(source, "--detections", str(dets), "--checkpoint", ckpt, "--out", str(out), *extra)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert "Traceback" not in result.output
    assert not out.exists() or not any(out.iterdir())


def test_failure_mid_run_leaves_no_partial_files(pets: Path, tiny_checkpoint: Path, tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for name in sorted(p.name for p in (pets / "img1").iterdir())[:3]:
        shutil.copy(pets / "img1" / name, frames / name)
    (frames / "000004.jpg").write_bytes(b"not a jpeg")  # with --strict, fails after 3 frames
    dets = tmp_path / "dets.txt"
    lines = (pets / "det" / "det.txt").read_text().splitlines()
    dets.write_text("\n".join(line for line in lines if int(line.split(",")[0]) <= 4) + "\n")
    out = tmp_path / "out"
    result = _track(str(frames), "--detections", str(dets), "--checkpoint", str(tiny_checkpoint), "--out", str(out),
                    "--strict")
    assert result.exit_code == 2 and "000004.jpg" in result.stderr
    assert list(out.iterdir()) == []  # no outputs, no temporary files


def test_real_process_error_has_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "masa_cli", "track", str(tmp_path / "missing.mp4"), "--detections", "x.txt"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr


def test_track_runs_a_detector_as_users_call_it(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """`masa track video.mp4 --detector grounding-dino --prompt "car"`: offline, a one-line error naming
    the weights to fetch; with a local (tiny) Grounding DINO folder it tracks."""
    pytest.importorskip("transformers")
    from tests.detectors.tiny_gdino import save_tiny_gdino

    sample = str(Path(__file__).resolve().parents[1] / "samples" / "shapes.mp4")
    result = _track(sample, "--detector", "grounding-dino", "--prompt", "car", "--out", str(tmp_path / "a"))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "hf download IDEA-Research/grounding-dino-tiny" in lines[0], lines
    model = save_tiny_gdino(tmp_path / "gdino")
    result = _track(sample, "--detector", "grounding-dino", "--prompt", "car", "--model", str(model),
                    "--input-size", "128", "--score-threshold", "0.3", "--tracker", "tao-test",
                    "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "b"), "--end", "2", "--no-video")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["shapes.json", "shapes.txt"]
