"""`tune_tracker` finds a known optimum, and tracker configs are read strictly."""

from __future__ import annotations

import json

import pytest
import torch

from masa.errors import InputError
from masa.structures import Detections
from masa.tracking import MasaTrackerConfig, read_tracker_config
from masa.tracking.tune import TuneSequence, tune_tracker


def synthetic_sequence(tmp_path) -> TuneSequence:
    """Two objects whose detector scores are all 0.45: only a first-stage threshold below that
    tracks them."""
    folder = tmp_path / "seq"
    (folder / "gt").mkdir(parents=True)
    (folder / "seqinfo.ini").write_text(
        "[Sequence]\nname=seq\nimDir=img1\nframeRate=10\nseqLength=20\nimWidth=640\nimHeight=480\nimExt=.jpg\n")
    rows, frames = [], []
    for t in range(20):
        boxes = [[50.0 + 5 * t, 50, 90 + 5 * t, 130], [400.0 - 5 * t, 300, 440 - 5 * t, 380]]
        for track_id, (x1, y1, x2, y2) in enumerate(boxes, 1):
            rows.append(f"{t + 1},{track_id},{x1},{y1},{x2 - x1},{y2 - y1},1,1,1")
        frames.append((t, Detections(torch.tensor(boxes), torch.tensor([0.45, 0.45]), torch.tensor([0, 0]))))
    (folder / "gt" / "gt.txt").write_text("\n".join(rows) + "\n")
    return TuneSequence("seq", folder, 10.0, frames)


def test_tune_finds_the_known_optimum(tmp_path):
    pytest.importorskip("optuna")
    base = MasaTrackerConfig(high_score_threshold=0.7, init_score_threshold=0.3, low_score_threshold=0.1)
    seen = []
    result = tune_tracker([synthetic_sequence(tmp_path)], metric="hota", trials=12, seed=0,
                          space={"high_score_threshold": (0.2, 0.8)}, base=base,
                          on_trial=lambda n, values, score: seen.append(score))
    assert seen[0] == 0.0  # the base settings track nothing
    assert result.config.high_score_threshold <= 0.45 and result.score > 0.95
    assert result.config.init_score_threshold == 0.3  # unsearched settings keep the base values


def test_read_tracker_config(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"tracker": {"min_hits": 4, "match_threshold": 1}}))
    assert read_tracker_config(path) == MasaTrackerConfig(min_hits=4, match_threshold=1.0)
    for bad, message in [({"nope": 1}, "unknown tracker setting"), ({"min_hits": "3"}, "must be a int"),
                         ({"match_threshold": 2.0}, "must be in"), ([1, 2], "JSON object")]:
        path.write_text(json.dumps(bad))
        with pytest.raises(InputError, match=message):
            read_tracker_config(path)
    path.write_bytes(b"\xff\x00")
    with pytest.raises(InputError, match="cannot read"):
        read_tracker_config(path)
