"""Tiny hand-made frames of tracked detections for the exporter tests."""

from __future__ import annotations

import numpy as np

from masa.structures import Detections


def dets(xyxy, tracker_id, class_id=None, confidence=None, mask=None) -> Detections:
    """Detections with `tracker_id` (tracker numbering, 0-based; -1 = untracked)."""
    n = len(tracker_id)
    extra = {} if mask is None else {"mask": np.asarray(mask, bool)}
    return Detections.from_arrays(
        np.asarray(xyxy, np.float32).reshape(n, 4),
        [0.5] * n if confidence is None else confidence,
        [0] * n if class_id is None else class_id,
        tracker_id=tracker_id,
        **extra,
    )


#: Three tracks over frames 0, 2, 4, 6, 8 (a stride of 2): tracker id 0 everywhere but frame 4,
#: tracker id 3 in frames 2-4 only, and an untracked box (-1) in frame 0.
STRIDED = [
    (0, dets([[0, 0, 10, 10], [50, 50, 60, 60]], [0, -1], class_id=[1, 1])),
    (2, dets([[2, 0, 12, 10], [20, 20, 40, 40]], [0, 3], class_id=[1, 2])),
    (4, dets([[30, 20, 50, 40]], [3], class_id=[2])),
    (6, dets([[6, 0, 16, 10]], [0], class_id=[2])),
    (8, dets([[8, 0, 18, 10]], [0], class_id=[1])),
]
