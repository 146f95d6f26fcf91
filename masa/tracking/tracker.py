"""The official MASA trackers, `MasaTaoTracker` and `MasaBddTracker`, and their preset builders.

Reference: siyuanliii/masa `masa/models/tracker/masa_tao_tracker.py` and
`masa/models/tracker/masa_bdd_tracker.py` (`track`, `update`); SPEC §4.2 and §4.3. Outputs match
the official trackers exactly on the parity fixture `trackers.json`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from masa.structures import Detections
from masa.tracking.matching import (
    MATCH_METRICS,
    SUPPRESSED,
    UNMATCHED,
    bisoftmax_scores,
    cosine_scores,
    distance_gate,
    greedy_assign,
    similarity_scores,
    suppress_overlaps,
)
from masa.tracking.memory import BackdropMemory, TrackMemory

__all__ = [
    "MasaTaoTracker",
    "MasaBddTracker",
    "build_tao_tracker_test",
    "build_tao_tracker_demo",
    "build_bdd_tracker",
    "memory_frames_from_seconds",
]


class MasaTaoTracker:
    """MASA's TAO tracker: bi-softmax + cosine appearance matching with a momentum memory.

    Per frame: sort by confidence, drop low-score distractors, greedily match against the live
    tracks on `(bisoftmax + cosine) / 2` (times a distance gate when `max_distance` is set), start
    new tracks, update the memory and forget tracks unseen for `memory_frames` frames. There is no
    category gating (the official `with_cats` is unused in this tracker).

    Args:
        init_score_threshold: a detection that matched nothing starts a new track only when its
            score is above this. Raising it gives fewer spurious tracks from false positives but
            misses or delays faint objects; lowering it tracks more objects but more clutter.
            Unmatched detections at or below it are dropped from the output.
        obj_score_threshold: a detection must score above this to take an existing track's id.
            Raising it stops weak detections hijacking tracks but breaks tracks through low-score
            frames (occlusion, blur); lowering it keeps tracks alive longer with more risk of
            switches onto background boxes.
        match_score_threshold: the match score a detection-track pair must exceed. Raising it gives
            fewer identity switches but more fragmentation (new ids for the same object); lowering
            it links more aggressively, switching ids between look-alikes more often.
        memory_frames: frames a track survives unseen. Larger values re-identify objects after
            longer occlusions but keep more stale tracks to confuse matching (and cost more);
            smaller values forget faster and fragment across gaps.
        new_embed_weight: weight of the new embedding in the momentum update (the official
            `memo_momentum`; 0.8 = 80% new). Higher adapts faster to appearance change but drifts
            more easily after one bad match; lower is more stable but slower to adapt.
        distractor_score_threshold: detections scoring below this are candidates for distractor
            removal. Raising it removes more overlapping boxes (fewer duplicate tracks, but
            occluded objects next to a stronger box vanish); lowering it keeps more of them.
        distractor_iou_threshold: a candidate is dropped when its IoU with any higher-scored box
            exceeds this. Lowering it removes more boxes in crowds; raising it removes only
            near-duplicates.
        max_distance: radius in pixels for the soft distance gate, or None for no gate. Smaller
            values forbid long jumps (fewer switches between distant look-alikes, but fast motion
            and low frame rates break tracks); larger values constrain matching less.
        fps: frame rate of the video; used only by the distance gate, which widens over time at a
            rate set by `fps / 6` and decays over `100 / fps` pixels outside the radius.

    Raises:
        ValueError: on a weight outside [0, 1], negative frame counts, a non-positive `fps` or a
            negative `max_distance` (use None to disable the gate, the official -1).
    """

    def __init__(
        self,
        *,
        init_score_threshold: float = 0.8,
        obj_score_threshold: float = 0.5,
        match_score_threshold: float = 0.5,
        memory_frames: int = 10,
        new_embed_weight: float = 0.8,
        distractor_score_threshold: float = 0.5,
        distractor_iou_threshold: float = 0.3,
        max_distance: float | None = None,
        fps: float = 1.0,
    ) -> None:
        _check_memory_settings(memory_frames, new_embed_weight)
        if max_distance is not None and max_distance < 0:
            raise ValueError(
                f"max_distance must be >= 0 or None (no distance gate), but got {max_distance}"
            )
        if fps <= 0:
            raise ValueError(f"fps must be > 0, but got {fps}")
        self.init_score_threshold = init_score_threshold
        self.obj_score_threshold = obj_score_threshold
        self.match_score_threshold = match_score_threshold
        self.memory_frames = memory_frames
        self.new_embed_weight = new_embed_weight
        self.distractor_score_threshold = distractor_score_threshold
        self.distractor_iou_threshold = distractor_iou_threshold
        self.max_distance = max_distance
        self.fps = fps
        self.reset()

    def reset(self) -> None:
        """Forgets all tracks and restarts ids at 0 (call between videos)."""
        self._tracks = TrackMemory.empty()
        self._next_id = 0

    def update(self, detections: Detections, frame_idx: int) -> Detections:
        """Tracks one frame.

        Args:
            detections: this frame's detections; `xyxy` in original image pixels and `embedding`
                `Tensor[N, D]` raw (unnormalised) track-head output.
            frame_idx: 0-based frame index. Gaps are allowed and age the tracks; as officially,
                an empty frame returns at once and prunes nothing.

        Returns:
            The tracked detections, sorted by descending confidence, with `tracker_id`
            `Tensor[M] int64` set; masks, embeddings and `data` are carried along.

        Raises:
            ValueError: if `detections` is not empty and `detections.embedding` is missing.
        """
        if len(detections) == 0:
            return _no_tracks(detections)
        dets = _sort_by_confidence(detections)
        is_distractor = dets.confidence < self.distractor_score_threshold
        iou_limits = _where(is_distractor, self.distractor_iou_threshold, math.inf)
        dets = dets[suppress_overlaps(dets.xyxy, iou_limits)]

        ids = self._match(dets, frame_idx)
        ids, self._next_id = _start_tracks(ids, dets, self.init_score_threshold, self._next_id)
        tracked = _remember(self._tracks, dets, ids, frame_idx, self.new_embed_weight)
        self._tracks.prune(frame_idx, self.memory_frames)
        return dets[tracked].replace(tracker_id=ids[tracked])

    def _match(self, dets: Detections, frame_idx: int) -> Tensor:
        """Track ids for `dets` (sorted), UNMATCHED where none; `Tensor[N] int64`."""
        ids = torch.full((len(dets),), UNMATCHED, dtype=torch.int64, device=dets.xyxy.device)
        if len(self._tracks) == 0:
            return ids
        memo = self._tracks
        bisoftmax = bisoftmax_scores(dets.embedding, memo.embeds)  # (N, T)
        det_trk_scores = (bisoftmax + cosine_scores(dets.embedding, memo.embeds)) / 2  # (N, T)
        if self.max_distance is not None:
            det_trk_scores = det_trk_scores * distance_gate(
                dets.xyxy, memo.xyxy, frame_idx, memo.last_frame, self.max_distance, self.fps
            )  # (N, T)
        assigned = greedy_assign(
            det_trk_scores,
            dets.confidence,
            match_score_threshold=self.match_score_threshold,
            obj_score_threshold=self.obj_score_threshold,
        )
        matched = assigned >= 0
        ids[matched] = memo.ids[assigned[matched]]
        return ids


class MasaBddTracker:
    """MASA's BDD tracker: appearance matching against live tracks and recent backdrops.

    Per frame: sort by confidence, remove duplicates, greedily match against the live tracks plus
    backdrops (unmatched low-score boxes of recent frames, which absorb matches but never give an
    id), suppress low-score boxes that confidently match a track, start new tracks, keep this
    frame's leftovers as backdrops and forget tracks unseen for `memory_frames` frames.

    Args:
        init_score_threshold: an unmatched detection starts a new track only above this. Raising
            it gives fewer false tracks but misses faint objects; lowering it the reverse.
        obj_score_threshold: a detection must score above this to take a track's id; below it a
            confident match suppresses the detection instead. It also picks the duplicate-removal
            IoU limit. Raising it breaks tracks through weak frames; lowering it lets weak boxes
            take (and possibly steal) ids.
        match_score_threshold: the match score a detection-track pair must exceed. Raising it
            gives fewer identity switches but more fragmentation; lowering it the reverse.
        memory_frames: frames a track survives unseen. Longer re-identifies across longer gaps but
            keeps more stale tracks; shorter fragments across gaps.
        backdrop_frames: how many recent non-empty frames' backdrops are kept. More backdrops soak
            up more false matches (fewer spurious id transfers) but can also absorb true objects.
        new_embed_weight: weight of the new embedding in the momentum update (the official
            `memo_momentum`; 0.8 = 80% new). Higher adapts faster; lower is more stable.
        nms_conf_threshold: a low-score detection whose match score exceeds this (and the match
            threshold) is suppressed rather than kept as a backdrop. Lowering it suppresses more
            weak duplicates of tracked objects; with the shipped values (below
            `match_score_threshold`) it has no effect.
        backdrop_iou_threshold: IoU limit for removing low-score duplicates and for new backdrops.
            Lowering it removes more overlapping weak boxes (cleaner, but occluded objects may be
            lost); raising it keeps more.
        class_iou_threshold: IoU limit for removing high-score duplicates. Lowering it removes
            more overlapping confident boxes (fewer double tracks, but crowded objects merge);
            raising it keeps more.
        match_metric: 'bisoftmax' (default), 'softmax' (over tracks only) or 'cosine'.
        with_cats: if True, a detection can only match memory entries of its own class; this
            avoids cross-class switches but breaks tracks when the detector flips classes.

    Raises:
        ValueError: on an unknown `match_metric`, a weight outside [0, 1] or negative frame counts.
    """

    def __init__(
        self,
        *,
        init_score_threshold: float = 0.8,
        obj_score_threshold: float = 0.5,
        match_score_threshold: float = 0.5,
        memory_frames: int = 10,
        backdrop_frames: int = 1,
        new_embed_weight: float = 0.8,
        nms_conf_threshold: float = 0.5,
        backdrop_iou_threshold: float = 0.3,
        class_iou_threshold: float = 0.7,
        match_metric: str = "bisoftmax",
        with_cats: bool = False,
    ) -> None:
        _check_memory_settings(memory_frames, new_embed_weight)
        if backdrop_frames < 0:
            raise ValueError(f"backdrop_frames must be >= 0, but got {backdrop_frames}")
        if match_metric not in MATCH_METRICS:
            raise ValueError(
                f"match_metric must be one of {MATCH_METRICS}, but got {match_metric!r}"
            )
        self.init_score_threshold = init_score_threshold
        self.obj_score_threshold = obj_score_threshold
        self.match_score_threshold = match_score_threshold
        self.memory_frames = memory_frames
        self.backdrop_frames = backdrop_frames
        self.new_embed_weight = new_embed_weight
        self.nms_conf_threshold = nms_conf_threshold
        self.backdrop_iou_threshold = backdrop_iou_threshold
        self.class_iou_threshold = class_iou_threshold
        self.match_metric = match_metric
        self.with_cats = with_cats
        self.reset()

    def reset(self) -> None:
        """Forgets all tracks and backdrops and restarts ids at 0 (call between videos)."""
        self._tracks = TrackMemory.empty()
        self._backdrops = BackdropMemory.empty()
        self._next_id = 0

    def update(self, detections: Detections, frame_idx: int) -> Detections:
        """Tracks one frame.

        Args:
            detections: as for `MasaTaoTracker.update` (raw `embedding` required).
            frame_idx: 0-based frame index.

        Returns:
            The tracked detections in descending confidence with `tracker_id` `Tensor[M] int64`.

        Raises:
            ValueError: if `detections` is not empty and `detections.embedding` is missing.
        """
        if len(detections) == 0:
            return _no_tracks(detections)
        dets = _sort_by_confidence(detections)
        is_weak = dets.confidence < self.obj_score_threshold
        iou_limits = _where(is_weak, self.backdrop_iou_threshold, self.class_iou_threshold)
        dets = dets[suppress_overlaps(dets.xyxy, iou_limits)]

        ids = self._match(dets)
        ids, self._next_id = _start_tracks(ids, dets, self.init_score_threshold, self._next_id)
        tracked = _remember(self._tracks, dets, ids, frame_idx, self.new_embed_weight)
        # Leftovers (not tracked, not suppressed) become backdrops unless they overlap any
        # earlier-ranked box of this frame.
        leftover = ids == UNMATCHED
        backdrop_limits = _where(leftover, self.backdrop_iou_threshold, math.inf)
        new_backdrop = leftover & suppress_overlaps(dets.xyxy, backdrop_limits)
        bd_xyxy, bd_embeds = dets.xyxy[new_backdrop], dets.embedding[new_backdrop]
        self._backdrops.push(bd_xyxy, bd_embeds, dets.class_id[new_backdrop], self.backdrop_frames)
        self._tracks.prune(frame_idx, self.memory_frames)
        return dets[tracked].replace(tracker_id=ids[tracked])

    def _match(self, dets: Detections) -> Tensor:
        """Track ids for `dets` (sorted): UNMATCHED or SUPPRESSED where none; `Tensor[N] int64`."""
        ids = torch.full((len(dets),), UNMATCHED, dtype=torch.int64, device=dets.xyxy.device)
        # As officially, matching needs a live track (backdrops alone don't count).
        if len(self._tracks) == 0:
            return ids
        memo_embeds, memo_class_id = self._tracks.embeds, self._tracks.class_id
        if len(self._backdrops) > 0:
            memo_embeds = torch.cat([memo_embeds, self._backdrops.embeds])  # (T + B, D)
            memo_class_id = torch.cat([memo_class_id, self._backdrops.class_id])  # (T + B,)
        memo_is_track = torch.arange(len(memo_embeds), device=ids.device) < len(self._tracks)
        det_memo_scores = similarity_scores(dets.embedding, memo_embeds, self.match_metric)
        if self.with_cats:
            same_class = dets.class_id[:, None] == memo_class_id[None, :]  # (N, T + B)
            det_memo_scores = det_memo_scores * same_class.float()
        assigned = greedy_assign(
            det_memo_scores,
            dets.confidence,
            match_score_threshold=self.match_score_threshold,
            obj_score_threshold=self.obj_score_threshold,
            memo_is_track=memo_is_track,
            suppress_score_threshold=self.nms_conf_threshold,
        )
        matched = assigned >= 0
        ids[matched] = self._tracks.ids[assigned[matched]]
        ids[assigned == SUPPRESSED] = SUPPRESSED
        return ids


def build_tao_tracker_test(**overrides: float | int | None) -> MasaTaoTracker:
    """The tracker of the official TAO benchmark configs (SPEC §4.2, column "TAO test").

    Args:
        **overrides: any `MasaTaoTracker` keyword, replacing the preset value.
    """
    settings = dict(
        init_score_threshold=1e-4, obj_score_threshold=1e-4, match_score_threshold=0.5,
        memory_frames=10, new_embed_weight=0.8,
        distractor_score_threshold=0.5, distractor_iou_threshold=0.3,
        max_distance=None, fps=1,
    )  # fmt: skip
    return MasaTaoTracker(**{**settings, **overrides})


def build_tao_tracker_demo(**overrides: float | int | None) -> MasaTaoTracker:
    """The tracker of the official demo configs, with the distance gate (SPEC §4.2, column "demo").

    Args:
        **overrides: any `MasaTaoTracker` keyword, replacing the preset value (e.g. `fps`).
    """
    settings = dict(
        init_score_threshold=0.1, obj_score_threshold=0.01, match_score_threshold=0.5,
        memory_frames=10, new_embed_weight=0.8,
        distractor_score_threshold=0.5, distractor_iou_threshold=0.3,
        max_distance=100, fps=30,
    )  # fmt: skip
    return MasaTaoTracker(**{**settings, **overrides})


def build_bdd_tracker(**overrides: float | int | str | bool) -> MasaBddTracker:
    """The tracker of the official BDD100K configs (SPEC §4.3, column "BDD config").

    Args:
        **overrides: any `MasaBddTracker` keyword, replacing the preset value.
    """
    settings = dict(
        init_score_threshold=0.5, obj_score_threshold=0.3, match_score_threshold=0.6,
        memory_frames=10, backdrop_frames=1, new_embed_weight=0.8,
        nms_conf_threshold=0.5, backdrop_iou_threshold=0.3, class_iou_threshold=0.7,
        match_metric="bisoftmax", with_cats=False,
    )  # fmt: skip
    return MasaBddTracker(**{**settings, **overrides})


def memory_frames_from_seconds(seconds: float, fps: float) -> int:
    """Converts a memory span in seconds to frames, rounding up, at least 1.

    Raises:
        ValueError: if `seconds` is negative or `fps` is not positive.
    """
    if seconds < 0:
        raise ValueError(f"seconds must be >= 0, but got {seconds}")
    if fps <= 0:
        raise ValueError(f"fps must be > 0, but got {fps}")
    return max(1, math.ceil(seconds * fps))


def _check_memory_settings(memory_frames: int, new_embed_weight: float) -> None:
    if memory_frames < 0:
        raise ValueError(f"memory_frames must be >= 0, but got {memory_frames}")
    if not 0.0 <= new_embed_weight <= 1.0:
        raise ValueError(f"new_embed_weight must be in [0, 1], but got {new_embed_weight}")


def _no_tracks(detections: Detections) -> Detections:
    """The (empty) input with an empty int64 `tracker_id`."""
    no_ids = torch.zeros((0,), dtype=torch.int64, device=detections.xyxy.device)
    return detections.replace(tracker_id=no_ids)


def _sort_by_confidence(detections: Detections) -> Detections:
    if detections.embedding is None:
        raise ValueError("detections.embedding must be a Tensor[N, D] of raw embeddings, not None")
    # Official: `scores.sort(descending=True)` (not stable; ties are unordered).
    _, order = torch.sort(detections.confidence, descending=True)
    return detections[order]


def _where(condition: Tensor, value_true: float, value_false: float) -> Tensor:
    """`Tensor[N]` float32 holding `value_true` where `condition`, else `value_false`."""
    values = torch.full(condition.shape, value_false, device=condition.device)
    return values.masked_fill(condition, value_true)


def _start_tracks(
    ids: Tensor, dets: Detections, init_score_threshold: float, next_id: int
) -> tuple[Tensor, int]:
    """Gives fresh ids, in order, to the unmatched detections scoring above the threshold."""
    new = (ids == UNMATCHED) & (dets.confidence > init_score_threshold)
    num_new = int(new.sum())
    ids = ids.clone()
    ids[new] = torch.arange(next_id, next_id + num_new, dtype=torch.int64, device=ids.device)
    return ids, next_id + num_new


def _remember(
    tracks: TrackMemory, dets: Detections, ids: Tensor, frame_idx: int, new_embed_weight: float
) -> Tensor:
    """Writes the detections with an id into `tracks`; returns that `Tensor[N]` bool selection."""
    tracked = ids > UNMATCHED
    xyxy, embeds = dets.xyxy[tracked], dets.embedding[tracked]
    class_id, confidence = dets.class_id[tracked], dets.confidence[tracked]
    tracks.update(ids[tracked], xyxy, embeds, class_id, confidence, frame_idx, new_embed_weight)
    return tracked
