"""Identity metrics (IDF1, IDP, IDR; Ristani et al. 2016) as pure functions of a frame-pair table.

Reference: trackeval/metrics/identity.py (trackeval 1.3.0)
    :228-234   early return for a sequence without gt or without predictions
    :241-250   per (gt id, tracker id): number of frames with IoU >= threshold (no epsilon here)
    :252-274   one global Hungarian over the (NG + NT) square cost of IDFN + IDFP
    :308-314   combine_sequences (sum); :280-298 class average (mean); :316-324 derived fields
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from masa.eval.similarity import FramePairs

__all__ = [
    "IDENTITY_FLOAT_FIELDS",
    "IDENTITY_INT_FIELDS",
    "IdentityCounts",
    "combine_identity",
    "identity_fields",
    "identity_sequence",
]

IDENTITY_INT_FIELDS = ("IDTP", "IDFN", "IDFP")
IDENTITY_FLOAT_FIELDS = ("IDF1", "IDR", "IDP")


@dataclass(frozen=True)
class IdentityCounts:
    """Summable identity counts."""

    idtp: int
    idfn: int
    idfp: int


def identity_sequence(data: FramePairs, threshold: float = 0.5) -> IdentityCounts:
    """Identity counts of one sequence (ids must be `0..n-1`). Reference: identity.py:221-278."""
    from scipy.optimize import linear_sum_assignment

    num_gt_dets, num_tr_dets = len(data.gt_ids), len(data.tracker_ids)
    if num_tr_dets == 0:
        return IdentityCounts(0, num_gt_dets, 0)
    if num_gt_dets == 0:
        return IdentityCounts(0, 0, num_tr_dets)

    num_gt, num_tr = data.num_gt_ids, data.num_tracker_ids
    ok = np.greater_equal(data.similarity, threshold)  # (M,)
    key = data.gt_ids[data.pair_gt[ok]] * num_tr + data.tracker_ids[data.pair_tracker[ok]]
    potential = np.bincount(key, minlength=num_gt * num_tr).reshape(num_gt, num_tr).astype(float)
    gt_count = np.bincount(data.gt_ids, minlength=num_gt).astype(float)  # (NG,)
    tr_count = np.bincount(data.tracker_ids, minlength=num_tr).astype(float)  # (NT,)

    # Rows: gt ids then one dummy per tracker id; columns: tracker ids then one dummy per gt id.
    size = num_gt + num_tr
    fp_mat = np.zeros((size, size))
    fn_mat = np.zeros((size, size))
    fp_mat[num_gt:, :num_tr] = 1e10
    fn_mat[:num_gt, num_tr:] = 1e10
    fn_mat[:num_gt, :num_tr] = gt_count[:, None]
    fn_mat[np.arange(num_gt), num_tr + np.arange(num_gt)] = gt_count
    fp_mat[:num_gt, :num_tr] = tr_count[None, :]
    fp_mat[num_gt + np.arange(num_tr), np.arange(num_tr)] = tr_count
    fn_mat[:num_gt, :num_tr] -= potential
    fp_mat[:num_gt, :num_tr] -= potential

    rows, cols = linear_sum_assignment(fn_mat + fp_mat)
    idfn = int(fn_mat[rows, cols].sum())
    idfp = int(fp_mat[rows, cols].sum())
    return IdentityCounts(int(gt_count.sum()) - idfn, idfn, idfp)


def combine_identity(results: Sequence[IdentityCounts]) -> IdentityCounts:
    """Sums sequences (or classes, detection-averaged). Reference: identity.py:300-314."""
    return IdentityCounts(
        sum(r.idtp for r in results), sum(r.idfn for r in results), sum(r.idfp for r in results)
    )


def identity_fields(c: IdentityCounts) -> dict[str, float | int]:
    """IDF1, IDR, IDP and the counts. Reference: trackeval/metrics/identity.py:316-324."""
    return {
        "IDF1": c.idtp / max(1.0, c.idtp + 0.5 * c.idfp + 0.5 * c.idfn),
        "IDR": c.idtp / max(1.0, c.idtp + c.idfn),
        "IDP": c.idtp / max(1.0, c.idtp + c.idfp),
        "IDTP": c.idtp,
        "IDFN": c.idfn,
        "IDFP": c.idfp,
    }
