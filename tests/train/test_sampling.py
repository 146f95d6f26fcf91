"""Max-IoU assignment, instance-balanced sampling, match targets (SPEC §5.3) on hand-made boxes."""

from __future__ import annotations

import torch

from masa.train.sampling import (
    IGNORED,
    NEGATIVE,
    SampledBoxes,
    assign_max_iou,
    match_targets,
    sample_instance_balanced,
)

GT = torch.tensor([[0.0, 0.0, 10.0, 10.0]])


def test_assignment_thresholds() -> None:
    # IoU with GT: 1.0 (positive), 0.5 (between 0.3 and 0.7: ignored), 0.2 (negative), 0 (negative)
    boxes = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 5], [0, 0, 10, 2], [20, 20, 30, 30]])
    result = assign_max_iou(boxes, GT)
    assert result.gt_index.tolist() == [0, IGNORED, NEGATIVE, NEGATIVE]
    torch.testing.assert_close(result.max_iou, torch.tensor([1.0, 0.5, 0.2, 0.0]))


def test_assignment_low_quality_matches_and_no_gt() -> None:
    boxes = torch.tensor([[0.0, 0, 10, 6], [0, 0, 10, 4]])  # IoU 0.6, 0.4
    assert assign_max_iou(boxes, GT).gt_index.tolist() == [IGNORED, IGNORED]
    low = assign_max_iou(boxes, GT, match_low_quality=True, min_pos_iou=0.5)
    assert low.gt_index.tolist() == [0, IGNORED]  # the GT takes its best box, IoU 0.6 >= 0.5
    assert assign_max_iou(boxes, torch.zeros(0, 4)).gt_index.tolist() == [NEGATIVE, NEGATIVE]


def test_assignment_picks_the_best_gt() -> None:
    gts = torch.tensor([[0.0, 0, 10, 10], [1, 0, 11, 10]])
    boxes = torch.tensor([[1.0, 0, 11, 10], [0, 0, 10, 10]])
    assert assign_max_iou(boxes, gts).gt_index.tolist() == [1, 0]


def test_instance_balanced_sampling_keeps_rare_instances() -> None:
    # GT A has 400 positive proposals, GT B 10. 256 positives are wanted:
    # round(256 / 2) + 1 = 129 per GT,
    # so B keeps all 11 of its positives (10 + itself as a proposal) and A fills the remaining 245.
    gts = torch.tensor([[0.0, 0, 100, 100], [200, 200, 300, 300]])
    props_a = torch.tensor([[0.0, 0, 100, 100]]).repeat(400, 1)
    props_b = torch.tensor([[200.0, 200, 300, 300]]).repeat(10, 1)
    negatives = torch.tensor([[500.0, 500, 510, 510]]).repeat(1000, 1)
    sampled = sample_instance_balanced(
        torch.cat([props_a, props_b, negatives]), gts, generator=torch.Generator().manual_seed(0)
    )
    positives = sampled.gt_index[: sampled.num_pos]
    assert sampled.num_pos == 256
    assert (positives == 1).sum() == 11 and (positives == 0).sum() == 245
    assert sampled.gt_index[:2].tolist() == [
        0,
        1,
    ]  # the GT boxes themselves lead (mmdet's unique())
    assert len(sampled.xyxy) == 512 and (sampled.gt_index[256:] == NEGATIVE).all()


def test_negatives_are_bounded_by_three_per_positive() -> None:
    props = torch.cat(
        [torch.tensor([[0.0, 0, 10, 10]]), torch.tensor([[50.0, 50, 60, 60]]).repeat(100, 1)]
    )
    sampled = sample_instance_balanced(props, GT, generator=torch.Generator().manual_seed(0))
    assert sampled.num_pos == 2  # the GT itself and the identical proposal
    assert len(sampled.xyxy) == 2 + 6


def test_sampling_is_seeded() -> None:
    props = torch.rand(300, 2).repeat(1, 2) * 50 + torch.tensor([0.0, 0, 20, 20])
    a = sample_instance_balanced(props, GT, generator=torch.Generator().manual_seed(3), num=16)
    b = sample_instance_balanced(props, GT, generator=torch.Generator().manual_seed(3), num=16)
    assert torch.equal(a.xyxy, b.xyxy)


def test_match_targets() -> None:
    # key positives are assigned to key GTs [0, 1, 1], whose ids are [7, 8] -> instances [7, 8, 8];
    # ref positives to ref GTs [1, 0], whose ids are [8, 9] -> instances [9, 8], then a negative.
    # Only instance 8 is in both views: key rows 1 and 2 match ref column 1.
    key = SampledBoxes(torch.zeros(4, 4), torch.tensor([0, 1, 1, -1]), num_pos=3)
    ref = SampledBoxes(torch.zeros(3, 4), torch.tensor([1, 0, -1]), num_pos=2)
    targets = match_targets(key, torch.tensor([7, 8]), ref, torch.tensor([8, 9]))
    assert targets.tolist() == [[0, 0, 0], [0, 1, 0], [0, 1, 0]]
    no_id = match_targets(key, torch.tensor([7, 0]), ref, torch.tensor([0, 9]))
    assert no_id.sum() == 0  # ids <= 0 never match


def test_jittered_candidates_stay_within_their_bounds_and_are_seeded() -> None:
    from masa.train.objective import jitter_box_candidates

    boxes = torch.tensor([[10.0, 20.0, 50.0, 120.0], [0.0, 0.0, 8.0, 4.0]])
    out = jitter_box_candidates(boxes, 500, shift=0.15, scale=0.25,
                                generator=torch.Generator().manual_seed(1))
    assert out.shape == (1000, 4)
    again = jitter_box_candidates(boxes, 500, shift=0.15, scale=0.25,
                                  generator=torch.Generator().manual_seed(1))
    assert torch.equal(out, again)
    for k, box in enumerate(boxes):
        cand = out[500 * k: 500 * (k + 1)]  # box-major
        size, cand_size = box[2:] - box[:2], cand[:, 2:] - cand[:, :2]
        shift = ((cand[:, :2] + cand[:, 2:]) / 2 - (box[:2] + box[2:]) / 2) / size  # (500, 2)
        ratio = torch.log(cand_size / size)
        assert shift.abs().max() <= 0.15 + 1e-6 and ratio.abs().max() <= 0.25 + 1e-6
        assert shift.abs().max() > 0.12 and ratio.abs().max() > 0.2  # the range is used


def test_jitter_adds_shifted_positives_to_the_track_sampling() -> None:
    from torchvision.ops import box_iou

    from masa.train.build import build_training_models
    from masa.train.objective import MasaObjective, TrackLossConfig

    adapter, heads = build_training_models("lite", channels=32, embed_dim=32, size=160)
    gt = torch.tensor([[10.0, 10.0, 60.0, 90.0], [80.0, 30.0, 150.0, 100.0]])
    proposals = torch.tensor([[100.0, 100.0, 150.0, 150.0]])  # overlaps no box
    plain = MasaObjective(adapter, heads)._sample(proposals, gt, torch.Generator().manual_seed(0))
    assert plain.num_pos == 2  # the boxes themselves only
    jitter = MasaObjective(adapter, heads, TrackLossConfig(jitter_boxes=16))
    sampled = jitter._sample(proposals, gt, torch.Generator().manual_seed(0))
    assert sampled.num_pos > 2 + 8  # about half of the 32 candidates reach IoU 0.7
    positives, owners = sampled.xyxy[: sampled.num_pos], sampled.gt_index[: sampled.num_pos]
    iou = box_iou(positives, gt)[torch.arange(len(owners)), owners]
    assert (iou >= 0.7).all() and (iou < 0.999).sum() >= 8  # shifted, yet positives


def test_a_lower_positive_iou_keeps_wider_jitter_as_positives() -> None:
    from torchvision.ops import box_iou

    from masa.train.build import build_training_models
    from masa.train.objective import MasaObjective, TrackLossConfig

    adapter, heads = build_training_models("lite", channels=32, embed_dim=32, size=160)
    gt = torch.tensor([[10.0, 10.0, 60.0, 90.0], [80.0, 30.0, 150.0, 100.0]])
    proposals = torch.tensor([[100.0, 100.0, 150.0, 150.0]])
    wide = dict(jitter_boxes=16, jitter_shift=0.25, jitter_scale=0.4)
    counts = {}
    for pos_iou in (0.7, 0.5):
        track = TrackLossConfig(**wide, pos_iou_threshold=pos_iou)
        objective = MasaObjective(adapter, heads, track)
        sampled = objective._sample(proposals, gt, torch.Generator().manual_seed(0))
        positives, owners = sampled.xyxy[: sampled.num_pos], sampled.gt_index[: sampled.num_pos]
        iou = box_iou(positives, gt)[torch.arange(len(owners)), owners]
        assert (iou >= pos_iou).all()
        counts[pos_iou] = (sampled.num_pos, int((iou < 0.7).sum()))
    assert counts[0.7][1] == 0 and counts[0.5][1] >= 8  # candidates of IoU [0.5, 0.7) join
    assert counts[0.5][0] > counts[0.7][0]
