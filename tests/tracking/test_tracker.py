"""Hand-built cases for the trackers and the track memory."""

from __future__ import annotations

import pytest
import torch

from masa.structures import Detections
from masa.tracking import (
    BackdropMemory,
    MasaBddTracker,
    MasaTaoTracker,
    TrackMemory,
    build_bdd_tracker,
    build_tao_tracker_demo,
    build_tao_tracker_test,
    memory_frames_from_seconds,
)

E_A = [1.0, 0.0, 0.0]
E_B = [0.0, 1.0, 0.0]
E_C = [0.0, 0.0, 1.0]


def _box(x: float, y: float = 0.0, size: float = 10.0) -> list[float]:
    return [x, y, x + size, y + size]


def _dets(
    xyxy: list[list[float]], confidence: list[float], embedding: list[list[float]]
) -> Detections:
    return Detections.from_arrays(xyxy, confidence, embedding=embedding)


def _ids(out: Detections) -> list[int]:
    assert out.tracker_id is not None and out.tracker_id.dtype == torch.int64
    return out.tracker_id.tolist()


# ---------------------------------------------------------------- TAO tracker


def test_first_frame_births_only_above_init_threshold() -> None:
    tracker = MasaTaoTracker(init_score_threshold=0.5)
    # Far-apart boxes (no distractor overlap); 0.5 is not > 0.5, so only 0.9 and 0.7 are born,
    # in descending-score order.
    xyxy = [_box(0), _box(100), _box(200), _box(300)]
    dets = _dets(xyxy, [0.4, 0.9, 0.5, 0.7], [E_A, E_B, E_C, E_A])
    out = tracker.update(dets, 0)
    assert _ids(out) == [0, 1]
    assert out.confidence.tolist() == pytest.approx([0.9, 0.7])


def test_two_detections_one_track_only_higher_score_gets_it() -> None:
    tracker = build_tao_tracker_test()
    tracker.update(_dets([_box(0)], [0.9], [E_A]), 0)
    # S = [[1], [1]]: softmax over the one track = 1, over the two dets = 1/2 -> bisoftmax 3/4;
    # cosine 1 -> score (3/4 + 1) / 2 = 7/8 > 0.5 for both. The 0.9 detection takes id 0, the
    # column is consumed, the 0.8 one starts id 1.
    out = tracker.update(_dets([_box(0), _box(200)], [0.8, 0.9], [E_A, E_A]), 1)
    assert _ids(out) == [0, 1]
    assert out.confidence.tolist() == pytest.approx([0.9, 0.8])


def test_unmatched_at_or_below_init_threshold_is_dropped() -> None:
    tracker = build_tao_tracker_test(init_score_threshold=0.85)
    tracker.update(_dets([_box(0)], [0.9], [E_A]), 0)
    out = tracker.update(_dets([_box(0), _box(200)], [0.8, 0.9], [E_A, E_A]), 1)
    assert _ids(out) == [0]  # the 0.8 detection lost the column and cannot start a track


def test_memory_expires_after_memory_frames() -> None:
    tracker = build_tao_tracker_test(memory_frames=3)
    assert _ids(tracker.update(_dets([_box(0)], [0.9], [E_A]), 0)) == [0]
    # Frame 3: A is absent; 3 - 0 >= 3 -> A is forgotten at the end of this frame.
    assert _ids(tracker.update(_dets([_box(200)], [0.9], [E_B]), 3)) == [1]
    assert _ids(tracker.update(_dets([_box(0)], [0.9], [E_A]), 4)) == [2]


def test_memory_survives_gap_shorter_than_memory_frames() -> None:
    tracker = build_tao_tracker_test(memory_frames=3)
    tracker.update(_dets([_box(0)], [0.9], [E_A]), 0)
    tracker.update(_dets([_box(200)], [0.9], [E_B]), 2)  # 2 - 0 < 3: A kept
    # Frame 4: memory [A, B], det e_A: S = [[1, 0]]; row softmax [0.731, 0.269], column softmax
    # over one det [1, 1] -> bisoftmax [0.866, 0.634]; cosine [1, 0] -> [0.933, 0.317] -> A.
    assert _ids(tracker.update(_dets([_box(0)], [0.9], [E_A]), 4)) == [0]


def test_empty_frames_do_not_prune() -> None:
    # As officially: an empty frame returns early, so ageing only happens on non-empty frames and
    # matching at frame 10 still sees the track from frame 0 (it is pruned after this frame).
    tracker = build_tao_tracker_test(memory_frames=3)
    tracker.update(_dets([_box(0)], [0.9], [E_A]), 0)
    for frame_idx in range(1, 10):
        assert len(tracker.update(Detections.empty(), frame_idx)) == 0
    assert _ids(tracker.update(_dets([_box(0)], [0.9], [E_A]), 10)) == [0]


def test_distractor_removal_includes_dropped_boxes() -> None:
    tracker = build_tao_tracker_test()
    # A (0.9); B (0.4 < 0.5): IoU(A, B) = 50 / 150 = 1/3 > 0.3 -> dropped; C (0.3): IoU(A, C) = 0
    # but IoU(B, C) = 1/3 > 0.3 with the already-dropped B -> dropped as well.
    dets = _dets([_box(10), _box(5), _box(0)], [0.3, 0.4, 0.9], [E_C, E_B, E_A])
    out = tracker.update(dets, 0)
    assert _ids(out) == [0]
    assert out.xyxy.tolist() == [_box(0)]


def test_distractor_removal_spares_high_scores() -> None:
    tracker = build_tao_tracker_test()
    # B scores 0.6 >= 0.5, so it is not a distractor candidate despite IoU 1/3.
    out = tracker.update(_dets([_box(0), _box(5)], [0.9, 0.6], [E_A, E_B]), 0)
    assert _ids(out) == [0, 1]


def test_distance_gate_blocks_far_jump() -> None:
    # Same appearance, centre moved 400 px in one frame at 30 fps: a = 100 * e^(1/5) = 122.1 px,
    # gate = exp(-(400 - 122.1) / (10/3)) ~ e^-83 -> score ~ 0 -> a new track.
    gated = build_tao_tracker_demo()
    gated.update(_dets([_box(0)], [0.9], [E_A]), 0)
    assert _ids(gated.update(_dets([_box(400)], [0.9], [E_A]), 1)) == [1]
    ungated = build_tao_tracker_test()
    ungated.update(_dets([_box(0)], [0.9], [E_A]), 0)
    assert _ids(ungated.update(_dets([_box(400)], [0.9], [E_A]), 1)) == [0]


def test_reset_restarts_ids_and_instances_are_independent() -> None:
    tracker = build_tao_tracker_test()
    frame = _dets([_box(0), _box(100)], [0.9, 0.8], [E_A, E_B])
    assert _ids(tracker.update(frame, 0)) == [0, 1]
    assert _ids(tracker.update(_dets([_box(200)], [0.9], [E_C]), 1)) == [2]
    tracker.reset()
    assert _ids(tracker.update(frame, 0)) == [0, 1]
    assert _ids(build_tao_tracker_test().update(frame, 0)) == [0, 1]  # no class-level counter


@pytest.mark.parametrize("build", [build_tao_tracker_test, build_bdd_tracker])
def test_empty_frames(build) -> None:
    tracker = build()
    out = tracker.update(Detections.empty(), 0)
    assert len(out) == 0 and _ids(out) == []
    empty_with_embedding = Detections.from_arrays(torch.zeros(0, 4), embedding=torch.zeros(0, 3))
    assert _ids(tracker.update(empty_with_embedding, 1)) == []
    assert _ids(tracker.update(_dets([_box(0)], [0.9], [E_A]), 2)) == [0]
    assert len(tracker.update(Detections.empty(), 3)) == 0
    assert _ids(tracker.update(_dets([_box(0)], [0.9], [E_A]), 4)) == [0]


def test_output_carries_masks_and_data_in_score_order() -> None:
    masks = torch.zeros(2, 4, 4, dtype=torch.bool)
    masks[1, 0, 0] = True
    dets = Detections.from_arrays(
        [_box(0), _box(100)], [0.6, 0.9], [3, 7], embedding=[E_A, E_B], mask=masks,
        data={"name": ["low", "high"]},
    )
    out = build_tao_tracker_test().update(dets, 0)
    assert _ids(out) == [0, 1]
    assert out.data["name"] == ["high", "low"]
    assert out.class_id.tolist() == [7, 3]
    assert out.mask is not None and out.mask[0, 0, 0] and not out.mask[1].any()


def test_missing_embedding_raises() -> None:
    with pytest.raises(ValueError, match="embedding"):
        build_tao_tracker_test().update(Detections.from_arrays([_box(0)]), 0)


# ---------------------------------------------------------------- BDD tracker


def test_bdd_duplicate_removal_thresholds() -> None:
    tracker = build_bdd_tracker()
    # B (0.8 >= obj 0.3, limit 0.7): IoU(A, B) = 90 / 110 = 0.82 -> dropped.
    # C (0.7): IoU(A, C) = 1/3, IoU(B, C) = 60 / 140 = 0.43, both <= 0.7 -> kept.
    # D (0.2 < 0.3, limit 0.3): IoU(C, D) = 50 / 150 = 1/3 > 0.3 -> dropped.
    dets = _dets([_box(0), _box(1), _box(5), _box(10)], [0.9, 0.8, 0.7, 0.2], [E_A, E_B, E_C, E_A])
    out = tracker.update(dets, 0)
    assert _ids(out) == [0, 1]
    assert out.xyxy.tolist() == [_box(0), _box(5)]


def test_bdd_weak_confident_match_is_suppressed() -> None:
    tracker = build_bdd_tracker()
    tracker.update(_dets([_box(0)], [0.9], [E_A]), 0)
    # One det vs one track: bisoftmax = (1 + 1) / 2 = 1 > 0.6, but 0.2 <= obj 0.3 -> suppressed.
    assert _ids(tracker.update(_dets([_box(0)], [0.2], [E_A]), 1)) == []
    assert _ids(tracker.update(_dets([_box(0)], [0.9], [E_A]), 2)) == [0]


@pytest.mark.parametrize("backdrop_frames, expected_id", [(1, 1), (0, 0)])
def test_bdd_backdrop_absorbs_match(backdrop_frames: int, expected_id: int) -> None:
    tracker = build_bdd_tracker(backdrop_frames=backdrop_frames)
    # Frame 0: A is tracked (id 0); B (0.2, far away) is left over -> a backdrop.
    assert _ids(tracker.update(_dets([_box(0), _box(200)], [0.9, 0.2], [E_A, E_B]), 0)) == [0]
    # Frame 1: a det with e_B. With the backdrop, memory = [A, B]: S = [[0, 1]] -> bisoftmax
    # [(0.269 + 1) / 2, (0.731 + 1) / 2] = [0.634, 0.866]: the best is the backdrop -> new id 1.
    # Without backdrops, memory = [A]: bisoftmax = 1 > 0.6 -> it takes A's id 0.
    out = tracker.update(_dets([_box(200)], [0.95], [E_B]), 1)
    assert _ids(out) == [expected_id]


@pytest.mark.parametrize("match_metric", ["bisoftmax", "softmax", "cosine"])
def test_bdd_match_metrics_follow_a_track(match_metric: str) -> None:
    tracker = build_bdd_tracker(match_metric=match_metric)
    tracker.update(_dets([_box(0), _box(100)], [0.9, 0.8], [E_A, E_B]), 0)
    out = tracker.update(_dets([_box(102), _box(2)], [0.85, 0.95], [E_B, E_A]), 1)
    assert _ids(out) == [0, 1]


def test_bdd_with_cats_blocks_other_class() -> None:
    tracker = build_bdd_tracker(with_cats=True)
    tracker.update(Detections.from_arrays([_box(0)], [0.9], [1], embedding=[E_A]), 0)
    out = tracker.update(Detections.from_arrays([_box(0)], [0.9], [2], embedding=[E_A]), 1)
    assert _ids(out) == [1]  # score * 0 (different class) -> no match -> new track


# ---------------------------------------------------------------- memory


def test_momentum_update_weights_the_new_embedding() -> None:
    memory = TrackMemory.empty()
    first_embeds = torch.tensor([[1.0, 0.0]])
    memory.update(
        torch.tensor([5]), torch.tensor([_box(0)]), first_embeds, torch.tensor([1]),
        torch.tensor([0.9]), 0, new_embed_weight=0.8,
    )  # fmt: skip
    second_embeds = torch.tensor([[3.0, 3.0], [0.0, 1.0]])
    memory.update(
        torch.tensor([6, 5]), torch.tensor([_box(50), _box(10)]), second_embeds,
        torch.tensor([2, 4]), torch.tensor([0.7, 0.6]), 3, new_embed_weight=0.8,
    )  # fmt: skip
    # id 5: 0.2 * [1, 0] + 0.8 * [0, 1] = [0.2, 0.8]; box, class, score, frame replaced.
    # id 6 is new and appended after 5.
    assert memory.ids.tolist() == [5, 6]
    torch.testing.assert_close(memory.embeds, torch.tensor([[0.2, 0.8], [3.0, 3.0]]))
    assert memory.xyxy.tolist() == [_box(10), _box(50)]
    assert memory.class_id.tolist() == [4, 2]
    assert memory.confidence.tolist() == pytest.approx([0.6, 0.7])
    assert memory.last_frame.tolist() == [3, 3]
    memory.prune(6, memory_frames=3)  # 6 - 3 >= 3
    assert len(memory) == 0


def test_backdrop_memory_keeps_the_latest_pushes_newest_first() -> None:
    memory = BackdropMemory.empty()
    for k in range(3):
        memory.push(torch.tensor([_box(k)]), torch.tensor([[float(k)]]), torch.tensor([k]), 2)
    assert memory.class_id.tolist() == [2, 1]
    assert memory.age.tolist() == [0, 1]
    memory.push(torch.zeros(0, 4), torch.zeros(0, 1), torch.zeros(0, dtype=torch.int64), 2)
    assert memory.class_id.tolist() == [2]


# ---------------------------------------------------------------- presets and validation


def test_presets_use_the_spec_values_and_accept_overrides() -> None:
    test = build_tao_tracker_test()
    assert (test.init_score_threshold, test.obj_score_threshold, test.max_distance, test.fps) == (
        1e-4, 1e-4, None, 1,
    )
    demo = build_tao_tracker_demo(fps=25)
    assert (demo.init_score_threshold, demo.obj_score_threshold, demo.max_distance, demo.fps) == (
        0.1, 0.01, 100, 25,
    )
    bdd = build_bdd_tracker()
    assert (bdd.init_score_threshold, bdd.obj_score_threshold, bdd.match_score_threshold) == (
        0.5, 0.3, 0.6,
    )
    assert (bdd.backdrop_frames, bdd.class_iou_threshold, bdd.match_metric) == (1, 0.7, "bisoftmax")
    with pytest.raises(TypeError):
        build_tao_tracker_test(init_score_thr=0.5)


@pytest.mark.parametrize(
    "build, kwargs",
    [
        (MasaTaoTracker, {"new_embed_weight": 1.5}),
        (MasaTaoTracker, {"memory_frames": -1}),
        (MasaTaoTracker, {"max_distance": -1}),
        (MasaTaoTracker, {"fps": 0}),
        (MasaBddTracker, {"match_metric": "l2"}),
        (MasaBddTracker, {"backdrop_frames": -1}),
    ],
)
def test_invalid_settings_raise(build, kwargs) -> None:
    with pytest.raises(ValueError):
        build(**kwargs)


@pytest.mark.parametrize(
    "seconds, fps, expected",
    [(1.0, 30, 30), (0.5, 25, 13), (0.01, 30, 1), (0.0, 30, 1), (2.0, 1, 2)],
)
def test_memory_frames_from_seconds(seconds: float, fps: float, expected: int) -> None:
    # 0.5 s * 25 fps = 12.5 -> 13 (rounded up); 0.3 -> 1; 0 -> at least 1.
    assert memory_frames_from_seconds(seconds, fps) == expected
    assert isinstance(memory_frames_from_seconds(seconds, fps), int)
