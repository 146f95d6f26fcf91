"""`MasaTracker` (`--tracker masa`): Kalman motion fused with MASA appearance, in stages.

Per frame (times in seconds, sizes relative to boxes; settings in `MasaTrackerConfig`):

1. every track is predicted to this frame by a constant-velocity Kalman filter (optionally after
   compensating camera motion);
2. high-score detections are matched (Hungarian) to the confirmed tracks seen within
   `motion_memory` on a fused similarity: motion (IoU with the predicted box, or a centre-distance
   similarity in box sizes for small and fast objects) plus appearance (cosine against the track's
   momentum memory and its whole-life mean) weighted by how reliable appearance has proved in
   this scene (`AppearanceCalibration`);
3. low-score detections may continue tracks seen in the previous frame that they overlap
   (ByteTrack's second stage);
4. remaining high-score detections continue tentative tracks by motion;
5. remaining high-score detections re-identify lost tracks (up to `reid_memory`) by appearance,
   against each track's mean embedding over its whole life, inside a speed gate;
6. the rest start tentative tracks, which get an id after `min_hits` consecutive detections.

Tracks are forgotten by time, on every call, empty frames included.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from masa.structures import Detections
from masa.tracking.appearance import AppearanceCalibration, unit_rows
from masa.tracking.config import MasaTrackerConfig
from masa.tracking.kalman import REFERENCE_FPS, KalmanBoxFilter, cxcywh_to_xyxy, xyxy_to_cxcywh
from masa.tracking.refine import RefineConfig, Refinement, plan_refinement
from masa.tracking.tracks import CONFIRMED, TENTATIVE, TrackletSummary, TrackTable

__all__ = ["MasaTracker", "box_iou_np", "motion_similarity"]


def box_iou_np(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of `(N, 4)` and `(M, 4)` xyxy boxes, `(N, M)`."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def motion_similarity(det_xyxy: np.ndarray, pred_xyxy: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """`(N, T)` motion similarity in [0, 1]: the IoU, or, where it is larger, half of
    `exp(-d^2 / 2 sigma^2)`, with `d` the centre distance in sizes of the predicted box (sqrt of
    its area) and `sigma` `(T,)` the allowed spread in sizes; 0 where the areas differ by more
    than 4x. The centre term lets small or fast objects whose boxes do not overlap match, but
    never outweighs a good overlap (halved, it tops out at 0.5), so neighbours in a crowd do not
    take each other's tracks."""
    iou = box_iou_np(det_xyxy, pred_xyxy)
    det, pred = xyxy_to_cxcywh(det_xyxy), xyxy_to_cxcywh(pred_xyxy)
    size = np.sqrt(np.maximum(pred[:, 2] * pred[:, 3], 1e-9))  # (T,)
    dist = np.linalg.norm(det[:, None, :2] - pred[None, :, :2], axis=2) / size[None, :]
    centre = np.exp(-0.5 * (dist / np.maximum(sigma, 1e-6)[None, :]) ** 2)
    area_ratio = np.abs(
        np.log(
            np.maximum(det[:, None, 2] * det[:, None, 3], 1e-9)
            / np.maximum(pred[None, :, 2] * pred[None, :, 3], 1e-9)
        )
    )
    sim = np.maximum(iou, 0.5 * centre)  # overlap is stronger evidence than proximity
    return np.where(area_ratio <= np.log(4.0), sim, 0.0)


def _assign(similarity: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Maximum-similarity one-to-one pairs `(row, col)` with similarity >= threshold."""
    if similarity.size == 0:
        return []
    rows, cols = linear_sum_assignment(
        np.where(similarity >= threshold, similarity, -1.0), maximize=True
    )
    return [(int(r), int(c)) for r, c in zip(rows, cols) if similarity[r, c] >= threshold]


class MasaTracker:
    """Online multi-object tracker fusing Kalman motion with MASA appearance.

    Args:
        config: thresholds (`MasaTrackerConfig`); defaults when None.
        fps: frame rate of the frame indices passed to `update` (the video's own rate, whatever
            the stride): converts frame-index differences into seconds for the settings and the
            Kalman filter's time step.
    """

    def __init__(self, config: MasaTrackerConfig | None = None, *, fps: float = 30.0) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be > 0, but got {fps}")
        self.config = config or MasaTrackerConfig()
        self.fps = fps
        self.kalman = KalmanBoxFilter()
        self.uses_image = self.config.camera_motion
        self.reset()

    def reset(self) -> None:
        """Forgets every track; ids restart at 0 (call between videos)."""
        self.tracks = TrackTable()
        self.calibration = AppearanceCalibration()
        self._summaries: dict[int, TrackletSummary] = {}
        self._next_key = 0
        self._next_id = 0
        self._frame: int | None = None  # frame index of the last update
        self._previous: int | None = None  # and of the one before (processed frames, any stride)
        self._cmc = None
        if self.config.camera_motion:
            from masa.tracking.cmc import CameraMotion

            self._cmc = CameraMotion()

    @property
    def summaries(self) -> dict[int, TrackletSummary]:
        """Per-track summaries by internal key (every track so far, tentative ones included)."""
        return self._summaries

    def refinement_plan(self, config: RefineConfig | None = None) -> Refinement:
        """The offline refinement of everything tracked so far (see `masa.tracking.refine`)."""
        return plan_refinement(
            self._summaries,
            fps=self.fps,
            config=config,
            calibration=self.calibration,
            appearance_weight=self._appearance_weight(),
            max_speed=self.config.max_speed,
            center_sigma=self.config.center_sigma,
        )

    def update(
        self, detections: Detections, frame_idx: int, image: np.ndarray | None = None
    ) -> Detections:
        """Tracks one frame.

        Args:
            detections: the frame's detections (`embedding` optional: without it, or with
                all-zero embeddings, matching uses motion only).
            frame_idx: 0-based frame index; gaps are allowed (time passes for the tracks).
            image: the frame (RGB uint8), used only with `camera_motion`.

        Returns:
            The detections that belong to a track, in input order, with `tracker_id` (-1 while
            the track is tentative) and `data["track_key"]` (the internal key of every track).
        """
        self._advance(frame_idx, image)
        if len(detections) == 0:
            self._drop_unmatched_tentative(np.zeros(0, np.int64))
            return _with_ids(
                detections, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
            )
        xyxy = detections.xyxy.detach().cpu().double().numpy()
        score = detections.confidence.detach().cpu().double().numpy()
        class_id = detections.class_id.detach().cpu().numpy()
        embeds = None
        if detections.embedding is not None and detections.embedding.shape[1] > 0:
            embeds = unit_rows(detections.embedding.detach().cpu().double().numpy())
            if not np.any(embeds):
                embeds = None
        rows = self._associate(frame_idx, xyxy, score, embeds)  # detection -> track row, -1 none
        matched = np.flatnonzero(rows >= 0)
        self._update_tracks(
            frame_idx,
            rows[matched],
            xyxy[matched],
            score[matched],
            class_id[matched],
            None if embeds is None else embeds[matched],
        )
        keys = np.full(len(detections), -1, np.int64)
        keys[matched] = self.tracks.keys[rows[matched]]
        self._drop_unmatched_tentative(rows[matched])
        new = np.flatnonzero(
            (rows < 0)
            & (score > self.config.init_score_threshold)
            & (score >= self.config.high_score_threshold)
        )
        self._start_tracks(
            frame_idx, xyxy[new], score[new], class_id[new], None if embeds is None else embeds[new]
        )
        if len(new):
            keys[new] = self.tracks.keys[-len(new) :]
        keep = np.flatnonzero(keys >= 0)
        ids = np.array([self._summaries[k].track_id for k in keys[keep]], dtype=np.int64)
        return _with_ids(detections, keep, ids, keys[keep])

    # -- time -------------------------------------------------------------------------------
    def _advance(self, frame_idx: int, image: np.ndarray | None) -> None:
        """Predicts every track to `frame_idx` and forgets tracks lost for too long."""
        steps = 0 if self._frame is None else frame_idx - self._frame
        self._previous, self._frame = self._frame, frame_idx
        t = self.tracks
        if self._cmc is not None and image is not None:
            t.mean, t.cov = self._cmc.apply(image, t.mean, t.cov)
        if len(t) and steps > 0:
            t.mean, t.cov = self.kalman.predict(t.mean, t.cov, steps * REFERENCE_FPS / self.fps)
            t.mean[:, 2:4] = np.maximum(t.mean[:, 2:4], 1.0)  # a box never shrinks below a pixel
        lost = self._lost_seconds(frame_idx)
        limit = self.config.motion_memory + self.config.reid_memory
        t.keep((lost <= limit + 1e-9) | (t.state == TENTATIVE))

    def _lost_seconds(self, frame_idx: int) -> np.ndarray:
        """Seconds since each track's last detection."""
        return (frame_idx - self.tracks.last_frame) / self.fps

    # -- association ------------------------------------------------------------------------
    def _associate(
        self, frame_idx: int, xyxy: np.ndarray, score: np.ndarray, embeds: np.ndarray | None
    ) -> np.ndarray:
        cfg, t = self.config, self.tracks
        rows = np.full(len(xyxy), -1, np.int64)
        free_tracks = np.ones(len(t), bool)
        lost = self._lost_seconds(frame_idx)
        # seconds since the previous processed frame (a stride or skipped frames make it longer)
        previous = frame_idx - 1 if self._previous is None else self._previous
        frame_step = (frame_idx - previous) / self.fps + 1e-9
        pred = cxcywh_to_xyxy(t.mean[:, :4])
        confirmed = t.state == CONFIRMED
        high = score >= cfg.high_score_threshold
        low = (score >= cfg.low_score_threshold) & ~high

        def match(
            det_mask: np.ndarray, track_mask: np.ndarray, similarity_fn, threshold: float
        ) -> None:
            dets = np.flatnonzero(det_mask & (rows < 0))
            trks = np.flatnonzero(track_mask & free_tracks)
            if len(dets) == 0 or len(trks) == 0:
                return
            for i, j in _assign(similarity_fn(dets, trks), threshold):
                rows[dets[i]], free_tracks[trks[j]] = trks[j], False

        # stage 1: sure boxes against recently seen confirmed tracks, motion + appearance
        recent = confirmed & (lost <= cfg.motion_memory + frame_step)
        match(
            high,
            recent,
            lambda d, k: self._fused(xyxy[d], pred[k], lost[k], embeds, d, k),
            cfg.match_threshold,
        )
        if embeds is not None:
            self._calibrate(xyxy, pred, embeds, rows, recent & (lost <= frame_step))
        # stage 2: weak boxes continue tracks seen in the previous frame (ByteTrack)
        just_seen = confirmed & (lost <= frame_step)
        match(low, just_seen, lambda d, k: box_iou_np(xyxy[d], pred[k]), cfg.low_match_iou)
        # stage 3: tentative tracks by motion; a newcomer's velocity is not known yet, so its next box
        # may be up to about a box size further than the centre spread allows
        sigma = np.full(len(t), cfg.center_sigma + 1.0)
        match(
            high,
            t.state == TENTATIVE,
            lambda d, k: motion_similarity(xyxy[d], pred[k], sigma[k]),
            cfg.match_threshold,
        )
        # stage 4: re-identification of lost tracks by their whole-life appearance, speed-gated
        if embeds is not None and cfg.appearance_weight > 0:
            match(
                high,
                confirmed & (lost > frame_step),
                lambda d, k: self._reid(xyxy[d], embeds[d], k, lost[k]),
                cfg.reid_threshold,
            )
        return rows

    def _appearance_weight(self) -> float:
        """`appearance_weight`, scaled by the scene's measured reliability: none at d' <= 1, full
        at d' >= 3."""
        return self.config.appearance_weight * float(
            np.clip((self.calibration.reliability - 1) / 2, 0, 1)
        )

    def _frame_motion(self, trks: np.ndarray) -> np.ndarray:
        """How far each track moves per frame index, in its box sizes (Kalman velocity)."""
        mean = self.tracks.mean[trks]
        size = np.sqrt(np.maximum(mean[:, 2] * mean[:, 3], 1e-9))
        return np.linalg.norm(mean[:, 4:6], axis=1) * (REFERENCE_FPS / self.fps) / size

    def _fused(self, det_xyxy, pred_xyxy, lost, embeds, dets, trks) -> np.ndarray:
        cfg = self.config
        # the spread grows with the track's speed (a fast mover's turn misses the prediction by
        # more) and with the time since it was seen
        step = (
            self._frame - (self._frame - 1 if self._previous is None else self._previous)
        ) / self.fps
        sigma = (
            cfg.center_sigma
            + 0.5 * self._frame_motion(trks) * step * self.fps
            + 0.5 * cfg.max_speed * np.maximum(lost - step, 0)
        )
        motion = motion_similarity(det_xyxy, pred_xyxy, sigma)
        weight = self._appearance_weight()
        if embeds is None or weight == 0 or self.tracks.embeds.shape[1] != embeds.shape[1]:
            return motion
        # short-term (momentum memory) and long-term (mean over the track's life) appearance agree
        means = np.stack([self._summaries[int(k)].mean_embedding for k in self.tracks.keys[trks]])
        similarity = (embeds[dets] @ self.tracks.embeds[trks].T + embeds[dets] @ means.T) / 2
        appearance = self.calibration.normalise(similarity)
        return np.where(motion > 0.05, (1 - weight) * motion + weight * appearance, 0.0)

    def _reid(self, det_xyxy, det_embeds, trks, lost) -> np.ndarray:
        """Calibrated appearance similarity of detections to lost tracks' mean embeddings, zero
        outside the speed gate (centre within `(1 + max_speed * lost)` sizes of the last box)."""
        if self._appearance_weight() == 0:
            return np.zeros((len(det_xyxy), len(trks)))
        summaries = [self._summaries[k] for k in self.tracks.keys[trks]]
        means = np.stack([s.mean_embedding for s in summaries])
        if means.shape[1] != det_embeds.shape[1]:
            return np.zeros((len(det_xyxy), len(trks)))
        appearance = self.calibration.normalise(det_embeds @ means.T)
        last = xyxy_to_cxcywh(np.stack([s.last_xyxy for s in summaries]))
        det = xyxy_to_cxcywh(det_xyxy)
        size = np.sqrt(np.maximum(last[:, 2] * last[:, 3], 1e-9))
        dist = np.linalg.norm(det[:, None, :2] - last[None, :, :2], axis=2) / size[None, :]
        return np.where(dist <= 1 + self.config.max_speed * lost[None, :], appearance, 0.0)

    def _calibrate(self, xyxy, pred, embeds, rows, active) -> None:
        """Feeds the appearance calibration with sure pairs of this frame (see its docstring)."""
        t = self.tracks
        if t.embeds.shape[1] != embeds.shape[1] or not active.any():
            return
        act = np.flatnonzero(active)
        iou = box_iou_np(xyxy, pred[act])  # (N, A)
        sims = embeds @ t.embeds[act].T
        same, different = [], []
        for i in np.flatnonzero(rows >= 0):
            if rows[i] not in act:
                continue
            col = int(np.flatnonzero(act == rows[i])[0])
            if iou[i, col] >= 0.5 and (iou[i] > 0.1).sum() == 1:
                same.append(sims[i, col])
                different.extend(np.delete(sims[i], col).tolist())
        self.calibration.observe("same", np.array(same))
        self.calibration.observe("different", np.array(different))

    # -- bookkeeping ------------------------------------------------------------------------
    def _update_tracks(self, frame_idx, rows, xyxy, score, class_id, embeds) -> None:
        t = self.tracks
        if len(rows) == 0:
            return
        measured = xyxy_to_cxcywh(xyxy)
        # a track's second detection gives its velocity directly (observation-centric start): the
        # filter's slow velocity adaptation would otherwise lose fast movers before it learns them
        second = (t.hits[rows] == 1) & (t.last_frame[rows] < frame_idx)
        if second.any():
            r = rows[second]
            dt = (frame_idx - t.last_frame[r]) * REFERENCE_FPS / self.fps
            t.mean[r, 4:6] = (measured[second, :2] - t.mean[r, :2]) / dt[:, None]
            t.mean[r, :2] = measured[second, :2]  # predicted on with the velocity just learnt
        t.mean[rows], t.cov[rows] = self.kalman.update(t.mean[rows], t.cov[rows], measured)
        if embeds is not None and t.embeds.shape[1] == embeds.shape[1]:
            w = self.config.new_embed_weight
            t.embeds[rows] = unit_rows((1 - w) * t.embeds[rows] + w * embeds)
        consecutive = t.last_frame[rows] >= (
            frame_idx - 1 if self._previous is None else self._previous
        )
        t.hits[rows] = np.where(consecutive | (t.state[rows] == CONFIRMED), t.hits[rows] + 1, 1)
        t.last_frame[rows], t.confidence[rows], t.class_id[rows] = frame_idx, score, class_id
        promote = rows[(t.state[rows] == TENTATIVE) & (t.hits[rows] >= self.config.min_hits)]
        for row in promote:
            t.state[row], t.ids[row] = CONFIRMED, self._next_id
            self._summaries[int(t.keys[row])].track_id = self._next_id
            self._next_id += 1
        for k, row in enumerate(rows):
            self._summarise(
                int(t.keys[row]),
                frame_idx,
                xyxy[k],
                t.mean[row],
                class_id[k],
                None if embeds is None else embeds[k],
            )

    def _start_tracks(self, frame_idx, xyxy, score, class_id, embeds) -> None:
        n = len(xyxy)
        if n == 0:
            return
        mean, cov = self.kalman.initiate(xyxy_to_cxcywh(xyxy))
        keys = np.arange(self._next_key, self._next_key + n)
        self._next_key += n
        confirmed = self.config.min_hits <= 1
        ids = np.arange(self._next_id, self._next_id + n) if confirmed else np.full(n, -1)
        self._next_id += n if confirmed else 0
        dim = embeds.shape[1] if embeds is not None else self.tracks.embeds.shape[1]
        self.tracks.append(
            keys=keys,
            ids=ids,
            state=np.full(n, CONFIRMED if confirmed else TENTATIVE),
            mean=mean,
            cov=cov,
            embeds=embeds if embeds is not None else np.zeros((n, dim)),
            last_frame=np.full(n, frame_idx),
            hits=np.ones(n),
            class_id=class_id,
            confidence=score,
        )
        for k in range(n):
            v = np.zeros(2)
            self._summaries[int(keys[k])] = TrackletSummary(
                key=int(keys[k]),
                track_id=int(ids[k]),
                first_frame=frame_idx,
                last_frame=frame_idx,
                first_xyxy=xyxy[k].copy(),
                last_xyxy=xyxy[k].copy(),
                first_velocity=v,
                last_velocity=v,
                embed_sum=None if embeds is None else embeds[k].copy(),
                class_votes={int(class_id[k]): 1},
            )

    def _summarise(self, key, frame_idx, xyxy, mean, class_id, embed) -> None:
        s = self._summaries[key]
        velocity = mean[4:6] * REFERENCE_FPS  # pixels per second
        if s.hits == 1:
            s.first_velocity = velocity
        s.last_frame, s.last_xyxy, s.last_velocity, s.hits = (
            frame_idx,
            xyxy.copy(),
            velocity,
            s.hits + 1,
        )
        s.class_votes[int(class_id)] = s.class_votes.get(int(class_id), 0) + 1
        if embed is not None:
            s.embed_sum = embed.copy() if s.embed_sum is None else s.embed_sum + embed

    def _drop_unmatched_tentative(self, matched_rows: np.ndarray) -> None:
        """Tentative tracks must be detected in consecutive frames: the unmatched ones go."""
        t = self.tracks
        keep = t.state != TENTATIVE
        keep[matched_rows] = True
        for key in t.keys[~keep]:
            self._summaries.pop(int(key), None)
        t.keep(keep)


def _with_ids(
    detections: Detections, keep: np.ndarray, ids: np.ndarray, keys: np.ndarray
) -> Detections:
    index = torch.as_tensor(keep, dtype=torch.int64, device=detections.xyxy.device)
    kept = detections[index]
    data = dict(kept.data)
    data["track_key"] = torch.as_tensor(keys, dtype=torch.int64)
    return kept.replace(
        tracker_id=torch.as_tensor(ids, dtype=torch.int64, device=detections.xyxy.device), data=data
    )
