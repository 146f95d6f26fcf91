"""`MasaTracker` on hand-built scenes: motion, low-score boxes, re-identification, tentative
tracks and forgetting by time."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from masa.structures import Detections
from masa.tracking import MasaTracker, MasaTrackerConfig

FPS = 10.0


def frame(boxes, scores=None, embeds=None) -> Detections:
    boxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    n = len(boxes)
    scores = torch.full((n,), 0.9) if scores is None else torch.tensor(scores, dtype=torch.float32)
    embedding = None if embeds is None else torch.tensor(embeds, dtype=torch.float32).reshape(n, -1)
    return Detections(boxes, scores, torch.zeros(n, dtype=torch.int64), embedding=embedding)


def box(cx, cy, size=40.0):
    return [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2]


def ids_by_row(out: Detections) -> list[int]:
    return out.tracker_id.tolist()


def test_crossing_look_alikes_are_kept_apart_by_motion():
    tracker = MasaTracker(fps=FPS)
    same_look = [[1.0, 0.0], [1.0, 0.0]]  # identical appearance: only motion can tell them apart
    history = []
    for t in range(30):
        a, b = box(100 + 10 * t, 100), box(390 - 10 * t, 108)  # they cross around t = 14-15
        out = tracker.update(frame([a, b], embeds=same_look), t)
        history.append({round(float(x[0])): i for x, i in zip(out.xyxy, out.tracker_id.tolist())})
    first = history[2]  # confirmed after 2 frames
    id_a, id_b = first[round(100 + 20 - 20)], first[round(390 - 20 - 20)]
    assert id_a != id_b and min(id_a, id_b) >= 0
    assert history[-1][round(100 + 290 - 20)] == id_a  # a ends on the right, still a
    assert history[-1][round(390 - 290 - 20)] == id_b


def test_occlusion_bridged_by_low_score_boxes():
    def run(config):
        tracker = MasaTracker(config, fps=FPS)
        ids = []
        for t in range(20):
            score = 0.3 if 8 <= t < 13 else 0.9  # occluded: the detector is unsure
            out = tracker.update(frame([box(100 + 5 * t, 100)], [score]), t)
            ids.append(out.tracker_id.tolist()[0] if len(out) else None)
        return ids

    ids = run(MasaTrackerConfig())
    assert ids[1:] == [ids[1]] * 19 and ids[1] >= 0  # one id through the weak boxes
    no_second_stage = run(MasaTrackerConfig(low_score_threshold=0.5))
    assert no_second_stage[8:13] == [None] * 5  # without it the weak boxes are dropped


def test_reidentification_after_a_gap_longer_than_the_motion_memory():
    def run(config):
        tracker = MasaTracker(config, fps=FPS)
        look_a, look_b = [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]
        seen = {}
        for t in range(60):
            boxes, looks = [box(300, 300)], [look_b]  # b stays, so appearance can be calibrated
            if t < 20 or t >= 50:  # a is away for 3 s, three times the motion memory
                boxes.append(box(100 + (2 * t if t < 20 else 60), 100))
                looks.append(look_a)
            out = tracker.update(frame(boxes, embeds=looks), t)
            for x, i in zip(out.xyxy.tolist(), out.tracker_id.tolist()):
                seen.setdefault("b" if x[0] > 250 else "a", []).append(i)
        return seen

    seen = run(MasaTrackerConfig(motion_memory=1.0, reid_memory=10.0))
    assert seen["a"][1] == seen["a"][-1] >= 0 and seen["a"][1] != seen["b"][1]
    motion_only = run(MasaTrackerConfig(motion_memory=1.0, appearance_weight=0.0))
    assert motion_only["a"][-1] != motion_only["a"][1]  # without appearance: a new id


def test_tentative_tracks_get_no_id_until_confirmed():
    tracker = MasaTracker(MasaTrackerConfig(min_hits=3), fps=FPS)
    outs = [tracker.update(frame([box(100 + t, 100)]), t) for t in range(4)]
    assert [o.tracker_id.tolist() for o in outs] == [[-1], [-1], [0], [0]]
    flicker = tracker.update(frame([box(100 + 4, 100), box(400, 400)]), 4)  # a one-frame false positive
    assert sorted(flicker.tracker_id.tolist()) == [-1, 0]
    # the tentative rows carry the track's key, so refinement can write them back once confirmed
    assert outs[0].data["track_key"].tolist() == outs[3].data["track_key"].tolist()


def test_tracks_are_forgotten_by_time_even_over_empty_frames():
    config = MasaTrackerConfig(motion_memory=1.0, reid_memory=2.0)
    tracker = MasaTracker(config, fps=FPS)
    look = [[1.0, 0.0]]
    for t in range(5):
        first = tracker.update(frame([box(100, 100)], embeds=look), t)
    for t in range(5, 60):  # 5.5 s of empty frames: longer than motion + re-id memory
        assert len(tracker.update(frame([]), t)) == 0
    assert len(tracker.tracks) == 0
    later = [tracker.update(frame([box(100, 100)], embeds=look), t) for t in (60, 61)]
    assert later[-1].tracker_id.tolist()[0] != first.tracker_id.tolist()[0]


def test_frame_gaps_predict_further_and_motion_alone_works_without_embeddings():
    tracker = MasaTracker(fps=FPS)
    ids = []
    for t in range(0, 40, 4):  # stride 4: the object moves 24 px between processed frames
        out = tracker.update(frame([box(100 + 6 * t, 100, size=20)]), t)
        ids.append(out.tracker_id.tolist()[0])
    assert ids[1:] == [ids[1]] * (len(ids) - 1)


def test_output_rows_keep_the_input_order_and_fields():
    tracker = MasaTracker(MasaTrackerConfig(min_hits=1), fps=FPS)
    dets = frame([box(100, 100), box(300, 300)], [0.7, 0.95])
    out = tracker.update(dets, 0)
    assert torch.equal(out.xyxy, dets.xyxy) and out.tracker_id.tolist() == [0, 1]
    assert np.isclose(out.confidence.tolist(), [0.7, 0.95]).all()


def test_small_fast_objects_whose_boxes_never_overlap_keep_their_ids():
    tracker = MasaTracker(fps=30.0)
    ids = []
    for t in range(30):  # 10 px boxes moving 15 px per frame: no overlap between frames
        boxes = [box(20 + 15 * t, 50, size=10), box(460 - 15 * t, 150, size=10)]
        out = tracker.update(frame(boxes), t)
        ids.append(out.tracker_id.tolist())
    assert all(row == ids[1] for row in ids[1:]) and len(set(ids[1])) == 2 and min(ids[1]) >= 0


def test_camera_motion_compensation_moves_predictions_with_the_scene():
    from masa.tracking.cmc import CameraMotion, warp_states

    rng = np.random.default_rng(0)
    scene = (rng.random((200, 300, 3)) * 255).astype(np.uint8)
    scene = np.ascontiguousarray(np.repeat(np.repeat(scene[::4, ::4], 4, 0), 4, 1))  # texture to track
    cmc = CameraMotion(downscale=1)
    assert np.allclose(cmc.estimate(scene[:, 20:276]), np.eye(2, 3))  # first frame: identity
    affine = cmc.estimate(scene[:, 12:268])  # the camera panned 8 px left: the scene moves right
    assert affine[0, 2] == pytest.approx(8, abs=0.5) and affine[1, 2] == pytest.approx(0, abs=0.5)
    mean, cov = np.array([[100.0, 50, 10, 20, 1, 0, 0, 0]]), np.tile(np.eye(8), (1, 1, 1))
    moved, _ = warp_states(mean, cov, affine)
    assert moved[0, 0] == pytest.approx(108, abs=0.5) and moved[0, 2] == 10


def test_camera_motion_option_feeds_the_tracker_the_frame():
    tracker = MasaTracker(MasaTrackerConfig(camera_motion=True), fps=FPS)
    assert tracker.uses_image
    image = np.zeros((64, 64, 3), np.uint8)
    out = tracker.update(frame([box(30, 30, size=10)]), 0, image=image)
    assert len(out) == 1


def test_a_stride_is_not_a_gap():
    """Frame indices 0, 8, 16, ... at the video's own rate: consecutive processed frames."""
    def run(stride):
        tracker = MasaTracker(fps=24.0)
        ids = []
        for t in range(0, 12 * stride, stride):
            out = tracker.update(frame([box(100 + 2 * t, 100), box(400, 300 - 2 * t)]), t)
            ids.append(out.tracker_id.tolist())
        return ids

    for stride in (1, 8):
        ids = run(stride)
        assert ids[0] == [-1, -1] and all(row == ids[1] for row in ids[1:]) and sorted(ids[1]) == [0, 1]
