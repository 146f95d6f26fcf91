"""HOTA / CLEAR / Identity on tiny sequences whose answers are worked out by hand (TrackEval style).

Each case gives, per frame, the gt ids, tracker ids and the (gt x tracker) IoU matrix.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from masa.eval.clear import clear_fields, clear_sequence, combine_clear
from masa.eval.hota import ALPHAS, combine_hota, hota_fields, hota_sequence
from masa.eval.identity import identity_fields, identity_sequence
from masa.eval.similarity import FramePairs


def _dense(gt_present, tracker_present, similarity) -> FramePairs:
    """TrackEval's test layout: presence masks (T, NG) / (T, NT), a dense (T, NG, NT) IoU array."""
    gt_ids = [np.flatnonzero(row) for row in np.asarray(gt_present)]
    tr_ids = [np.flatnonzero(row) for row in np.asarray(tracker_present)]
    sim = [np.asarray(s)[g][:, t] for s, g, t in zip(similarity, gt_ids, tr_ids)]
    return FramePairs.from_frames(gt_ids, tr_ids, sim)


def _case_no_confusion():
    # TrackEval tests/test_metrics.py `no_confusion`: gt 0 <-> tracker 1 (frames 3-4), gt 1 <->
    # tracker 0
    # (frames 0-1). 8 gt dets, 9 tracker dets, 4 matches: MOTA = 1 - (4 FN + 5 FP) / 8.
    sim = np.zeros((5, 2, 2))
    sim[:, 0, 1] = [0, 0, 0, 1, 1]
    sim[:, 1, 0] = [1, 1, 0, 0, 0]
    gt = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]).T
    tr = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]).T
    clear_expected = {"CLR_TP": 4, "CLR_FN": 4, "CLR_FP": 5, "IDSW": 0, "MOTA": 1 - 9 / 8}
    # Best id assignment: gt0-tr1 (2 frames), gt1-tr0 (2 frames): IDTP 4, IDFN 8-4, IDFP 9-4.
    id_expected = {"IDTP": 4, "IDFN": 4, "IDFP": 5, "IDR": 4 / 8, "IDP": 4 / 9, "IDF1": 2 * 4 / 17}
    return _dense(gt, tr, sim), clear_expected, id_expected


def _case_with_confusion():
    # As above plus IoU 1 for (gt0, tr0) in frame 2 and (gt1, tr1) in frame 1. Frame 1 keeps gt1-tr0
    # (it
    # continues frame 0's match: +1000), frame 2 adds gt0-tr0, frame 3 switches gt0 to tr1: IDSW 1.
    sim = np.zeros((5, 2, 2))
    sim[:, 0, 1] = [0, 0, 0, 1, 1]
    sim[:, 1, 0] = [1, 1, 0, 0, 0]
    sim[:, 0, 0] = [0, 0, 1, 0, 0]
    sim[:, 1, 1] = [0, 1, 0, 0, 0]
    gt = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]).T
    tr = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]).T
    clear_expected = {"CLR_TP": 5, "CLR_FN": 3, "CLR_FP": 4, "IDSW": 1, "MOTA": 1 - 8 / 8}
    id_expected = {"IDTP": 4, "IDFN": 4, "IDFP": 5, "IDR": 4 / 8, "IDP": 4 / 9, "IDF1": 2 * 4 / 17}
    return _dense(gt, tr, sim), clear_expected, id_expected


def _case_split_tracks():
    # gt0 is split over tracks 0 then 3; gt1 over tracks 4, 1, 2. Every gt det is matched (TP 9 of
    # 9,
    # FP 11 - 9); switches: gt0 0->3, gt1 4->1->2: IDSW 3. Best id assignment covers 2 + 2 frames:
    # IDTP 4.
    sim = np.zeros((5, 2, 5))
    sim[:, 0, 0] = [1, 1, 0, 0, 0]
    sim[:, 0, 3] = [0, 0, 0, 1, 1]
    sim[:, 1, 1] = [0, 0, 1, 1, 0]
    sim[:, 1, 2] = [0, 0, 0, 0, 1]
    sim[:, 1, 4] = [1, 1, 0, 0, 0]
    gt = np.array([[1, 1, 0, 1, 1], [1, 1, 1, 1, 1]]).T
    tr = np.array(
        [[1, 1, 0, 0, 0], [0, 0, 1, 1, 1], [0, 0, 0, 0, 1], [0, 0, 1, 1, 1], [1, 1, 0, 0, 0]]
    ).T
    clear_expected = {"CLR_TP": 9, "CLR_FN": 0, "CLR_FP": 2, "IDSW": 3, "MOTA": 1 - 5 / 9}
    id_expected = {"IDTP": 4, "IDFN": 5, "IDFP": 7, "IDR": 4 / 9, "IDP": 4 / 11, "IDF1": 2 * 4 / 20}
    return _dense(gt, tr, sim), clear_expected, id_expected


TRACKEVAL_CASES = {
    "no_confusion": _case_no_confusion,
    "with_confusion": _case_with_confusion,
    "split_tracks": _case_split_tracks,
}


@pytest.mark.parametrize("name", list(TRACKEVAL_CASES))
def test_trackeval_hand_cases(name):
    data, clear_expected, id_expected = TRACKEVAL_CASES[name]()
    data = data.relabelled()
    got = clear_fields(clear_sequence(data))
    for key, value in clear_expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key
    got = identity_fields(identity_sequence(data))
    for key, value in id_expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key


def test_hota_identity_switch():
    # 3 frames, one gt g0 and one tracker det per frame, IoU 1: t0, t0, then t1.
    # Alignment: every frame's normalised IoU is 1/(1+1-1) = 1, so potential(g0,t0)=2, (g0,t1)=1.
    # All 3 dets match at every alpha: DetA = 3/3 = 1.
    # AssA = (A*A/(n_g+n_t-A) summed over pairs) / TP = (2*2/(3+2-2) + 1*1/(3+1-1)) / 3 = (4/3 +
    # 1/3)/3 = 5/9
    # AssRe = (2*2/3 + 1*1/3)/3 = 5/9; AssPr = (2*2/2 + 1*1/1)/3 = 1; HOTA = sqrt(1 * 5/9).
    data = FramePairs.from_frames([[0], [0], [0]], [[0], [0], [1]], [[[1.0]], [[1.0]], [[1.0]]])
    f = hota_fields(hota_sequence(data))
    assert np.allclose(f["DetA"], 1) and np.allclose(f["LocA"], 1)
    assert (
        np.allclose(f["AssA"], 5 / 9)
        and np.allclose(f["AssRe"], 5 / 9)
        and np.allclose(f["AssPr"], 1)
    )
    assert np.allclose(f["HOTA"], math.sqrt(5 / 9))
    c = clear_fields(
        clear_sequence(data)
    )  # one switch: MOTA = (3 - 0 - 1)/3; tracked throughout: Frag 0
    assert (c["IDSW"], c["Frag"], c["MT"], c["MOTA"]) == (1, 0, 1, pytest.approx(2 / 3))
    i = identity_fields(identity_sequence(data))  # g0<->t0 for 2 frames: IDF1 = 2*2 / (2*2 + 1 + 1)
    assert (i["IDTP"], i["IDFN"], i["IDFP"], i["IDF1"]) == (2, 1, 1, pytest.approx(2 / 3))


def test_hota_alpha_threshold_at_half():
    # One pair with IoU 0.5: matched for alpha = 0.05..0.50 (10 of 19 thresholds; IoU >= alpha -
    # eps),
    # unmatched (1 FN + 1 FP) for 0.55..0.95. DetA = AssA = HOTA = 1 on 10 alphas, 0 on 9: mean
    # 10/19.
    # LocA = 0.5 where matched and max(1e-10, 0)/max(1e-10, 0) = 1 elsewhere: (10*0.5 + 9*1)/19 =
    # 14/19.
    f = hota_fields(hota_sequence(FramePairs.from_frames([[0]], [[0]], [[[0.5]]])))
    assert np.mean(f["HOTA"]) == pytest.approx(10 / 19) and np.mean(f["DetA"]) == pytest.approx(
        10 / 19
    )
    assert np.mean(f["LocA"]) == pytest.approx(14 / 19)
    assert list(f["HOTA_TP"]) == [1] * 10 + [0] * 9


def test_hota_miss_and_false_positive():
    # Frame 0: g0 with t0 (IoU 0.82) and t1 (IoU 0); frame 1: g0 alone.
    # Normalised IoU of (g0,t0) in frame 0: 0.82/(0.82+0.82-0.82) = 1, so alignment = 1/(2+1-1) =
    # 1/2.
    # Matched for alpha <= 0.80 (16 thresholds): TP 1, FN 1 (frame 1), FP 1 (t1): DetA = 1/3;
    # AssA = 1*1/(2+1-1) / 1 = 1/2; HOTA = sqrt(1/6). For 0.85..0.95: TP 0, HOTA 0.
    data = FramePairs.from_frames([[0], [0]], [[0, 1], []], [[[0.82, 0.0]], np.zeros((1, 0))])
    f = hota_fields(hota_sequence(data))
    matched = ALPHAS <= 0.8 + 1e-9
    assert np.allclose(f["DetA"][matched], 1 / 3) and np.allclose(f["DetA"][~matched], 0)
    assert np.allclose(f["AssA"][matched], 1 / 2)
    assert np.mean(f["HOTA"]) == pytest.approx(16 * math.sqrt(1 / 6) / 19)
    assert np.allclose(f["LocA"][matched], 0.82)


def test_combine_sequences_weights():
    # Sequence A: perfect single match (TP 1 at every alpha, AssA 1); sequence B: one gt, no tracker
    # (FN 1).
    # Combined: TP 1, FN 1 -> DetA 1/2; AssA weighted by TP = (1*1 + 0*0)/1 = 1; HOTA = sqrt(1/2).
    a = hota_sequence(FramePairs.from_frames([[0]], [[0]], [[[1.0]]]))
    b = hota_sequence(FramePairs.from_frames([[0]], [[]], [np.zeros((1, 0))]))
    f = hota_fields(combine_hota([a, b]))
    assert np.allclose(f["HOTA"], math.sqrt(0.5))
    c = clear_fields(
        combine_clear(
            [
                clear_sequence(FramePairs.from_frames([[0]], [[0]], [[[1.0]]])),
                clear_sequence(FramePairs.from_frames([[0]], [[]], [np.zeros((1, 0))])),
            ]
        )
    )
    assert (c["CLR_TP"], c["CLR_FN"], c["MOTA"], c["CLR_Frames"]) == (
        1,
        1,
        0.5,
        1,
    )  # empty seq: 0 frames


def test_empty_sequences_follow_trackeval():
    # No predictions: TrackEval returns raw counts, MOTA 0 and MLR 1 (its early return); no gt: FP
    # only.
    no_pred = FramePairs.from_frames([[0, 1]], [[]], [np.zeros((2, 0))])
    c = clear_fields(clear_sequence(no_pred))
    assert (c["CLR_FN"], c["ML"], c["MOTA"], c["MLR"], c["CLR_Frames"]) == (2, 2, 0.0, 1.0, 0)
    no_gt = FramePairs.from_frames([[]], [[0]], [np.zeros((0, 1))])
    c = clear_fields(clear_sequence(no_gt))
    assert (c["CLR_FP"], c["MOTA"]) == (1, 0.0)
    f = hota_fields(hota_sequence(no_gt))
    assert np.allclose(f["HOTA_FP"], 1) and np.allclose(f["LocA"], 1) and np.allclose(f["HOTA"], 0)


def _random_case(rng: np.random.Generator, num_frames=30, num_gt=7, num_tr=10):
    gt_ids, tr_ids, sims = [], [], []
    for _ in range(num_frames):
        g = np.sort(rng.choice(num_gt, rng.integers(0, num_gt + 1), replace=False))
        t = np.sort(rng.choice(num_tr, rng.integers(0, num_tr + 1), replace=False))
        s = rng.random((len(g), len(t)))
        s[s < 0.55] = 0
        gt_ids.append(g)
        tr_ids.append(t)
        sims.append(np.round(s, 1))  # rounding makes ties, which both must break the same way
    ug, ut = np.unique(np.concatenate(gt_ids)), np.unique(np.concatenate(tr_ids))
    gt_ids = [np.searchsorted(ug, g) for g in gt_ids]
    tr_ids = [np.searchsorted(ut, t) for t in tr_ids]
    return gt_ids, tr_ids, sims, len(ug), len(ut)


@pytest.mark.parametrize("seed", range(12))
def test_metrics_equal_trackeval_on_random_sequences(seed):
    trackeval = pytest.importorskip("trackeval")
    gt_ids, tr_ids, sims, ng, nt = _random_case(np.random.default_rng(seed))
    data = {
        "num_timesteps": len(gt_ids),
        "num_gt_ids": ng,
        "num_tracker_ids": nt,
        "num_gt_dets": sum(map(len, gt_ids)),
        "num_tracker_dets": sum(map(len, tr_ids)),
        "gt_ids": gt_ids,
        "tracker_ids": tr_ids,
        "similarity_scores": sims,
    }
    ref = {}
    for metric in (
        trackeval.metrics.HOTA(),
        trackeval.metrics.CLEAR({"PRINT_CONFIG": False}),
        trackeval.metrics.Identity({"PRINT_CONFIG": False}),
    ):
        ref.update(metric.eval_sequence(data))
    pairs = FramePairs.from_frames(gt_ids, tr_ids, sims)
    ours = {
        **hota_fields(hota_sequence(pairs)),
        **clear_fields(clear_sequence(pairs)),
        **identity_fields(identity_sequence(pairs)),
    }
    for key, value in ours.items():
        np.testing.assert_allclose(value, ref[key], rtol=0, atol=1e-9, err_msg=key)
