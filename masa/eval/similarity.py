"""Frame-pair tables: every (gt, prediction) pair of a frame with its IoU, for all frames at once.

The metrics never loop over detections: a sequence is a set of flat arrays (one row per detection,
grouped by frame) plus one row per *pair* of a ground-truth and a predicted detection of the same
frame, in row-major order inside each frame. Frame `t`'s dense similarity matrix is therefore a
reshape of a contiguous slice, so the per-frame Hungarian steps see exactly the matrices TrackEval
builds, row and column order included.

Also the tables a reader produces (`DetectionTable`, `RawSequence`, `EvalDataset`) and `pairs_for`,
which turns a sequence into its `FramePairs`.

Reference (box IoU, element for element the same arithmetic):
    trackeval/datasets/_base_dataset.py:250-289 (`_calculate_box_ious`, xywh converted with x + w)
    trackeval/datasets/_base_dataset.py:217-248 (`_calculate_mask_ious`, pycocotools on RLE)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from masa.errors import InputError

__all__ = [
    "EPS",
    "DetectionTable",
    "EvalDataset",
    "FramePairs",
    "RawSequence",
    "assign_per_frame",
    "box_ioa",
    "box_ioa_pairs",
    "box_iou",
    "box_iou_pairs",
    "conflict_frames",
    "frame_offsets",
    "frame_pairs",
    "mask_ioa",
    "mask_iou",
    "pairs_for",
    "xywh_to_xyxy",
]

#: TrackEval's and teta's tolerance (`np.finfo('float').eps`).
EPS = float(np.finfo(float).eps)


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    """`float64[N, 4]` `[x, y, w, h]` -> `[x1, y1, x2, y2]`, computed as `x + w` like TrackEval."""
    xyxy = np.array(xywh, dtype=float).reshape(-1, 4)
    xyxy[:, 2] = xyxy[:, 0] + xyxy[:, 2]
    xyxy[:, 3] = xyxy[:, 1] + xyxy[:, 3]
    return xyxy


def box_iou_pairs(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """IoU of row i of `a` with row i of `b`: `float64[M, 4]` x2 -> `float64[M]`.

    Same operations as trackeval/datasets/_base_dataset.py:269-289, applied element-wise, so every
    value is bit-for-bit the one TrackEval computes (degenerate boxes and empty unions give 0).
    """
    lo = np.minimum(a_xyxy, b_xyxy)  # (M, 4)
    hi = np.maximum(a_xyxy, b_xyxy)  # (M, 4)
    inter = np.maximum(lo[:, 2] - hi[:, 0], 0) * np.maximum(lo[:, 3] - hi[:, 1], 0)
    area_a = (a_xyxy[:, 2] - a_xyxy[:, 0]) * (a_xyxy[:, 3] - a_xyxy[:, 1])
    area_b = (b_xyxy[:, 2] - b_xyxy[:, 0]) * (b_xyxy[:, 3] - b_xyxy[:, 1])
    union = area_a + area_b - inter
    inter[(area_a <= EPS) | (area_b <= EPS) | (union <= EPS)] = 0
    union[union <= EPS] = 1
    return inter / union


def box_iou(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """Dense IoU: `float64[A, 4]`, `float64[B, 4]` -> `float64[A, B]`."""
    rows, cols = np.divmod(np.arange(len(a_xyxy) * len(b_xyxy)), max(len(b_xyxy), 1))
    return box_iou_pairs(a_xyxy[rows], b_xyxy[cols]).reshape(len(a_xyxy), len(b_xyxy))


def box_ioa_pairs(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """Intersection over the area of `a`, row i with row i: `float64[M, 4]` x2 -> `float64[M]`.

    Reference: trackeval/datasets/_base_dataset.py:270-280 (`do_ioa=True`); zero for degenerate `a`.
    """
    lo = np.minimum(a_xyxy, b_xyxy)  # (M, 4)
    hi = np.maximum(a_xyxy, b_xyxy)  # (M, 4)
    inter = np.maximum(lo[:, 2] - hi[:, 0], 0) * np.maximum(lo[:, 3] - hi[:, 1], 0)
    area_a = (a_xyxy[:, 2] - a_xyxy[:, 0]) * (a_xyxy[:, 3] - a_xyxy[:, 1])
    ioa = np.zeros_like(inter)
    valid = area_a > 0 + EPS
    ioa[valid] = inter[valid] / area_a[valid]
    return ioa


def box_ioa(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """Dense intersection over the area of `a`: `float64[A, 4]`, `float64[B, 4]` -> `[A, B]`."""
    rows, cols = np.divmod(np.arange(len(a_xyxy) * len(b_xyxy)), max(len(b_xyxy), 1))
    return box_ioa_pairs(a_xyxy[rows], b_xyxy[cols]).reshape(len(a_xyxy), len(b_xyxy))


def _rle_list(rles: list[dict]) -> list[dict]:
    from pycocotools import mask as mask_utils  # optional at import time

    out = []
    for rle in rles:
        counts = rle["counts"]
        if isinstance(counts, list):  # uncompressed RLE
            rle = mask_utils.frPyObjects(rle, *rle["size"])
        elif isinstance(counts, str):
            rle = {"size": list(rle["size"]), "counts": counts.encode("ascii")}
        out.append(rle)
    return out


def mask_iou(a_rles: list[dict], b_rles: list[dict], *, ioa: bool = False) -> np.ndarray:
    """Mask IoU (intersection over the area of `a` with `ioa=True`) of COCO RLEs -> `float64[A, B]`.

    Reference: trackeval/datasets/_base_dataset.py:233-248 (pycocotools `iou` on encoded masks).
    """
    from pycocotools import mask as mask_utils

    if len(a_rles) == 0 or len(b_rles) == 0:
        return np.zeros((len(a_rles), len(b_rles)))
    if ioa:  # pycocotools: iscrowd on the *second* argument divides by the area of the first
        return np.asarray(mask_utils.iou(_rle_list(a_rles), _rle_list(b_rles), [1] * len(b_rles)))
    return np.asarray(mask_utils.iou(_rle_list(a_rles), _rle_list(b_rles), [0] * len(b_rles)))


def mask_ioa(a_rles: list[dict], b_rles: list[dict]) -> np.ndarray:
    """Intersection over the area of each mask of `a`, for crowd regions -> `float64[A, B]`."""
    return mask_iou(a_rles, b_rles, ioa=True)


def frame_offsets(frame: np.ndarray, num_frames: int) -> np.ndarray:
    """`int64[N]` sorted frame indices -> `int64[num_frames + 1]` start offset of each frame."""
    counts = np.bincount(frame, minlength=num_frames)[:num_frames]
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def frame_pairs(gt_frame: np.ndarray, pred_frame: np.ndarray, num_frames: int):
    """All same-frame (gt row, prediction row) pairs, frame by frame and row-major inside a frame.

    Returns:
        `(pair_gt int64[M], pair_pred int64[M], pair_offsets int64[num_frames + 1])`.
    """
    go, po = frame_offsets(gt_frame, num_frames), frame_offsets(pred_frame, num_frames)
    n_gt, n_pred = np.diff(go), np.diff(po)  # (T,)
    sizes = n_gt * n_pred  # (T,)
    pair_off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    pair_frame = np.repeat(np.arange(num_frames), sizes)  # (M,)
    local = np.arange(pair_off[-1]) - pair_off[:-1][pair_frame]
    row, col = np.divmod(local, np.maximum(n_pred[pair_frame], 1))
    return go[pair_frame] + row, po[pair_frame] + col, pair_off


@dataclass(frozen=True, eq=False)
class FramePairs:
    """One sequence as flat arrays: detections grouped by frame, every same-frame pair's IoU.

    Rows of `gt_*` (and of `tracker_*`) are sorted by frame, in file order inside a frame.
    `pair_gt`, `pair_tracker` and `similarity` list, frame by frame, every (gt row, tracker row)
    combination of that frame in row-major order: frame t's matrix is
    `similarity[pair_offsets[t]:pair_offsets[t+1]]` reshaped to `(n_gt[t], n_tracker[t])`. Metrics
    expect ids relabelled to `0..num_ids-1` (see `relabelled`).
    """

    num_frames: int
    gt_frame: np.ndarray  # (G,) int64, 0-based, non-decreasing
    gt_ids: np.ndarray  # (G,) int64
    tracker_frame: np.ndarray  # (P,) int64
    tracker_ids: np.ndarray  # (P,) int64
    pair_gt: np.ndarray  # (M,) int64 rows of gt_*
    pair_tracker: np.ndarray  # (M,) int64 rows of tracker_*
    similarity: np.ndarray  # (M,) float64
    gt_classes: np.ndarray | None = None  # (G,) int64
    tracker_classes: np.ndarray | None = None  # (P,) int64

    @property
    def num_gt_ids(self) -> int:
        return int(len(np.unique(self.gt_ids)))

    @property
    def num_tracker_ids(self) -> int:
        return int(len(np.unique(self.tracker_ids)))

    def offsets(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Start offsets `(gt, tracker, pair)`, each `int64[num_frames + 1]`."""
        go = frame_offsets(self.gt_frame, self.num_frames)
        po = frame_offsets(self.tracker_frame, self.num_frames)
        return go, po, np.concatenate([[0], np.cumsum(np.diff(go) * np.diff(po))]).astype(np.int64)

    def subset(self, gt_keep: np.ndarray | None = None, tracker_keep: np.ndarray | None = None):
        """Keeps the masked rows (bool arrays); pairs stay row-major in the smaller matrices."""
        gk = np.ones(len(self.gt_ids), bool) if gt_keep is None else np.asarray(gt_keep, bool)
        tk = (
            np.ones(len(self.tracker_ids), bool)
            if tracker_keep is None
            else np.asarray(tracker_keep, bool)
        )
        gt_new = np.cumsum(gk) - 1
        tr_new = np.cumsum(tk) - 1
        pk = gk[self.pair_gt] & tk[self.pair_tracker]
        cls_g = None if self.gt_classes is None else self.gt_classes[gk]
        cls_t = None if self.tracker_classes is None else self.tracker_classes[tk]
        return FramePairs(
            self.num_frames,
            self.gt_frame[gk],
            self.gt_ids[gk],
            self.tracker_frame[tk],
            self.tracker_ids[tk],
            gt_new[self.pair_gt[pk]],
            tr_new[self.pair_tracker[pk]],
            self.similarity[pk],
            cls_g,
            cls_t,
        )

    def relabelled(self) -> FramePairs:
        """Ids mapped to `0..n-1` in increasing order of the originals (TrackEval's relabelling)."""
        return replace(
            self,
            gt_ids=np.unique(self.gt_ids, return_inverse=True)[1].astype(np.int64).reshape(-1),
            tracker_ids=np.unique(self.tracker_ids, return_inverse=True)[1]
            .astype(np.int64)
            .reshape(-1),
        )

    @classmethod
    def from_frames(
        cls,
        gt_ids: list[np.ndarray],
        tracker_ids: list[np.ndarray],
        similarity: list[np.ndarray],
    ) -> FramePairs:
        """From TrackEval-style per-frame lists (ids per frame, `(n_gt, n_tracker)` matrices)."""
        num_frames = len(gt_ids)
        gf = np.repeat(np.arange(num_frames), [len(x) for x in gt_ids]).astype(np.int64)
        tf = np.repeat(np.arange(num_frames), [len(x) for x in tracker_ids]).astype(np.int64)
        pg, pt, _ = frame_pairs(gf, tf, num_frames)
        sim = [
            np.asarray(s, float).reshape(len(g), len(t))
            for s, g, t in zip(similarity, gt_ids, tracker_ids)
        ]
        flat = np.concatenate([s.ravel() for s in sim]) if sim else np.zeros(0)
        return cls(num_frames, gf, _cat_ids(gt_ids), tf, _cat_ids(tracker_ids), pg, pt, flat)


def _cat_ids(per_frame: list) -> np.ndarray:
    if not per_frame:
        return np.zeros(0, np.int64)
    return np.concatenate([np.asarray(x, np.int64) for x in per_frame])


def conflict_frames(
    positive: np.ndarray, n_gt: np.ndarray, n_tracker: np.ndarray, pair_offsets: np.ndarray
):
    """Per frame: does a row or column hold two or more `positive` pairs?

    Returns `(conflict bool[T], frame int64[K] of each positive pair)`.

    In a frame without such a conflict the positive pairs are disjoint, so every optimal assignment
    contains exactly them (plus zero-score filler pairs): the Hungarian step can be skipped there.
    """
    num_frames = len(n_gt)
    idx = np.flatnonzero(positive)
    frame = np.searchsorted(pair_offsets, idx, side="right") - 1  # (K,)
    row, col = np.divmod(idx - pair_offsets[frame], np.maximum(n_tracker[frame], 1))
    width = int(max(n_gt.max(initial=0), n_tracker.max(initial=0))) + 1
    conflict = np.zeros(num_frames, bool)
    for key in (frame * width + row, frame * width + col):
        uniq, counts = np.unique(key, return_counts=True)
        conflict[uniq[counts > 1] // width] = True
    return conflict, frame


def assign_per_frame(
    score: np.ndarray,
    n_gt: np.ndarray,
    n_tracker: np.ndarray,
    pair_offsets: np.ndarray,
    *,
    positive_only: bool = False,
) -> np.ndarray:
    """Hungarian matching maximising `score` in each frame -> `int64[K]` indices of matched pairs.

    `score` is `float64[M]` over a pair table (see `FramePairs`); each frame's block is reshaped to
    `(n_gt[t], n_tracker[t])` and given to `scipy.optimize.linear_sum_assignment(-block)`, exactly
    the call TrackEval makes, so ties resolve the same way. Frames without gt or without predictions
    are skipped. With `positive_only` (callers that discard zero-score pairs), frames whose positive
    pairs are disjoint return those pairs without the Hungarian step (the only possible answer).
    """
    from scipy.optimize import linear_sum_assignment

    frames = (n_gt > 0) & (n_tracker > 0)
    out = []
    if positive_only:
        positive = score > 0
        conflict, pos_frame = conflict_frames(positive, n_gt, n_tracker, pair_offsets)
        easy = np.flatnonzero(positive)[~conflict[pos_frame]]
        out.append(easy)
        frames &= conflict
    for t in np.flatnonzero(frames).tolist():
        a, n_cols = pair_offsets[t], n_tracker[t]
        rows, cols = linear_sum_assignment(-score[a : pair_offsets[t + 1]].reshape(n_gt[t], n_cols))
        out.append(a + rows * n_cols + cols)
    return np.sort(np.concatenate(out)).astype(np.int64) if out else np.zeros(0, np.int64)


@dataclass(frozen=True, eq=False)
class DetectionTable:
    """Detections of one sequence, sorted by frame (file order inside a frame)."""

    frame: np.ndarray  # (N,) int64, 0-based
    ids: np.ndarray  # (N,) int64
    classes: np.ndarray  # (N,) int64
    xyxy: np.ndarray  # (N, 4) float64, pixels
    scores: np.ndarray  # (N,) float64 (MOT gt: the zero-marked "consider" flag)
    masks: list | None = None  # N COCO RLE dicts, when the format carries them

    @classmethod
    def build(cls, frame, ids, classes, xyxy, scores, masks=None) -> DetectionTable:
        order = np.argsort(np.asarray(frame, np.int64), kind="stable")
        m = None if masks is None else [masks[i] for i in order]
        return cls(
            np.asarray(frame, np.int64)[order],
            np.asarray(ids, np.int64)[order],
            np.asarray(classes, np.int64)[order],
            np.asarray(xyxy, float).reshape(-1, 4)[order],
            np.asarray(scores, float)[order],
            m,
        )


@dataclass(frozen=True, eq=False)
class RawSequence:
    """One sequence as read, before any class selection or preprocessing."""

    name: str
    num_frames: int
    gt: DetectionTable
    tracker: DetectionTable
    ignore: DetectionTable | None = None  # BDD crowd / distractor regions
    benchmark: str = ""  # MOT: "MOT15" (no class preprocessing), "MOT17" or "MOT20"


@dataclass(frozen=True, eq=False)
class EvalDataset:
    """Everything `masa.eval.runner.evaluate_dataset` needs."""

    format: str  # "mot" | "tao" | "bdd"
    sequences: tuple[RawSequence, ...]
    classes: dict[str, int] = field(default_factory=dict)  # evaluated class name -> id
    frequency: dict[str, str] = field(default_factory=dict)  # TAO/LVIS class name -> "r"/"c"/"f"
    use_mask: bool = False


def pairs_for(seq: RawSequence, *, use_mask: bool = False) -> FramePairs:
    """Frame-pair table of every gt and predicted detection of `seq` (IoU of boxes or of masks)."""
    gt, tr = seq.gt, seq.tracker
    pg, pt, off = frame_pairs(gt.frame, tr.frame, seq.num_frames)
    if not use_mask:
        sim = box_iou_pairs(gt.xyxy[pg], tr.xyxy[pt])
    else:
        if gt.masks is None or tr.masks is None:
            raise InputError(f"sequence {seq.name}: mask IoU needs a mask (RLE) on every detection")
        go, po = (
            np.searchsorted(gt.frame, np.arange(seq.num_frames + 1)),
            np.searchsorted(tr.frame, np.arange(seq.num_frames + 1)),
        )
        blocks = [
            mask_iou(gt.masks[go[t] : go[t + 1]], tr.masks[po[t] : po[t + 1]]).ravel()
            for t in range(seq.num_frames)
            if off[t + 1] > off[t]
        ]
        sim = np.concatenate(blocks) if blocks else np.zeros(0)
    return FramePairs(
        seq.num_frames, gt.frame, gt.ids, tr.frame, tr.ids, pg, pt, sim, gt.classes, tr.classes
    )
