"""Offline refinement of a finished tracking pass (`--refine`), from per-track summaries only.

After the online pass, `plan_refinement` decides, from each track's `TrackletSummary` (O(tracks)
memory):

- which tracklets belong together: a tracklet that ends may continue as one that starts later
  (never two that overlap in time), when the later one starts where the first one's motion puts
  it (a speed gate in box sizes) and their appearances, each averaged over the whole tracklet,
  agree on the scene's calibrated scale; links are chosen one-to-one by the Hungarian method;
- the final ids: renumbered from 0 in order of first appearance, tentative detections of a track
  included (they are written back once the track is confirmed);
- which tracks are too short to keep.

`Interpolator` then fills the short gaps of each final track linearly while the detections are
replayed in frame order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from masa.tracking.appearance import AppearanceCalibration
from masa.tracking.kalman import xyxy_to_cxcywh
from masa.tracking.tracks import TrackletSummary

__all__ = ["RefineConfig", "Refinement", "plan_refinement", "Interpolator"]


@dataclass(frozen=True)
class RefineConfig:
    """Settings of the offline refinement.

    Attributes:
        max_gap: longest gap, in seconds, across which two tracklets may be linked. Longer: joins
            tracks across longer absences, with more chance of joining two objects.
        link_threshold: minimum link score (0..1: calibrated appearance agreement fused with
            motion agreement; tracklets that look no more alike than two different objects
            typically do are never linked). Higher: fewer wrong joins, more fragmented identities.
        interpolate_gap: gaps of a track up to this many seconds are filled with interpolated
            boxes. Longer: fills longer occlusions (boxes there are guesses).
        min_detections: tracks with fewer detections than this are dropped (after linking).
    """

    max_gap: float = 5.0
    link_threshold: float = 0.5
    interpolate_gap: float = 1.0
    min_detections: int = 1


@dataclass
class Refinement:
    """The plan: `key_to_id` maps every kept track key to its final id (keys absent: dropped)."""

    key_to_id: dict[int, int] = field(default_factory=dict)
    links: list[tuple[int, int]] = field(default_factory=list)

    def final_id(self, key: int) -> int:
        """Final id of a track key, -1 when its detections are dropped."""
        return self.key_to_id.get(int(key), -1)


def _link_scores(
    tracklets: list[TrackletSummary],
    fps: float,
    config: RefineConfig,
    calibration: AppearanceCalibration,
    appearance_weight: float,
    max_speed: float,
    center_sigma: float,
) -> np.ndarray:
    """`(K, K)` score of tracklet i continuing as tracklet j (0 where not allowed)."""
    k = len(tracklets)
    scores = np.zeros((k, k))
    first = np.array([t.first_frame for t in tracklets])
    last = np.array([t.last_frame for t in tracklets])
    gap = (first[None, :] - last[:, None]) / fps  # (K, K) seconds from i's end to j's start
    allowed = (gap > 0) & (gap <= config.max_gap)
    if not allowed.any():
        return scores
    end = xyxy_to_cxcywh(np.stack([t.last_xyxy for t in tracklets]))
    start = xyxy_to_cxcywh(np.stack([t.first_xyxy for t in tracklets]))
    size = np.sqrt(np.maximum(end[:, 2] * end[:, 3], 1e-9))  # (K,)
    velocity = np.stack([t.last_velocity for t in tracklets])  # px/s
    speed = np.linalg.norm(velocity, axis=1) / size
    velocity = velocity * np.minimum(1.0, max_speed / np.maximum(speed, 1e-9))[:, None]
    predicted = end[:, None, :2] + velocity[:, None, :] * gap[:, :, None]  # (K, K, 2)
    dist = np.linalg.norm(start[None, :, :2] - predicted, axis=2) / size[:, None]
    sigma = center_sigma + 0.5 * max_speed * gap
    motion = np.exp(-0.5 * (dist / sigma) ** 2)
    area = np.abs(
        np.log(
            np.maximum(start[None, :, 2] * start[None, :, 3], 1e-9)
            / np.maximum(end[:, None, 2] * end[:, None, 3], 1e-9)
        )
    )
    allowed &= (dist <= 1 + max_speed * gap) & (area <= np.log(4.0))
    means = [t.mean_embedding for t in tracklets]
    if appearance_weight == 0 or any(m is None for m in means):
        return (
            scores  # motion alone already bridged what it can online: no links without appearance
        )
    unit = np.stack(means)
    appearance = calibration.normalise(unit @ unit.T)
    scores = (1 - appearance_weight) * motion + appearance_weight * appearance
    # appearance has a veto: good motion never links tracklets that look no more alike than two
    # different objects typically do in this scene
    return np.where(allowed & (appearance > 0), scores, 0.0)


def plan_refinement(
    summaries: dict[int, TrackletSummary],
    *,
    fps: float,
    config: RefineConfig | None = None,
    calibration: AppearanceCalibration | None = None,
    appearance_weight: float = 0.5,
    max_speed: float = 3.0,
    center_sigma: float = 0.5,
) -> Refinement:
    """Links tracklets, renumbers ids and drops short tracks (see the module docstring).

    Args:
        summaries: the tracker's summaries by key; tracks never confirmed (`track_id < 0`) are
            dropped.
        fps: frame rate of the processed stream.
        calibration: the tracker's appearance calibration (priors when None).
        appearance_weight: weight of appearance in the link score (the tracker's reliability-scaled
            weight); 0 links by motion alone.
        max_speed, center_sigma: the tracker's motion settings (box sizes per second; sizes).
    """
    config = config or RefineConfig()
    calibration = calibration or AppearanceCalibration()
    tracklets = sorted(
        (s for s in summaries.values() if s.track_id >= 0), key=lambda s: (s.first_frame, s.key)
    )
    plan = Refinement()
    if not tracklets:
        return plan
    scores = _link_scores(
        tracklets, fps, config, calibration, appearance_weight, max_speed, center_sigma
    )
    successor = np.full(len(tracklets), -1)
    rows, cols = linear_sum_assignment(
        np.where(scores >= config.link_threshold, scores, -1.0), maximize=True
    )
    for i, j in zip(rows, cols):
        if scores[i, j] >= config.link_threshold:
            successor[i] = j
            plan.links.append((tracklets[i].key, tracklets[j].key))
    has_predecessor = np.zeros(len(tracklets), bool)
    has_predecessor[successor[successor >= 0]] = True
    chains = []
    for head in np.flatnonzero(~has_predecessor):  # heads in order of first appearance
        chain, node = [], int(head)
        while node >= 0:
            chain.append(tracklets[node])
            node = int(successor[node])
        chains.append(chain)
    next_id = 0
    for chain in chains:
        if sum(t.hits for t in chain) < config.min_detections:
            continue
        for t in chain:
            plan.key_to_id[t.key] = next_id
        next_id += 1
    return plan


class Interpolator:
    """Fills gaps of at most `max_gap_frames` frames in each final track with linear boxes.

    A fill is known only once the track re-appears, after the gap, so the replay scans the
    detections twice: the first scan (`observe`, frames in order) records the fills, the second
    takes them frame by frame (`fills_for`). Memory is O(tracks + filled boxes).
    """

    def __init__(self, max_gap_frames: int) -> None:
        self.max_gap_frames = max_gap_frames
        self._last: dict[int, tuple[int, np.ndarray, float, int]] = {}
        self._fills: dict[int, list[tuple[int, np.ndarray, float, int]]] = {}

    def observe(
        self, frame_idx: int, track_id: int, xyxy: np.ndarray, score: float, class_id: int
    ) -> None:
        """Records a detection of a final track (frames in order)."""
        previous = self._last.get(track_id)
        if previous is not None:
            gap = frame_idx - previous[0]
            if 1 < gap <= self.max_gap_frames + 1:
                for step in range(1, gap):
                    w = step / gap
                    box = (1 - w) * previous[1] + w * xyxy
                    fill = (track_id, box, min(previous[2], score), previous[3])
                    self._fills.setdefault(previous[0] + step, []).append(fill)
        self._last[track_id] = (
            frame_idx,
            np.asarray(xyxy, dtype=np.float64),
            float(score),
            int(class_id),
        )

    def fills_for(self, frame_idx: int) -> list[tuple[int, np.ndarray, float, int]]:
        """The interpolated `(track_id, xyxy, score, class_id)` of a frame (each given once)."""
        return self._fills.pop(frame_idx, [])
