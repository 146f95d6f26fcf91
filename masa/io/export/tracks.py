"""Tracked boxes gathered frame by frame and handed back track by track, for the formats that group
boxes by track (CVAT for video, Label Studio video).

Rows are kept as one float64 array per written frame (8 numbers per box), so memory grows by about
64 bytes per box, plus one optional object per box (e.g. a CVAT polygon string).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from masa.io.writers import _tracked, output_track_ids
from masa.structures import Detections

__all__ = ["Track", "TrackRows", "class_label", "label_names"]

_FRAME, _ID, _CLASS, _SCORE = 0, 1, 2, 3  # columns of a row; 4:8 are x1, y1, x2, y2


@dataclass(frozen=True)
class Track:
    """One track's boxes in frame order.

    Attributes:
        track_id: the 1-based id of `masa.io.writers.output_track_ids` (the MOT txt's id).
        class_id: the track's most frequent class id (ties to the smallest id).
        frames: int64[M] 0-based frame indices, increasing.
        xyxy: float64[M, 4] boxes in pixels.
        scores: float64[M] detection scores.
        extras: the objects given to `TrackRows.add` for these boxes (None where none was given).
        next_frames: int64[M] the next processed frame after each box's frame, -1 after the last
            processed frame.
        pauses: bool[M] True where the track is absent from the next processed frame: the last box
            before a gap, and the track's last box.
    """

    track_id: int
    class_id: int
    frames: np.ndarray
    xyxy: np.ndarray
    scores: np.ndarray
    extras: list[Any]
    next_frames: np.ndarray
    pauses: np.ndarray


class TrackRows:
    """Collects the tracked detections of every written frame; `tracks()` regroups them by track."""

    def __init__(self) -> None:
        self._chunks: list[np.ndarray] = []
        self._extras: list[Any] = []
        self._frames: list[int] = []

    @property
    def frames(self) -> list[int]:
        """The 0-based indices of the frames added so far, in order."""
        return list(self._frames)

    @property
    def num_boxes(self) -> int:
        return len(self._extras)

    def video_length(self, total_frames: int | None) -> int:
        """`total_frames`, or for a source of unknown length (a live stream) the last added
        frame index + 1."""
        if total_frames is not None:
            return total_frames
        return self._frames[-1] + 1 if self._frames else 0

    def add(self, frame_idx: int, detections: Detections, extras: list[Any] | None = None) -> None:
        """Adds one frame's tracked detections (`tracker_id >= 0`; the others are skipped).

        Args:
            frame_idx: 0-based frame index; frames must come in increasing order.
            detections: the frame's detections with `tracker_id`.
            extras: one object per tracked detection (in `detections[tracker_id >= 0]` order),
                returned with the track.
        """
        if self._frames and frame_idx <= self._frames[-1]:
            raise ValueError(f"frames must increase, but got {frame_idx} after {self._frames[-1]}")
        tracked = _tracked(detections)
        n = len(tracked)
        if extras is not None and len(extras) != n:
            raise ValueError(f"extras must have {n} entries, but got {len(extras)}")
        self._frames.append(frame_idx)
        if n == 0:
            return
        rows = np.empty((n, 8), dtype=np.float64)  # (N, 8)
        rows[:, _FRAME] = frame_idx
        rows[:, _ID] = output_track_ids(tracked)
        rows[:, _CLASS] = tracked.class_id.cpu().numpy()
        rows[:, _SCORE] = tracked.confidence.float().cpu().numpy()
        rows[:, 4:8] = tracked.xyxy.double().cpu().numpy()
        self._chunks.append(rows)
        self._extras.extend(extras if extras is not None else [None] * n)

    def tracks(self) -> Iterator[Track]:
        """The tracks in increasing id order, each with its boxes in frame order."""
        if not self._chunks:
            return
        rows = np.concatenate(self._chunks)  # (R, 8)
        order = np.lexsort((rows[:, _FRAME], rows[:, _ID]))  # by id, then frame
        rows = rows[order]
        processed = np.asarray(self._frames, dtype=np.int64)
        ids = rows[:, _ID].astype(np.int64)
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        for start, stop in zip(starts, np.r_[starts[1:], len(rows)]):
            block = rows[start:stop]
            frames = block[:, _FRAME].astype(np.int64)
            after = np.searchsorted(processed, frames, side="right")  # index of the next frame
            next_frames = np.where(
                after < len(processed), processed[np.minimum(after, len(processed) - 1)], -1
            )
            present_next = np.r_[frames[1:] == next_frames[:-1], False]
            classes, counts = np.unique(block[:, _CLASS].astype(np.int64), return_counts=True)
            majority = int(classes[np.argmax(counts)])  # np.unique sorts: ties go to the smallest
            yield Track(
                track_id=int(ids[start]),
                class_id=majority,
                frames=frames,
                xyxy=block[:, 4:8],
                scores=block[:, _SCORE],
                extras=[self._extras[i] for i in order[start:stop]],
                next_frames=next_frames,
                pauses=~present_next,
            )


def class_label(class_names: dict[int, str], class_id: int) -> str:
    """The label every export shows for a class: its name, else the id as text."""
    return class_names.get(class_id, str(class_id))


def label_names(class_names: dict[int, str], class_ids: set[int]) -> list[str]:
    """The labels a labeling tool's project must define: every named class and every class
    seen, in class-id order, each label once."""
    return list(
        dict.fromkeys(class_label(class_names, c) for c in sorted(set(class_names) | class_ids))
    )
