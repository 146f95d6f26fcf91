"""The state of `MasaTracker`'s tracks as stacked numpy arrays (one row per track), and the
per-track summaries kept for offline refinement (O(tracks) memory, not O(frames))."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["TrackTable", "TrackletSummary", "TENTATIVE", "CONFIRMED"]

TENTATIVE, CONFIRMED = 0, 1


@dataclass
class TrackletSummary:
    """What refinement needs to know of one track, updated as the run goes.

    Attributes:
        key: internal track key (every track has one, tentative or not).
        track_id: public id once confirmed, else -1.
        first_frame, last_frame: 0-based frames of the first and last detection.
        first_xyxy, last_xyxy: boxes there.
        first_velocity, last_velocity: Kalman `[vcx, vcy]` in pixels per second at those ends.
        embed_sum: sum of the unit embeddings of its detections (its mean is the tracklet's
            appearance; averaged over many frames, far steadier than one frame's embedding).
        hits: detections in the track.
        class_votes: detections per class id.
    """

    key: int
    track_id: int
    first_frame: int
    last_frame: int
    first_xyxy: np.ndarray
    last_xyxy: np.ndarray
    first_velocity: np.ndarray
    last_velocity: np.ndarray
    embed_sum: np.ndarray | None
    hits: int = 1
    class_votes: dict[int, int] = field(default_factory=dict)

    @property
    def mean_embedding(self) -> np.ndarray | None:
        """Unit mean of the track's unit embeddings, or None without appearance."""
        if self.embed_sum is None:
            return None
        return self.embed_sum / max(float(np.linalg.norm(self.embed_sum)), 1e-12)


@dataclass
class TrackTable:
    """Live tracks (tentative, active and lost), one row per track.

    Attributes:
        keys (T,) int64: internal keys; ids (T,) int64: public ids (-1 while tentative).
        state (T,) int8: TENTATIVE or CONFIRMED.
        mean (T, 8), cov (T, 8, 8): Kalman state (see `masa.tracking.kalman`).
        embeds (T, D): momentum memory of unit embeddings (frame-to-frame appearance).
        last_frame (T,) int64: frame of the last detection; hits (T,) int64: detections so far.
        class_id (T,) int64, confidence (T,) float64: of the last detection.
    """

    keys: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    state: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    mean: np.ndarray = field(default_factory=lambda: np.zeros((0, 8)))
    cov: np.ndarray = field(default_factory=lambda: np.zeros((0, 8, 8)))
    embeds: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    last_frame: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    hits: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    class_id: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    confidence: np.ndarray = field(default_factory=lambda: np.zeros(0))

    _FIELDS = (
        "keys",
        "ids",
        "state",
        "mean",
        "cov",
        "embeds",
        "last_frame",
        "hits",
        "class_id",
        "confidence",
    )

    def __len__(self) -> int:
        return int(self.keys.shape[0])

    def keep(self, mask: np.ndarray) -> None:
        """Keeps the rows where `mask` is true."""
        for name in self._FIELDS:
            setattr(self, name, getattr(self, name)[mask])

    def append(self, **rows: np.ndarray) -> None:
        """Adds rows (every field given, with a leading dimension of the new count)."""
        empty = len(self) == 0
        for name in self._FIELDS:
            old, new = getattr(self, name), rows[name]
            if name == "embeds" and old.shape[1] != new.shape[1] and empty:
                old = np.zeros((0, new.shape[1]))
            setattr(self, name, np.concatenate([old, new.astype(old.dtype, copy=False)]))
