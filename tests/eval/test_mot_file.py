"""A plain gt.txt (masa.eval.mot_file): the scores of its MOTChallenge folder, --frames, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from masa.errors import InputError
from masa.eval.runner import detect_format, evaluate
from tests.eval.mot_helpers import MOT_SEQUENCES, load_gt, perturb, write_results

PETS = MOT_SEQUENCES["PETS09-S2L1"]
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not (PETS / "gt" / "gt.txt").is_file(), reason="shared MOT data missing")
def test_plain_file_scores_as_its_mot15_folder(tmp_path: Path) -> None:
    results = tmp_path / "PETS09-S2L1.txt"
    write_results(perturb(load_gt(PETS), "all", 3), results)
    folder = evaluate(PETS, results)
    plain = evaluate(PETS / "gt" / "gt.txt", results, num_frames=169)  # seqinfo.ini seqLength
    assert detect_format(PETS / "gt" / "gt.txt") == "mot"
    assert plain.combined == folder.combined and list(plain.per_sequence) == ["PETS09-S2L1"]
    assert 0 < plain.combined["HOTA"] < 1
    # the default length (the last frame in either file) gives the same numbers: empty frames
    # at the end count for nothing
    assert evaluate(PETS / "gt" / "gt.txt", results).combined == folder.combined


def test_sample_gt_is_scored_class_agnostic(tmp_path: Path) -> None:
    gt = REPO / "samples" / "shapes_gt.txt"  # class column: 1 disc, 2 square
    results = tmp_path / "shapes.txt"
    rows = [line.split(",") for line in gt.read_text().split()]
    results.write_text("".join(f"{','.join(r[:6])},1,-1,-1,-1\n" for r in rows))
    scores = evaluate(gt, results).combined
    assert (
        scores["HOTA"] == pytest.approx(1.0)
        and scores["MOTA"] == 1.0
        and scores["CLR_TP"] == len(rows)
    )


def test_frames_and_errors(tmp_path: Path) -> None:
    gt, res = tmp_path / "gt.txt", tmp_path / "res.txt"
    gt.write_text("1,1,0,0,10,10,1,1,1\n3,1,0,0,10,10,1,1,1\n")
    res.write_text("1,5,0,0,10,10,0.9,-1,-1,-1\n4,5,50,50,10,10,0.9,-1,-1,-1\n")
    result = evaluate(gt, res)
    assert (
        result.combined["CLR_TP"] == 1
        and result.combined["CLR_FP"] == 1
        and result.combined["CLR_FN"] == 1
    )
    with pytest.raises(InputError, match=r"res.txt: frame 4 is outside 1..3 \(--frames\)"):
        evaluate(gt, res, num_frames=3)
    with pytest.raises(InputError, match="is for a plain gt.txt file"):
        evaluate(tmp_path, res, "mot", num_frames=3)
    with pytest.raises(FileNotFoundError, match="results not found"):
        evaluate(gt, tmp_path / "missing.txt")
    res.write_text("1,5,0,0,10,10,0.9\n1,5,1,1,10,10,0.9\n")
    with pytest.raises(InputError, match="id 5 twice in frame 0"):
        evaluate(gt, res)


def test_cli_frames_option(tmp_path: Path) -> None:
    from tests.eval.test_cli import _assert_one_line_error, _run

    gt, res = tmp_path / "gt.txt", tmp_path / "res.txt"
    gt.write_text("1,1,0,0,10,10,1,1,1\n")
    res.write_text("2,1,0,0,10,10,0.9,-1,-1,-1\n")
    result = _run("--gt", gt, "--results", res, "--frames", "2", "--json", tmp_path / "s.json")
    assert result.exit_code == 0 and "res" in result.output, result.output
    # nothing matched (this used to raise an IndexError in CLEAR's fragmentation count)
    combined = json.loads((tmp_path / "s.json").read_text())["combined"]
    assert (combined["CLR_TP"], combined["CLR_FN"], combined["CLR_FP"], combined["Frag"]) == (
        0,
        1,
        1,
        0,
    )
    assert combined["MOTA"] == -1.0 and combined["HOTA"] == 0
    _assert_one_line_error(
        _run("--gt", gt, "--results", res, "--frames", "1"), "is outside 1..1 (--frames)"
    )
