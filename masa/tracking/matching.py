"""Pure tensor functions for MASA association: similarity scores, the distance gate, greedy matching
and overlap suppression.

Reference: siyuanliii/masa `masa/models/tracker/masa_tao_tracker.py` (`track`, `remove_distractor`,
`compute_distance_mask`) and `masa/models/tracker/masa_bdd_tracker.py` (`track`, `update`).
Every function here is stateless and safe on empty input.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import box_iou

__all__ = [
    "UNMATCHED",
    "SUPPRESSED",
    "MATCH_METRICS",
    "similarity_scores",
    "bisoftmax_scores",
    "softmax_scores",
    "cosine_scores",
    "distance_gate",
    "greedy_assign",
    "suppress_overlaps",
]

UNMATCHED = -1
"""`greedy_assign` result for a detection that matched no track."""

SUPPRESSED = -2
"""`greedy_assign` result for a low-score detection that confidently matched a track (BDD only)."""

MATCH_METRICS = ("bisoftmax", "softmax", "cosine")
"""The `metric` names `similarity_scores` accepts."""


def similarity_scores(det_embeds: Tensor, memo_embeds: Tensor, metric: str) -> Tensor:
    """Match scores of raw embeddings under one of `MATCH_METRICS`.

    Args:
        det_embeds: `Tensor[N, D]` float, raw detection embeddings.
        memo_embeds: `Tensor[T, D]` float, raw memory embeddings.
        metric: 'bisoftmax', 'softmax' or 'cosine'.

    Returns:
        `Tensor[N, T]` float.

    Raises:
        ValueError: on an unknown `metric`.
    """
    if metric == "bisoftmax":
        return bisoftmax_scores(det_embeds, memo_embeds)
    if metric == "softmax":
        return softmax_scores(det_embeds, memo_embeds)
    if metric == "cosine":
        return cosine_scores(det_embeds, memo_embeds)
    raise ValueError(f"metric must be one of {MATCH_METRICS}, but got {metric!r}")


def bisoftmax_scores(det_embeds: Tensor, memo_embeds: Tensor) -> Tensor:
    """Bi-directional softmax similarity of raw (unnormalised) embeddings (MASA's match score).

    Args:
        det_embeds: `Tensor[N, D]` float, raw detection embeddings.
        memo_embeds: `Tensor[T, D]` float, raw memory embeddings.

    Returns:
        `Tensor[N, T]`: `(softmax over T + softmax over N) / 2` of the dot products (no
        temperature).
    """
    det_memo_dots = torch.mm(det_embeds, memo_embeds.t())  # (N, D) x (D, T) -> (N, T)
    return (det_memo_dots.softmax(dim=1) + det_memo_dots.softmax(dim=0)) / 2  # (N, T)


def softmax_scores(det_embeds: Tensor, memo_embeds: Tensor) -> Tensor:
    """One-directional softmax similarity (over memory entries) of raw embeddings.

    Args:
        det_embeds: `Tensor[N, D]` float, raw detection embeddings.
        memo_embeds: `Tensor[T, D]` float, raw memory embeddings.

    Returns:
        `Tensor[N, T]`: each row sums to 1.
    """
    det_memo_dots = torch.mm(det_embeds, memo_embeds.t())  # (N, T)
    return det_memo_dots.softmax(dim=1)  # (N, T)


def cosine_scores(det_embeds: Tensor, memo_embeds: Tensor) -> Tensor:
    """Cosine similarity of embeddings.

    Args:
        det_embeds: `Tensor[N, D]` float.
        memo_embeds: `Tensor[T, D]` float.

    Returns:
        `Tensor[N, T]` in [-1, 1].
    """
    det_unit = F.normalize(det_embeds, p=2, dim=1)  # (N, D)
    memo_unit = F.normalize(memo_embeds, p=2, dim=1)  # (T, D)
    return torch.mm(det_unit, memo_unit.t())  # (N, T)


def distance_gate(
    det_xyxy: Tensor,
    memo_xyxy: Tensor,
    frame_idx: int,
    memo_last_frame: Tensor,
    max_distance: float,
    fps: float,
) -> Tensor:
    """Soft spatial gate on centre distances, widening with the time since a track was last seen.

    With `d` the centre distance in pixels and `dt = |frame_idx - last_frame|`:
    `a = max_distance * exp(dt / (fps / 6))`; the gate is 1 where `d <= a`, else
    `exp(-(d - a) / (100 / fps))`.

    Args:
        det_xyxy: `Tensor[N, 4]` float, detection boxes in original image pixels.
        memo_xyxy: `Tensor[T, 4]` float, memory boxes in original image pixels.
        frame_idx: the current 0-based frame index.
        memo_last_frame: `Tensor[T]` int64, frame index each memory entry was last updated.
        max_distance: the radius in pixels within which the gate is 1 for `dt = 0`.
        fps: frames per second; sets the growth (`fps / 6`) and smoothing (`100 / fps`) scales.

    Returns:
        `Tensor[N, T]` float in (0, 1].
    """
    growth_factor = fps / 6
    smoothing_factor = 100 / fps
    det_centers = (det_xyxy[:, :2] + det_xyxy[:, 2:]) / 2.0  # (N, 2)
    memo_centers = (memo_xyxy[:, :2] + memo_xyxy[:, 2:]) / 2.0  # (T, 2)
    distances = torch.cdist(det_centers, memo_centers)  # (N, T)
    frame_gaps = (frame_idx - memo_last_frame.to(distances.device)).abs()  # (T,)
    radius = max_distance * torch.exp(frame_gaps.float() / growth_factor)  # (T,), broadcasts
    return torch.where(
        distances <= radius,
        torch.ones_like(distances),
        torch.exp(-(distances - radius) / smoothing_factor),
    )  # (N, T)


def greedy_assign(
    det_memo_scores: Tensor,
    det_confidence: Tensor,
    *,
    match_score_threshold: float,
    obj_score_threshold: float,
    memo_is_track: Tensor | None = None,
    suppress_score_threshold: float | None = None,
) -> Tensor:
    """Greedy row-by-row matching in which a matched memory column is consumed.

    Rows are visited in order (callers sort detections by descending confidence). Row `i` takes the
    argmax column `j` of its (possibly already zeroed) scores. If the score exceeds
    `match_score_threshold`, `j` is a track and detection `i` scores above `obj_score_threshold`,
    `i` matches `j` and column `j` is zeroed for every later row. A failed test consumes nothing.
    When `suppress_score_threshold` is given (the BDD tracker), a detection at or below
    `obj_score_threshold` whose best score passes the match test and exceeds
    `suppress_score_threshold` is marked `SUPPRESSED` instead.

    Args:
        det_memo_scores: `Tensor[N, T]` float match scores; not modified.
        det_confidence: `Tensor[N]` float detection scores.
        match_score_threshold: the minimum (exclusive) match score.
        obj_score_threshold: the minimum (exclusive) detection score to take a track's id.
        memo_is_track: `Tensor[T]` bool, False for backdrop entries that can never be matched;
            all True when omitted.
        suppress_score_threshold: enables the `SUPPRESSED` outcome (see above).

    Returns:
        `Tensor[N]` int64: the matched memory index per detection, `UNMATCHED` (-1) or
        `SUPPRESSED` (-2).
    """
    num_dets, num_memo = det_memo_scores.shape
    device = det_memo_scores.device
    assigned = torch.full((num_dets,), UNMATCHED, dtype=torch.int64, device=device)
    if num_dets == 0 or num_memo == 0:
        return assigned
    scores = det_memo_scores.clone()
    is_track = torch.ones(num_memo, dtype=torch.bool, device=device)
    if memo_is_track is not None:
        is_track = memo_is_track.to(device)
    # Comparisons stay in the tensors' dtype (float32), as in the official code.
    confident = det_confidence.to(device) > obj_score_threshold
    for i in range(num_dets):
        best_score, j = torch.max(scores[i], dim=0)
        if not (bool(best_score > match_score_threshold) and bool(is_track[j])):
            continue
        if confident[i]:
            assigned[i] = j
            scores[i + 1 :, j] = 0
        elif suppress_score_threshold is not None and bool(best_score > suppress_score_threshold):
            assigned[i] = SUPPRESSED
    return assigned


def suppress_overlaps(xyxy: Tensor, iou_thresholds: Tensor) -> Tensor:
    """Drops each box that overlaps any earlier-ranked box by more than its own IoU threshold.

    Earlier boxes count whether or not they were dropped themselves (the official loop compares
    against all of them), so no sequential NMS is needed. The first box is always kept.

    Args:
        xyxy: `Tensor[N, 4]` float boxes, ranked (usually by descending confidence).
        iou_thresholds: `Tensor[N]` float, the exclusive IoU limit of each box; `inf` exempts it.

    Returns:
        `Tensor[N]` bool, True for the boxes to keep.
    """
    num_boxes = xyxy.shape[0]
    if num_boxes == 0:
        return torch.zeros((0,), dtype=torch.bool, device=xyxy.device)
    ious = box_iou(xyxy, xyxy)  # (N, N)
    earlier = torch.ones_like(ious, dtype=torch.bool).tril(diagonal=-1)  # (N, N), j < i
    ious_with_earlier = torch.where(earlier, ious, torch.full_like(ious, -math.inf))  # (N, N)
    return ~(ious_with_earlier > iou_thresholds[:, None]).any(dim=1)
