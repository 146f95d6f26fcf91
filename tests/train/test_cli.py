"""`masa proposals` and `masa train` from the command line, and their one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from masa_cli.app import app

runner = CliRunner()


def test_proposals_then_train(tmp_path: Path, coco128: tuple[Path, Path]) -> None:
    images, coco_json = coco128
    proposals = tmp_path / "proposals.json"
    args = [
        "proposals",
        str(images),
        "--method",
        "coco",
        "--coco-json",
        str(coco_json),
        "--out",
        str(proposals),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "wrote" in result.stdout
    assert "reused" in runner.invoke(app, args).stdout
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            "--images",
            str(images),
            "--proposals",
            str(proposals),
            "--out",
            str(out),
            "--model",
            "lite",
            "--channels",
            "32",
            "--embed-dim",
            "32",
            "--size",
            "160",
            "--batch-size",
            "1",
            "--max-steps",
            "2",
            "--workers",
            "0",
            "--log-every",
            "1",
            "--jitter-boxes",
            "2",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (out / "adapter.safetensors").is_file() and "adapter checkpoint" in result.stdout
    from safetensors import safe_open

    with safe_open(str(out / "adapter.safetensors"), "pt") as f:
        assert json.loads(f.metadata()["config"])["jitter_boxes"] == 2
    assert len((out / "train_log.csv").read_text().splitlines()) == 3


def _one_line_error(result: object, message: str) -> None:
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert "Traceback" not in result.output  # type: ignore[attr-defined]


def test_bad_proposals_file_is_a_one_line_error(tmp_path: Path, coco128: tuple[Path, Path]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}],
                "annotations": [{"id": 1, "image_id": 1, "bbox": [0, 0, "w", 5]}],
            }
        )
    )
    result = runner.invoke(
        app,
        [
            "train",
            "--images",
            str(coco128[0]),
            "--proposals",
            str(bad),
            "--model",
            "lite",
            "--out",
            str(tmp_path / "run"),
            "--quiet",
        ],
    )
    _one_line_error(result, f"{bad}: annotations[0]: bbox must be [x, y, w, h] numbers")
    missing = runner.invoke(
        app,
        [
            "train",
            "--images",
            str(coco128[0]),
            "--proposals",
            str(tmp_path / "no.json"),
            "--out",
            str(tmp_path / "run"),
            "--quiet",
        ],
    )
    _one_line_error(missing, "proposals file not found")


def test_other_bad_inputs(tmp_path: Path, coco128: tuple[Path, Path]) -> None:
    images = str(coco128[0])
    _one_line_error(
        runner.invoke(app, ["proposals", images, "--out", str(tmp_path / "p.json")]),
        "--method sam needs --sam-checkpoint",
    )
    _one_line_error(
        runner.invoke(
            app,
            [
                "train",
                "--images",
                images,
                "--proposals",
                "x.json",
                "--resume",
                "--out",
                str(tmp_path / "fresh"),
                "--quiet",
            ],
        ),
        "--resume: no resume.pt",
    )
    _one_line_error(
        runner.invoke(
            app,
            [
                "train",
                "--images",
                images,
                "--proposals",
                "x.json",
                "--amp",
                "bf16",
                "--device",
                "cpu",
                "--out",
                str(tmp_path / "r"),
                "--quiet",
            ],
        ),
        "needs a CUDA device",
    )


def test_torchrun_ddp_on_cpu(
    tmp_path: Path, coco128_proposals: Path, coco128: tuple[Path, Path]
) -> None:
    """Two gloo processes: 2 pairs per step, one log and one checkpoint written by rank 0."""
    import shutil
    import subprocess
    import sys

    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    out = tmp_path / "ddp"
    command = [
        torchrun,
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "masa_cli",
        "train",
        "--images",
        str(coco128[0]),
        "--proposals",
        str(coco128_proposals),
        "--out",
        str(out),
        "--model",
        "lite",
        "--channels",
        "32",
        "--embed-dim",
        "32",
        "--size",
        "128",
        "--batch-size",
        "1",
        "--max-steps",
        "2",
        "--workers",
        "0",
        "--threads",
        "1",
        "--device",
        "cpu",
        "--log-every",
        "1",
        "--quiet",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("adapter checkpoint") == 1
    rows = (out / "train_log.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[1].split(",")[-2] == "0.0025"  # lr = 0.08 x 2 pairs / 64


def test_track_sampling_options_reach_the_run_and_are_checked(
    tmp_path: Path, coco128: tuple[Path, Path], coco128_proposals: Path
) -> None:
    base = ["train", "--images", str(coco128[0]), "--proposals", str(coco128_proposals),
            "--model", "lite", "--channels", "32", "--embed-dim", "32", "--size", "160",
            "--batch-size", "1", "--max-steps", "1", "--workers", "0", "--jitter-boxes", "2",
            "--quiet"]
    out = tmp_path / "run"
    extra = ["--jitter-shift", "0.25", "--jitter-scale", "0.4", "--track-pos-iou", "0.5"]
    result = runner.invoke(app, [*base, *extra, "--out", str(out)])
    assert result.exit_code == 0, result.output
    from safetensors import safe_open

    with safe_open(str(out / "adapter.safetensors"), "pt") as f:
        config = json.loads(f.metadata()["config"])
    assert (config["jitter_shift"], config["jitter_scale"], config["track_pos_iou"]) == (
        0.25, 0.4, 0.5)
    bad = runner.invoke(app, [*base, "--track-pos-iou", "0.3", "--out", str(tmp_path / "bad")])
    _one_line_error(bad, "--track-pos-iou must be in (0.3, 1], got 0.3")
    assert not (tmp_path / "bad").exists()


def test_unwritable_out_is_a_one_line_error_before_any_work(
    tmp_path: Path, coco128: tuple[Path, Path]
) -> None:
    images = str(coco128[0])
    (tmp_path / "a_file").write_text("")
    under_file = str(tmp_path / "a_file" / "p.json")
    for out, message in ((under_file, "which is a file"), (str(tmp_path), "is a folder")):
        result = runner.invoke(
            app, ["proposals", images, "--method", "selective-search", "--out", out, "--quiet"]
        )
        _one_line_error(result, message)
    proposals = str(coco128[1])
    for out, message in (
        (tmp_path / "a_file", "is a file, not a folder"),
        (tmp_path / "a_file" / "run", "which is a file"),
    ):
        args = ["--images", images, "--proposals", proposals, "--out", str(out), "--quiet"]
        result = runner.invoke(app, ["train", *args])
        _one_line_error(result, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]
