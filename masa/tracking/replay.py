"""Replays a spooled tracking pass with the refinement plan applied: final ids, dropped tracks,
tentative detections written back, and interpolated boxes in short gaps."""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
import torch

from masa.structures import Detections
from masa.tracking.refine import Interpolator, Refinement

__all__ = ["refined_frames"]


def _relabel(detections: Detections, plan: Refinement) -> Detections:
    keys = detections.data.get("track_key")
    if keys is None:
        return detections
    ids = torch.tensor([plan.final_id(k) for k in keys.tolist()], dtype=torch.int64)
    return detections.replace(tracker_id=ids)[ids >= 0]


def refined_frames(
    spooled: Iterable[tuple[int, Detections]], plan: Refinement, *, interpolate_frames: int
) -> Iterator[tuple[int, Detections]]:
    """Yields `(frame_idx, detections)` of the refined tracks, frame by frame.

    Args:
        spooled: re-iterable `(frame_idx, detections)` with `data["track_key"]` (a `DetectionSpool`);
            it is read twice (the first read finds the gaps to fill).
        plan: from `plan_refinement`.
        interpolate_frames: longest gap, in processed frames, filled with interpolated boxes
            (0: none). Frames with masks get no interpolated boxes (a mask cannot be guessed).
    """
    interpolator = Interpolator(interpolate_frames)
    if interpolate_frames > 0:
        for frame_idx, detections in spooled:
            kept = _relabel(detections, plan)
            for box, score, cls, track_id in zip(
                kept.xyxy.numpy(),
                kept.confidence.tolist(),
                kept.class_id.tolist(),
                kept.tracker_id.tolist(),
            ):
                interpolator.observe(frame_idx, track_id, box, score, cls)
    for frame_idx, detections in spooled:
        kept = _relabel(detections, plan)
        fills = interpolator.fills_for(frame_idx)
        if fills and kept.mask is None:
            filled = Detections(
                xyxy=torch.from_numpy(np.stack([f[1] for f in fills])).float(),
                confidence=torch.tensor([f[2] for f in fills], dtype=torch.float32),
                class_id=torch.tensor([f[3] for f in fills], dtype=torch.int64),
                tracker_id=torch.tensor([f[0] for f in fills], dtype=torch.int64),
                data={"track_key": torch.full((len(fills),), -1, dtype=torch.int64)},
            )
            kept = Detections.cat([kept, filled])
        yield frame_idx, kept
