"""`masa.eval.evaluate` vs trackeval 1.3.0 on real MOTChallenge ground truth (PETS09-S2L1,
TUD-Campus, TUD-Stadtmitte) scored against systematically perturbed results: every HOTA, CLEAR and
Identity field, per sequence and combined, to 1e-9."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from masa.eval import evaluate, read_mot
from tests.eval.mot_helpers import (
    KINDS,
    MOT_SEQUENCES,
    assert_same_as_trackeval,
    load_gt,
    perturb,
    trackeval_mot,
    write_results,
)

pytestmark = pytest.mark.skipif(
    not all((d / "gt" / "gt.txt").is_file() for d in MOT_SEQUENCES.values()),
    reason="shared MOT data missing",
)


@pytest.fixture(scope="module")
def gt_root(tmp_path_factory) -> Path:
    """The three sequences side by side (symlinks, nothing copied)."""
    root = tmp_path_factory.mktemp("gt")
    for name, seq_dir in MOT_SEQUENCES.items():
        (root / name).symlink_to(seq_dir, target_is_directory=True)
    return root


def test_reader_sees_2dmot2015_layout():
    data = read_mot(MOT_SEQUENCES["PETS09-S2L1"], MOT_SEQUENCES["PETS09-S2L1"] / "gt" / "gt.txt")
    seq = data.sequences[0]
    # 2DMOT2015 gt: class column is -1, so no class preprocessing (TrackEval's MOT15), 169 frames.
    assert (seq.name, seq.num_frames, seq.benchmark, len(seq.gt.ids)) == (
        "PETS09-S2L1",
        169,
        "MOT15",
        1006,
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_equal_to_trackeval_on_perturbed_results(gt_root, tmp_path, kind, seed):
    pytest.importorskip("trackeval")
    trackers = tmp_path / "trackers"
    for name, seq_dir in MOT_SEQUENCES.items():
        write_results(
            perturb(load_gt(seq_dir), kind, seed), trackers / "masa" / "data" / f"{name}.txt"
        )
    ref = trackeval_mot(gt_root, trackers, "masa", MOT_SEQUENCES)
    ours = evaluate(gt_root, trackers / "masa" / "data", "mot")
    checked = 0
    for seq in MOT_SEQUENCES:
        checked += assert_same_as_trackeval(ours.per_sequence[seq], ref[seq]["pedestrian"], seq)
    checked += assert_same_as_trackeval(
        ours.combined, ref["COMBINED_SEQ"]["pedestrian"], "combined"
    )
    assert checked >= 4 * 35
    if kind == "perfect":
        assert ours.combined["HOTA"] == 1.0 and ours.combined["IDF1"] == 1.0


def _write_mot17_sequence(root: Path, name: str, seed: int) -> np.ndarray:
    """PETS ground truth relabelled with MOT17 classes and "consider" flags, under `root/name`."""
    rng = np.random.default_rng(seed)
    gt = load_gt(MOT_SEQUENCES["PETS09-S2L1"])
    ids = gt[:, 1].astype(int)
    classes = np.ones(len(gt))
    classes[ids % 5 == 1] = 7  # static_person (distractor)
    classes[ids % 7 == 2] = 12  # reflection (distractor)
    classes[ids % 6 == 3] = 6  # non_mot_vehicle (distractor in MOT20 only)
    classes[ids % 9 == 4] = 3  # car (neither scored nor a distractor)
    flags = np.where(rng.random(len(gt)) < 0.1, 0.0, 1.0)
    flags[rng.random(len(gt)) < 0.05] = 0.5  # truncated to 0 by TrackEval's int cast: also dropped
    gt[:, 6], gt[:, 7] = flags, classes
    seq_dir = root / name
    (seq_dir / "gt").mkdir(parents=True)
    np.savetxt(seq_dir / "gt" / "gt.txt", gt[:, :9], fmt="%g", delimiter=",")
    (seq_dir / "seqinfo.ini").write_text(f"[Sequence]\nname={name}\nseqLength=169\n")
    return gt


@pytest.mark.parametrize("benchmark", ["MOT17", "MOT20"])
def test_distractor_preprocessing_equal_to_trackeval(tmp_path, benchmark):
    pytest.importorskip("trackeval")
    name = f"{benchmark}-PETS"
    gt = _write_mot17_sequence(tmp_path / "gt", name, seed=3)
    results = perturb(gt, "all", seed=4)  # includes predictions on distractors and on ignored gt
    write_results(results, tmp_path / "trackers" / "masa" / "data" / f"{name}.txt")
    assert (
        read_mot(tmp_path / "gt", tmp_path / "trackers" / "masa" / "data").sequences[0].benchmark
        == benchmark
    )
    ref = trackeval_mot(tmp_path / "gt", tmp_path / "trackers", "masa", [name], benchmark)
    ours = evaluate(tmp_path / "gt", tmp_path / "trackers" / "masa" / "data", "mot")
    assert_same_as_trackeval(ours.per_sequence[name], ref[name]["pedestrian"], name)
    assert_same_as_trackeval(ours.combined, ref["COMBINED_SEQ"]["pedestrian"], "combined")
    kept_gt = np.sum((gt[:, 6].astype(int) != 0) & (gt[:, 7] == 1))
    assert ours.combined["CLR_TP"] + ours.combined["CLR_FN"] == kept_gt
