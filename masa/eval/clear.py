"""CLEAR MOT metrics (Bernardin & Stiefelhagen 2008) as pure functions of a frame-pair table.

Reference: trackeval/metrics/clear.py (trackeval 1.3.0)
    :47-56    early return without gt or without predictions (raw counts, no derived fields)
    :80-93    per-frame Hungarian on `1000 * continues_previous_match + IoU`, IoU < threshold -> 0
    :95-109   IDSW against the last matched tracker id of each gt id; Frag from tracking re-starts
    :119-127  MT (> 80 %), PT (>= 20 %), ML, Frag, MOTP
    :133-139  combine_sequences (sum); :149-166 class average (mean); :168-188 derived fields

Only frames where two matchable pairs share a gt or a tracker detection need the Hungarian step
(and a frame loop, since its costs depend on the previous frame's matches); elsewhere the matching
is forced. IDSW, Frag and MT/PT/ML are computed afterwards from the flat list of matches.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Sequence

import numpy as np

from masa.eval.similarity import EPS, FramePairs, conflict_frames

__all__ = [
    "CLEAR_FLOAT_FIELDS",
    "CLEAR_INT_FIELDS",
    "ClearCounts",
    "clear_fields",
    "clear_sequence",
    "combine_clear",
]

CLEAR_INT_FIELDS = ("CLR_TP", "CLR_FN", "CLR_FP", "IDSW", "MT", "PT", "ML", "Frag", "CLR_Frames")
CLEAR_FLOAT_FIELDS = (
    "MOTA",
    "MOTP",
    "MODA",
    "CLR_Re",
    "CLR_Pr",
    "MTR",
    "PTR",
    "MLR",
    "sMOTA",
    "CLR_F1",
    "FP_per_frame",
    "MOTAL",
    "MOTP_sum",
)


@dataclass(frozen=True)
class ClearCounts:
    """Summable CLEAR counts.

    `raw_only` marks TrackEval's early return (clear.py:47-56): such a sequence
    reports its counts with every derived field left at 0 (MLR at 1)."""

    tp: int
    fn: int
    fp: int
    idsw: int
    mt: int
    pt: int
    ml: int
    frag: int
    frames: int
    motp_sum: float
    raw_only: bool = False


def clear_sequence(data: FramePairs, threshold: float = 0.5) -> ClearCounts:
    """CLEAR counts of one sequence (ids `0..n-1`). Reference: trackeval/metrics/clear.py:40-131."""
    from scipy.optimize import linear_sum_assignment

    num_gt_dets, num_tr_dets, num_gt_ids = len(data.gt_ids), len(data.tracker_ids), data.num_gt_ids
    if num_tr_dets == 0:
        return ClearCounts(0, num_gt_dets, 0, 0, 0, 0, num_gt_ids, 0, 0, 0.0, raw_only=True)
    if num_gt_dets == 0:
        return ClearCounts(0, 0, num_tr_dets, 0, 0, 0, 0, 0, 0, 0.0, raw_only=True)

    go, po, pair_off = data.offsets()
    n_gt, n_tr = np.diff(go), np.diff(po)
    sim = data.similarity
    usable = sim >= threshold - EPS  # (M,) the pairs with a positive matching score
    # Where a frame's usable pairs share no row or column, the matching is exactly those pairs
    # whatever
    # the previous frame matched; only the other frames need the Hungarian step (with clear.py's
    # +1000
    # bonus for continuing the previous frame's match).
    conflict, pos_frame = conflict_frames(usable, n_gt, n_tr, pair_off)
    eval_frames = np.flatnonzero((n_gt > 0) & (n_tr > 0))  # frames that update the "previous frame"
    found = [np.flatnonzero(usable)[~conflict[pos_frame]]]
    computed: dict[int, np.ndarray] = {}
    prev_tr = np.full(
        num_gt_ids, -1, np.int64
    )  # tracker id matched in the previous evaluated frame
    for step in np.flatnonzero(conflict[eval_frames]).tolist():
        t = int(eval_frames[step])
        prev_tr[:] = -1
        if step > 0:
            p = int(eval_frames[step - 1])
            prev = (
                computed[p]
                if conflict[p]
                else pair_off[p] + np.flatnonzero(usable[pair_off[p] : pair_off[p + 1]])
            )
            prev_tr[data.gt_ids[data.pair_gt[prev]]] = data.tracker_ids[data.pair_tracker[prev]]
        a, b = pair_off[t], pair_off[t + 1]
        g_ids, t_ids = data.gt_ids[go[t] : go[t + 1]], data.tracker_ids[po[t] : po[t + 1]]
        block = sim[a:b].reshape(n_gt[t], n_tr[t])
        continues = t_ids[None, :] == prev_tr[g_ids][:, None]  # (n_gt, n_tr); -1 never equals an id
        score = np.where(continues, 1000 + block, block)
        score[~usable[a:b].reshape(score.shape)] = 0
        rows, cols = linear_sum_assignment(-score)
        keep = score[rows, cols] > 0 + EPS
        computed[t] = a + rows[keep] * n_tr[t] + cols[keep]
        found.append(computed[t])

    idx = np.sort(np.concatenate(found)).astype(np.int64)
    step_of_frame = np.full(data.num_frames, -1)
    step_of_frame[eval_frames] = np.arange(len(eval_frames))
    step = step_of_frame[np.searchsorted(pair_off, idx, side="right") - 1]
    m_gt, m_tr = data.gt_ids[data.pair_gt[idx]], data.tracker_ids[data.pair_tracker[idx]]

    # Matches of each gt id in time order: an IDSW is a change of tracker id from its previous match
    # (any number of frames earlier); a fragment starts where the previous evaluated frame had no
    # match.
    order = np.lexsort((step, m_gt))
    g_sorted, t_sorted, s_sorted = m_gt[order], m_tr[order], step[order]
    first = np.zeros(min(1, len(order)), bool)  # [False], or [] when nothing matched
    same_gt = np.concatenate([first, g_sorted[1:] == g_sorted[:-1]])
    idsw = int(np.sum(same_gt & np.concatenate([first, t_sorted[1:] != t_sorted[:-1]])))
    starts = ~(same_gt & np.concatenate([first, s_sorted[1:] - s_sorted[:-1] == 1]))
    frag_count = np.bincount(g_sorted[starts], minlength=num_gt_ids)
    frag = int(np.sum(frag_count[frag_count > 0] - 1))

    gt_count = np.bincount(data.gt_ids, minlength=num_gt_ids)
    ratio = np.bincount(m_gt, minlength=num_gt_ids)[gt_count > 0] / gt_count[gt_count > 0]
    mt = int(np.sum(ratio > 0.8))
    pt = int(np.sum(ratio >= 0.2)) - mt
    k = len(idx)
    return ClearCounts(
        k,
        num_gt_dets - k,
        num_tr_dets - k,
        idsw,
        mt,
        pt,
        num_gt_ids - mt - pt,
        frag,
        data.num_frames,
        float(np.sum(sim[idx])),
    )


def combine_clear(results: Sequence[ClearCounts]) -> ClearCounts:
    """Sums sequences (or classes, detection-averaged). Reference: clear.py:133-147."""
    names = [f.name for f in fields(ClearCounts) if f.name != "raw_only"]
    summed = {n: sum(getattr(r, n) for r in results) for n in names}
    summed["motp_sum"] = float(summed["motp_sum"])
    return ClearCounts(**summed)


def clear_fields(c: ClearCounts) -> dict[str, float | int]:
    """All TrackEval CLEAR fields. Reference: trackeval/metrics/clear.py:168-188."""
    out: dict[str, float | int] = {
        "CLR_TP": c.tp,
        "CLR_FN": c.fn,
        "CLR_FP": c.fp,
        "IDSW": c.idsw,
        "MT": c.mt,
        "PT": c.pt,
        "ML": c.ml,
        "Frag": c.frag,
        "CLR_Frames": c.frames,
        "MOTP_sum": c.motp_sum,
    }
    if c.raw_only:
        out.update({n: 0.0 for n in CLEAR_FLOAT_FIELDS if n != "MOTP_sum"})
        out["MLR"] = 1.0
        return out
    num_ids = max(1.0, c.mt + c.ml + c.pt)
    gt_dets = max(1.0, c.tp + c.fn)
    safe_log_idsw = np.log10(c.idsw) if c.idsw > 0 else c.idsw
    out.update(
        {
            "MOTA": (c.tp - c.fp - c.idsw) / gt_dets,
            "MOTP": c.motp_sum / max(1.0, c.tp),
            "MODA": (c.tp - c.fp) / gt_dets,
            "CLR_Re": c.tp / gt_dets,
            "CLR_Pr": c.tp / max(1.0, c.tp + c.fp),
            "MTR": c.mt / num_ids,
            "PTR": c.pt / num_ids,
            "MLR": c.ml / num_ids,
            "sMOTA": (c.motp_sum - c.fp - c.idsw) / gt_dets,
            "CLR_F1": c.tp / max(1.0, c.tp + 0.5 * c.fn + 0.5 * c.fp),
            "FP_per_frame": c.fp / max(1.0, c.frames),
            "MOTAL": (c.tp - c.fp - safe_log_idsw) / gt_dets,
        }
    )
    return {k: (float(v) if k in CLEAR_FLOAT_FIELDS else int(v)) for k, v in out.items()}
