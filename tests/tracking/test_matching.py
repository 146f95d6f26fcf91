"""Hand-computed cases for the pure matching functions."""

from __future__ import annotations

import math

import pytest
import torch

from masa.tracking.matching import (
    SUPPRESSED,
    UNMATCHED,
    bisoftmax_scores,
    cosine_scores,
    distance_gate,
    greedy_assign,
    similarity_scores,
    softmax_scores,
    suppress_overlaps,
)

LN2 = math.log(2.0)


def test_bisoftmax_2x2() -> None:
    det_embeds = torch.tensor([[LN2, 0.0], [0.0, 0.0]])
    memo_embeds = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # S = det @ memo^T = [[ln2, 0], [0, 0]]
    # softmax over tracks (rows):   [[2/3, 1/3], [1/2, 1/2]]   (e^ln2 = 2: 2/(2+1), 1/(2+1))
    # softmax over dets (columns):  [[2/3, 1/2], [1/3, 1/2]]
    # mean:                         [[2/3, 5/12], [5/12, 1/2]]
    expected = torch.tensor([[2 / 3, 5 / 12], [5 / 12, 1 / 2]])
    torch.testing.assert_close(bisoftmax_scores(det_embeds, memo_embeds), expected)


def test_softmax_2x2() -> None:
    det_embeds = torch.tensor([[LN2, 0.0], [0.0, 0.0]])
    memo_embeds = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    expected = torch.tensor([[2 / 3, 1 / 3], [1 / 2, 1 / 2]])  # row softmax of S above
    torch.testing.assert_close(softmax_scores(det_embeds, memo_embeds), expected)


def test_cosine_ignores_norms() -> None:
    det_embeds = torch.tensor([[3.0, 4.0]])  # unit: [0.6, 0.8]
    memo_embeds = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # unit: [1, 0], [0, 1]
    torch.testing.assert_close(cosine_scores(det_embeds, memo_embeds), torch.tensor([[0.6, 0.8]]))


@pytest.mark.parametrize(
    "metric, function",
    [("bisoftmax", bisoftmax_scores), ("softmax", softmax_scores), ("cosine", cosine_scores)],
)
def test_similarity_scores_dispatch(metric: str, function) -> None:
    det_embeds = torch.tensor([[LN2, 0.0], [0.0, 1.0]])
    memo_embeds = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    torch.testing.assert_close(
        similarity_scores(det_embeds, memo_embeds, metric), function(det_embeds, memo_embeds)
    )


def test_similarity_scores_unknown_metric() -> None:
    with pytest.raises(ValueError, match="metric"):
        similarity_scores(torch.ones(1, 2), torch.ones(1, 2), "l2")


def test_scores_on_empty_memory_have_shape_n_by_0() -> None:
    det_embeds = torch.ones(3, 4)
    memo_embeds = torch.zeros(0, 4)
    assert bisoftmax_scores(det_embeds, memo_embeds).shape == (3, 0)
    assert cosine_scores(det_embeds, memo_embeds).shape == (3, 0)


def test_distance_gate_values() -> None:
    # fps = 30: growth = 30 / 6 = 5 frames, smoothing = 100 / 30 = 10/3 px.
    det_xyxy = torch.tensor([[-10.0, -10.0, 10.0, 10.0]])  # centre (0, 0)
    memo_xyxy = torch.tensor(
        [
            [40.0, -10.0, 60.0, 10.0],  # centre (50, 0)
            [120.0, -10.0, 140.0, 10.0],  # centre (130, 0)
            [120.0, -10.0, 140.0, 10.0],  # centre (130, 0)
            [290.0, -10.0, 310.0, 10.0],  # centre (300, 0)
        ]
    )
    memo_last_frame = torch.tensor([10, 10, 5, 5])
    gate = distance_gate(det_xyxy, memo_xyxy, 10, memo_last_frame, max_distance=100, fps=30)
    radius_gap5 = 100 * math.exp(5 / 5)  # 271.83 px after a 5-frame gap
    expected = torch.tensor(
        [
            [
                1.0,  # d = 50 <= a = 100 * e^0 = 100
                math.exp(-(130 - 100) / (100 / 30)),  # d = 130 > 100: e^-9
                1.0,  # d = 130 <= 271.83
                math.exp(-(300 - radius_gap5) / (100 / 30)),  # e^-(28.17 * 0.3) = e^-8.45
            ]
        ]
    )
    torch.testing.assert_close(gate, expected)


def test_greedy_assign_consumes_the_column() -> None:
    # Both detections like track 0 best; det 0 (ranked first) takes it, det 1's column 0 is
    # zeroed, leaving [0, 0.7] -> det 1 takes track 1.
    scores = torch.tensor([[0.9, 0.1], [0.8, 0.7]])
    original = scores.clone()
    confidence = torch.tensor([0.9, 0.8])
    assigned = greedy_assign(scores, confidence, match_score_threshold=0.5, obj_score_threshold=0.5)
    assert assigned.tolist() == [0, 1]
    assert torch.equal(scores, original)  # input untouched


def test_greedy_assign_one_track_two_detections() -> None:
    # Only the higher-ranked detection gets the track; the other sees 0 and stays unmatched.
    assigned = greedy_assign(
        torch.tensor([[0.9], [0.8]]),
        torch.tensor([0.9, 0.8]),
        match_score_threshold=0.5,
        obj_score_threshold=0.5,
    )
    assert assigned.tolist() == [0, UNMATCHED]


def test_greedy_assign_failed_test_consumes_nothing() -> None:
    # det 0 scores 0.4 <= obj threshold 0.5: no match and column 0 stays free for det 1.
    assigned = greedy_assign(
        torch.tensor([[0.9], [0.8]]),
        torch.tensor([0.4, 0.6]),
        match_score_threshold=0.5,
        obj_score_threshold=0.5,
    )
    assert assigned.tolist() == [UNMATCHED, 0]


def test_greedy_assign_thresholds_are_exclusive() -> None:
    assigned = greedy_assign(
        torch.tensor([[0.5], [0.9]]),
        torch.tensor([0.9, 0.5]),
        match_score_threshold=0.5,
        obj_score_threshold=0.5,
    )
    assert assigned.tolist() == [UNMATCHED, UNMATCHED]  # 0.5 > 0.5 fails either way


def test_greedy_assign_best_backdrop_blocks_match() -> None:
    # The argmax is a backdrop (column 0): the detection stays unmatched, it does not fall back
    # to the second-best column even though 0.6 would pass.
    assigned = greedy_assign(
        torch.tensor([[0.9, 0.6]]),
        torch.tensor([0.9]),
        match_score_threshold=0.5,
        obj_score_threshold=0.5,
        memo_is_track=torch.tensor([False, True]),
    )
    assert assigned.tolist() == [UNMATCHED]


def test_greedy_assign_suppresses_weak_confident_match_without_consuming() -> None:
    # det 0 (0.2 <= 0.3) matches track 0 at 0.9 > 0.6 and > 0.5: suppressed, column kept;
    # det 1 (0.6 > 0.3) then takes track 0.
    kwargs = dict(match_score_threshold=0.6, obj_score_threshold=0.3)
    scores = torch.tensor([[0.9], [0.8]])
    confidence = torch.tensor([0.2, 0.6])
    assigned = greedy_assign(scores, confidence, suppress_score_threshold=0.5, **kwargs)
    assert assigned.tolist() == [SUPPRESSED, 0]
    assert greedy_assign(scores, confidence, **kwargs).tolist() == [UNMATCHED, 0]


def test_greedy_assign_empty() -> None:
    kwargs = dict(match_score_threshold=0.5, obj_score_threshold=0.5)
    assert greedy_assign(torch.zeros(0, 3), torch.zeros(0), **kwargs).shape == (0,)
    assert greedy_assign(torch.zeros(2, 0), torch.ones(2), **kwargs).tolist() == [-1, -1]


def test_suppress_overlaps_compares_against_dropped_boxes() -> None:
    xyxy = torch.tensor(
        [
            [0.0, 0.0, 10.0, 10.0],  # A
            [5.0, 0.0, 15.0, 10.0],  # B: IoU(A, B) = 50 / 150 = 1/3 > 0.3 -> dropped
            [10.0, 0.0, 20.0, 10.0],  # C: IoU(A, C) = 0, IoU(B, C) = 1/3 > 0.3 -> dropped too
        ]
    )
    keep = suppress_overlaps(xyxy, torch.tensor([0.3, 0.3, 0.3]))
    assert keep.tolist() == [True, False, False]  # sequential NMS would have kept C


def test_suppress_overlaps_per_box_thresholds() -> None:
    xyxy = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0], [10.0, 0.0, 20.0, 10.0]])
    # B exempt (inf); C: IoU(B, C) = 1/3 <= 0.4 and IoU(A, C) = 0 -> kept. The first box is
    # always kept, whatever its threshold.
    keep = suppress_overlaps(xyxy, torch.tensor([0.0, math.inf, 0.4]))
    assert keep.tolist() == [True, True, True]


def test_suppress_overlaps_empty() -> None:
    keep = suppress_overlaps(torch.zeros(0, 4), torch.zeros(0))
    assert keep.shape == (0,) and keep.dtype == torch.bool
