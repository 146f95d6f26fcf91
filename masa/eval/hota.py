"""HOTA (Luiten et al., IJCV 2020) as pure functions of a sequence's frame-pair table.

Reference: trackeval/metrics/hota.py (trackeval 1.3.0)
    :21       alphas = np.arange(0.05, 0.99, 0.05)
    :51-72    global alignment score of every (gt id, tracker id): per-frame normalised IoU
    :76-105   per-frame Hungarian on alignment * similarity; TP/FN/FP and LocA at each alpha
    :109-119  AssA/AssRe/AssPr from each alpha's matches-count matrix; LocA = sum IoU / TP
    :123-133  combine_sequences (sum counts; Ass* and LocA weighted by HOTA_TP)
    :135-155  combine_classes_class_averaged (plain mean over classes)
    :169-183  derived fields (DetA, DetRe, DetPr, HOTA, OWTA, HOTA(0), LocA(0), HOTALocA(0))

Everything but the per-frame Hungarian runs on flat arrays: the 19 alpha thresholds are one
broadcast, and the per-alpha matches-count matrices are a sparse count of (alpha, gt id, tracker id)
keys. Frames whose positive scores share no row or column skip the Hungarian step (it could only
return those pairs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from masa.eval.similarity import EPS, FramePairs, assign_per_frame

__all__ = [
    "ALPHAS",
    "HOTA_FLOAT_ARRAY_FIELDS",
    "HOTA_FLOAT_FIELDS",
    "HOTA_INT_ARRAY_FIELDS",
    "HotaCounts",
    "combine_hota",
    "global_alignment",
    "hota_fields",
    "hota_sequence",
]

#: Localisation thresholds alpha = 0.05, 0.10, ..., 0.95 (trackeval/metrics/hota.py:21).
ALPHAS = np.arange(0.05, 0.99, 0.05)
HOTA_FLOAT_ARRAY_FIELDS = (
    "HOTA",
    "DetA",
    "AssA",
    "DetRe",
    "DetPr",
    "AssRe",
    "AssPr",
    "LocA",
    "OWTA",
)
HOTA_INT_ARRAY_FIELDS = ("HOTA_TP", "HOTA_FN", "HOTA_FP")
HOTA_FLOAT_FIELDS = ("HOTA(0)", "LocA(0)", "HOTALocA(0)")


@dataclass(frozen=True, eq=False)
class HotaCounts:
    """Combinable HOTA state of one sequence (or of several); every array is `float64[19]`."""

    tp: np.ndarray
    fn: np.ndarray
    fp: np.ndarray
    ass_a: np.ndarray
    ass_re: np.ndarray
    ass_pr: np.ndarray
    loc_a: np.ndarray


def global_alignment(data: FramePairs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Global alignment score between ids.

    Returns `(score float64[NG, NT], gt_count float64[NG], tracker_count float64[NT])`.

    Per frame, each pair's IoU is normalised by its row and column sums,
    `sim / (colsum + rowsum - sim)`; these are summed over frames per (gt id, tracker id) and turned
    into a Jaccard index with the ids' detection counts. Reference: trackeval/metrics/hota.py:51-72
    (teta/metrics/teta.py `compute_global_alignment_score` is the same computation).
    """
    num_gt, num_tr = data.num_gt_ids, data.num_tracker_ids
    sim = data.similarity
    row_sum = np.bincount(data.pair_gt, weights=sim, minlength=len(data.gt_ids))  # (G,)
    col_sum = np.bincount(data.pair_tracker, weights=sim, minlength=len(data.tracker_ids))  # (P,)
    denom = col_sum[data.pair_tracker] + row_sum[data.pair_gt] - sim  # (M,)
    ok = denom > 0 + EPS
    sim_iou = np.zeros_like(sim)
    sim_iou[ok] = sim[ok] / denom[ok]
    key = data.gt_ids[data.pair_gt] * num_tr + data.tracker_ids[data.pair_tracker]  # (M,)
    potential = np.bincount(key, weights=sim_iou, minlength=num_gt * num_tr).reshape(num_gt, num_tr)
    gt_count = np.bincount(data.gt_ids, minlength=num_gt).astype(float)  # (NG,)
    tr_count = np.bincount(data.tracker_ids, minlength=num_tr).astype(float)  # (NT,)
    return potential / (gt_count[:, None] + tr_count[None, :] - potential), gt_count, tr_count


def association_scores(
    match_alpha: np.ndarray,
    match_gt: np.ndarray,
    match_tr: np.ndarray,
    gt_count: np.ndarray,
    tr_count: np.ndarray,
    tp: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AssA, AssRe, AssPr per alpha from the matched (alpha index, gt id, tracker id) triples.

    `A[g, t]` is the number of frames where gt id g is matched to tracker id t at that alpha:
    `AssA = sum A * A / (n_g + n_t - A) / TP`; `AssRe` and `AssPr` divide by `n_g`, `n_t` instead.
    Reference: trackeval/metrics/hota.py:109-116; teta/metrics/teta.py `compute_association_scores`.
    """
    num_alpha, num_tr = len(tp), len(tr_count)
    num_pairs = len(gt_count) * num_tr
    keys, counts = np.unique(
        (match_alpha * num_pairs + match_gt * num_tr + match_tr), return_counts=True
    )
    a_idx, rest = np.divmod(keys, max(num_pairs, 1))
    g_idx, t_idx = np.divmod(rest, max(num_tr, 1))
    big_a = counts.astype(float)
    ng, nt = gt_count[g_idx], tr_count[t_idx]
    denom_tp = np.maximum(1, tp)

    def per_alpha(values: np.ndarray) -> np.ndarray:
        return np.bincount(a_idx, weights=big_a * values, minlength=num_alpha) / denom_tp

    ass_a = per_alpha(big_a / np.maximum(1, ng + nt - big_a))
    return ass_a, per_alpha(big_a / np.maximum(1, ng)), per_alpha(big_a / np.maximum(1, nt))


def hota_sequence(data: FramePairs) -> HotaCounts:
    """HOTA state of one sequence (ids `0..n-1`). Reference: trackeval/metrics/hota.py:29-121."""
    num_alpha = len(ALPHAS)
    zeros = np.zeros(num_alpha)
    num_gt_dets, num_tr_dets = len(data.gt_ids), len(data.tracker_ids)
    if num_gt_dets == 0 or num_tr_dets == 0:  # hota.py:40-49
        return HotaCounts(
            zeros, zeros + num_gt_dets, zeros + num_tr_dets, zeros, zeros, zeros, np.ones(num_alpha)
        )

    ga, gt_count, tr_count = global_alignment(data)
    gid, tid = data.gt_ids[data.pair_gt], data.tracker_ids[data.pair_tracker]  # (M,)
    go, po, pair_off = data.offsets()
    score = ga[gid, tid] * data.similarity  # (M,)
    matched = assign_per_frame(score, np.diff(go), np.diff(po), pair_off, positive_only=True)
    m_sim = data.similarity[matched]  # (K,)
    ok = m_sim[None, :] >= ALPHAS[:, None] - EPS  # (19, K)
    tp = ok.sum(axis=1).astype(float)
    loc_sum = np.where(ok, m_sim[None, :], 0.0).sum(axis=1)
    a_idx, k_idx = np.nonzero(ok)
    ass_a, ass_re, ass_pr = association_scores(
        a_idx, gid[matched][k_idx], tid[matched][k_idx], gt_count, tr_count, tp
    )
    loc_a = np.maximum(1e-10, loc_sum) / np.maximum(1e-10, tp)  # hota.py:119
    return HotaCounts(tp, num_gt_dets - tp, num_tr_dets - tp, ass_a, ass_re, ass_pr, loc_a)


def combine_hota(results: Sequence[HotaCounts]) -> HotaCounts:
    """Combines sequences (or classes, detection-averaged). Reference: hota.py:123-133."""
    tp = sum(r.tp for r in results) + np.zeros(len(ALPHAS))
    weight = np.maximum(1.0, tp)

    def weighted(name: str) -> np.ndarray:
        return sum(getattr(r, name) * r.tp for r in results) / weight

    loc = sum(r.loc_a * r.tp for r in results) + np.zeros(len(ALPHAS))
    return HotaCounts(
        tp,
        sum(r.fn for r in results) + np.zeros(len(ALPHAS)),
        sum(r.fp for r in results) + np.zeros(len(ALPHAS)),
        weighted("ass_a"),
        weighted("ass_re"),
        weighted("ass_pr"),
        np.maximum(1e-10, loc) / np.maximum(1e-10, tp),
    )


def hota_fields(c: HotaCounts) -> dict[str, np.ndarray | float]:
    """All TrackEval HOTA fields: arrays over alpha, plus the alpha-0.05 scalars.

    Reference: trackeval/metrics/hota.py:169-183.
    """
    det_re = c.tp / np.maximum(1, c.tp + c.fn)
    det_pr = c.tp / np.maximum(1, c.tp + c.fp)
    det_a = c.tp / np.maximum(1, c.tp + c.fn + c.fp)
    hota = np.sqrt(det_a * c.ass_a)
    out: dict[str, np.ndarray | float] = {
        "HOTA": hota,
        "DetA": det_a,
        "AssA": c.ass_a,
        "DetRe": det_re,
        "DetPr": det_pr,
        "AssRe": c.ass_re,
        "AssPr": c.ass_pr,
        "LocA": c.loc_a,
        "OWTA": np.sqrt(det_re * c.ass_a),
        "HOTA_TP": c.tp,
        "HOTA_FN": c.fn,
        "HOTA_FP": c.fp,
    }
    out["HOTA(0)"] = float(hota[0])
    out["LocA(0)"] = float(c.loc_a[0])
    out["HOTALocA(0)"] = float(hota[0] * c.loc_a[0])
    return out
