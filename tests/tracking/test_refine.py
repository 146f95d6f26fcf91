"""Offline refinement: tracklet linking, renumbering, interpolation and replay."""

from __future__ import annotations

import numpy as np
import torch

from masa.structures import Detections
from masa.tracking import MasaTracker, MasaTrackerConfig, RefineConfig, plan_refinement
from masa.tracking.appearance import AppearanceCalibration
from masa.tracking.refine import Interpolator
from masa.tracking.replay import refined_frames
from masa.tracking.tracks import TrackletSummary

FPS = 10.0


def tracklet(key, first, last, x_first, x_last, look, track_id=None, hits=None):
    box = lambda x: np.array([x - 20, 80, x + 20, 120], dtype=float)  # noqa: E731
    velocity = np.array([(x_last - x_first) * FPS / max(last - first, 1), 0.0])
    return TrackletSummary(
        key=key, track_id=key if track_id is None else track_id, first_frame=first, last_frame=last,
        first_xyxy=box(x_first), last_xyxy=box(x_last), first_velocity=velocity, last_velocity=velocity,
        embed_sum=np.array(look, dtype=float) * (last - first + 1), hits=hits or last - first + 1,
    )


def calibrated() -> AppearanceCalibration:
    calibration = AppearanceCalibration()
    calibration.observe("same", np.full(50, 0.95))
    calibration.observe("different", np.full(50, 0.1))
    return calibration


def test_links_two_tracklets_of_one_object_and_never_overlapping_ones():
    summaries = {
        0: tracklet(0, 0, 10, 100, 150, [1, 0]),  # an object walking right...
        1: tracklet(1, 5, 15, 400, 400, [1, 0]),  # a look-alike standing still, overlapping in time
        2: tracklet(2, 25, 35, 225, 275, [1, 0]),  # ...the first one again after 1.5 s
    }
    plan = plan_refinement(summaries, fps=FPS, calibration=calibrated(), appearance_weight=0.5)
    assert plan.links == [(0, 2)]
    assert plan.final_id(0) == plan.final_id(2) != plan.final_id(1)
    assert sorted(set(plan.key_to_id.values())) == [0, 1]  # renumbered from 0


def test_no_link_when_appearance_disagrees_or_is_unavailable_or_too_far():
    different = {0: tracklet(0, 0, 10, 100, 150, [1, 0]), 2: tracklet(2, 25, 35, 225, 275, [0, 1])}
    assert plan_refinement(different, fps=FPS, calibration=calibrated()).links == []
    same = {0: tracklet(0, 0, 10, 100, 150, [1, 0]), 2: tracklet(2, 25, 35, 225, 275, [1, 0])}
    assert plan_refinement(same, fps=FPS, calibration=calibrated(), appearance_weight=0.0).links == []
    far = {0: tracklet(0, 0, 10, 100, 150, [1, 0]), 2: tracklet(2, 12, 20, 900, 950, [1, 0])}
    assert plan_refinement(far, fps=FPS, calibration=calibrated()).links == []  # beyond the speed gate


def test_unconfirmed_and_short_tracks_are_dropped():
    summaries = {0: tracklet(0, 0, 10, 100, 150, [1, 0]), 1: tracklet(1, 0, 1, 300, 300, [0, 1], track_id=-1),
                 2: tracklet(2, 0, 2, 500, 500, [0, 1], hits=3)}
    plan = plan_refinement(summaries, fps=FPS, config=RefineConfig(min_detections=5))
    assert plan.key_to_id == {0: 0}


def test_interpolator_fills_short_gaps_linearly_only():
    interpolator = Interpolator(max_gap_frames=3)
    interpolator.observe(0, 7, np.array([0.0, 0, 10, 10]), 0.9, 1)
    interpolator.observe(4, 7, np.array([40.0, 0, 50, 10]), 0.6, 1)  # 3 missing frames: filled
    interpolator.observe(10, 7, np.array([100.0, 0, 110, 10]), 0.9, 1)  # 5 missing: not filled
    fills = {f: interpolator.fills_for(f) for f in range(11)}
    assert [f for f, v in fills.items() if v] == [1, 2, 3]
    track_id, xyxy, score, cls = fills[2][0]
    assert (track_id, cls, score) == (7, 1, 0.6) and np.allclose(xyxy, [20, 0, 30, 10])


def test_replay_writes_back_tentative_frames_and_fills_gaps():
    tracker = MasaTracker(MasaTrackerConfig(min_hits=3), fps=FPS)
    online = []
    for t in range(12):
        if t in (6, 7):  # missed by the detector
            dets = Detections.empty()
        else:
            x = 100.0 + 5 * t
            dets = Detections(torch.tensor([[x, 100, x + 40, 140]]), torch.tensor([0.9]), torch.tensor([0]))
        online.append((t, tracker.update(dets, t)))
    assert online[0][1].tracker_id.tolist() == [-1]
    refined = dict(refined_frames(online, tracker.refinement_plan(RefineConfig()), interpolate_frames=5))
    assert [refined[t].tracker_id.tolist() for t in range(12)] == [[0]] * 12
    assert refined[6].xyxy[0, 0].item() == 130.0  # interpolated between frames 5 and 8
