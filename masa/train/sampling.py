"""Track-head sampling: max-IoU assignment, instance-balanced sampling, match targets (SPEC §5.3).

Ports of mmdet's `MaxIoUAssigner`, `CombinedSampler(InstanceBalancedPosSampler, RandomSampler)`
with `add_gt_as_proposals=True`, and QDTrack's match targets. Randomness comes from an explicit
`torch.Generator`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torchvision.ops import box_iou

__all__ = ["Assignment", "SampledBoxes", "assign_max_iou", "sample_instance_balanced",
           "match_targets"]

NEGATIVE = -1
IGNORED = -2


class Assignment(NamedTuple):
    """Which ground-truth box each candidate box is assigned to.

    Attributes:
        gt_index (Tensor[K] int64): GT index for positives, `NEGATIVE` (-1) or `IGNORED` (-2).
        max_iou (Tensor[K] float32): each candidate's best IoU with any GT (0 without GT).
    """

    gt_index: Tensor
    max_iou: Tensor


class SampledBoxes(NamedTuple):
    """Sampled boxes, positives first.

    Attributes:
        xyxy (Tensor[S, 4] float32): the boxes.
        gt_index (Tensor[S] int64): assigned GT of the first `num_pos`, -1 for the negatives after.
        num_pos: number of positives.
    """

    xyxy: Tensor
    gt_index: Tensor
    num_pos: int


def assign_max_iou(
    boxes: Tensor,
    gt_xyxy: Tensor,
    *,
    pos_iou_threshold: float = 0.7,
    neg_iou_threshold: float = 0.3,
    min_pos_iou: float = 0.5,
    match_low_quality: bool = False,
) -> Assignment:
    """mmdet `MaxIoUAssigner`.

    A box is positive for its best GT when that IoU >= `pos_iou_threshold`, negative when its
    best IoU is in [0, `neg_iou_threshold`), ignored otherwise. With `match_low_quality`, each GT
    also takes the box(es) it overlaps most, if that IoU >= `min_pos_iou`.

    Args:
        boxes (Tensor[K, 4]): candidate boxes, xyxy.
        gt_xyxy (Tensor[G, 4]): ground-truth boxes, xyxy.

    Returns:
        Assignment for the K boxes.
    """
    num = boxes.shape[0]
    if gt_xyxy.shape[0] == 0 or num == 0:
        return Assignment(boxes.new_full((num,), NEGATIVE, dtype=torch.long), boxes.new_zeros(num))
    iou = box_iou(gt_xyxy, boxes)  # (G, K)
    max_iou, argmax = iou.max(0)  # (K,)
    gt_index = torch.full_like(argmax, IGNORED)
    gt_index[(max_iou >= 0) & (max_iou < neg_iou_threshold)] = NEGATIVE
    positive = max_iou >= pos_iou_threshold
    gt_index[positive] = argmax[positive]
    if match_low_quality:
        gt_max = iou.max(1).values  # (G,)
        for g in range(gt_xyxy.shape[0]):
            if gt_max[g] >= min_pos_iou:
                gt_index[iou[g] == gt_max[g]] = g
    return Assignment(gt_index, max_iou)


def _choice(inds: Tensor, num: int, generator: torch.Generator | None) -> Tensor:
    perm = torch.randperm(inds.numel(), generator=generator)[:num].to(inds.device)
    return inds[perm]


def _instance_balanced_positives(gt_index: Tensor, num_expected: int,
                                  generator: torch.Generator | None) -> Tensor:
    """mmdet `InstanceBalancedPosSampler._sample_pos`: about `round(n / num_gt) + 1` per GT,
    topped up at random or cut back at random to `num_expected`."""
    pos = (gt_index >= 0).nonzero().flatten()
    if pos.numel() <= num_expected:
        return pos
    gts = gt_index[pos].unique()
    per_gt = int(round(num_expected / float(len(gts))) + 1)
    chosen = []
    for g in gts:
        inds = (gt_index == g).nonzero().flatten()
        chosen.append(_choice(inds, per_gt, generator) if inds.numel() > per_gt else inds)
    sampled = torch.cat(chosen)
    if sampled.numel() < num_expected:
        rest = pos[~torch.isin(pos, sampled)]
        sampled = torch.cat([sampled, _choice(rest, num_expected - sampled.numel(), generator)])
    elif sampled.numel() > num_expected:
        sampled = _choice(sampled, num_expected, generator)
    return sampled


def sample_instance_balanced(
    proposals: Tensor,
    gt_xyxy: Tensor,
    *,
    generator: torch.Generator | None = None,
    num: int = 512,
    pos_fraction: float = 0.5,
    neg_pos_ub: int = 3,
    pos_iou_threshold: float = 0.7,
    neg_iou_threshold: float = 0.3,
    min_pos_iou: float = 0.5,
) -> SampledBoxes:
    """The track head's sampling: GT boxes prepended to the proposals, `MaxIoUAssigner`, up to
    `num * pos_fraction` instance-balanced positives, and random negatives, at most
    `neg_pos_ub * max(1, #pos)` and `num - #pos` (SPEC §5.3).

    Like mmdet (`indices.unique()`), positives and negatives each come out in ascending index
    order, so the GT boxes themselves lead the positives.

    Args:
        proposals (Tensor[K, 4]): proposal boxes, xyxy (e.g. RPN output).
        gt_xyxy (Tensor[G, 4]): ground-truth boxes of the view, xyxy.
        generator: source of randomness.
        num, pos_fraction, neg_pos_ub: `CombinedSampler` settings.
        pos_iou_threshold, neg_iou_threshold, min_pos_iou: `MaxIoUAssigner` settings.

    Returns:
        SampledBoxes: positives (with their GT index) first, then negatives.
    """
    boxes = torch.cat([gt_xyxy.to(proposals.dtype), proposals])  # (G + K, 4)
    gt_index = assign_max_iou(boxes, gt_xyxy, pos_iou_threshold=pos_iou_threshold,
                              neg_iou_threshold=neg_iou_threshold, min_pos_iou=min_pos_iou).gt_index
    pos = _instance_balanced_positives(gt_index, int(num * pos_fraction), generator).unique()
    num_neg = num - pos.numel()
    if neg_pos_ub >= 0:
        num_neg = min(num_neg, int(neg_pos_ub * max(1, pos.numel())))
    neg = (gt_index == NEGATIVE).nonzero().flatten()
    if neg.numel() > num_neg:
        neg = _choice(neg, num_neg, generator)
    neg = neg.unique()
    keep = torch.cat([pos, neg])
    labels = torch.cat([gt_index[pos], gt_index.new_full((neg.numel(),), NEGATIVE)])
    return SampledBoxes(boxes[keep], labels, int(pos.numel()))


def match_targets(key: SampledBoxes, key_ids: Tensor, ref: SampledBoxes, ref_ids: Tensor) -> Tensor:
    """QDTrack match targets between key positives and all sampled reference boxes.

    `y[i, j] = 1` iff reference box j is a positive assigned to a GT with the same instance id as
    the GT of key positive i, and that id is > 0. Reference negatives are always 0.

    Args:
        key: sampled key boxes (only the `key.num_pos` positives are used).
        key_ids (Tensor[G_key] int64): instance ids of the key view's GT boxes.
        ref: sampled reference boxes.
        ref_ids (Tensor[G_ref] int64): instance ids of the reference view's GT boxes.

    Returns:
        Tensor[P, R] float32 with P = key.num_pos and R = len(ref.xyxy).
    """
    key_inst = key_ids[key.gt_index[: key.num_pos]]  # (P,)
    ref_inst = torch.full_like(ref.gt_index, -1)
    ref_inst[: ref.num_pos] = ref_ids[ref.gt_index[: ref.num_pos]]  # (R,), -1 for negatives
    same = key_inst[:, None] == ref_inst[None, :]  # (P, R)
    return (same & (key_inst[:, None] > 0)).float()
