"""`masa tune` end to end on a tiny labelled sequence, and its output read by --tracker-config."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from masa.tracking import read_tracker_config
from masa_cli.app import app

runner = CliRunner()


@pytest.fixture
def sequence(tmp_path):
    folder = tmp_path / "tiny"
    for sub in ("img1", "gt", "det"):
        (folder / sub).mkdir(parents=True)
    (folder / "seqinfo.ini").write_text("[Sequence]\nname=tiny\nimDir=img1\nframeRate=10\nseqLength=8\n"
                                        "imWidth=128\nimHeight=96\nimExt=.jpg\n")
    gt, det = [], []
    for t in range(8):
        image = np.full((96, 128, 3), 40, np.uint8)
        x = 10 + 6 * t
        cv2.rectangle(image, (x, 20), (x + 24, 60), (220, 60, 60), -1)
        cv2.imwrite(str(folder / "img1" / f"{t + 1:06d}.jpg"), image)
        gt.append(f"{t + 1},1,{x},20,24,40,1,1,1")
        det.append(f"{t + 1},-1,{x},20,24,40,0.45,-1,-1,-1")
    (folder / "gt" / "gt.txt").write_text("\n".join(gt) + "\n")
    (folder / "det" / "det.txt").write_text("\n".join(det) + "\n")
    return folder


def test_tune_writes_settings_that_track(tmp_path, sequence):
    pytest.importorskip("optuna")
    out = tmp_path / "best.json"
    result = runner.invoke(app, ["tune", str(sequence), "--trials", "6", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    saved = json.loads(out.read_text())
    assert saved["metric"] == "HOTA" and 0 <= saved["score"] <= 1
    config = read_tracker_config(out)
    assert config.high_score_threshold == saved["tracker"]["high_score_threshold"]
    assert "--tracker-config" in result.output


def test_tune_rejects_bad_input(tmp_path, sequence):
    result = runner.invoke(app, ["tune", str(tmp_path), "--trials", "1"])
    assert result.exit_code == 2 and "not a MOTChallenge sequence folder" in result.output
    result = runner.invoke(app, ["tune", str(sequence), "--metric", "speed"])
    assert result.exit_code == 2 and "--metric must be one of" in result.output
