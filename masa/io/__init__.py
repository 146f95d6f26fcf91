"""Input and output at the edges of the pipeline: frames in, detections in, results out.

Only this package sees BGR pixels and 1-based frame numbers.
"""

from __future__ import annotations

from masa.io.detections import (
    MOT_CLASS_NAMES,
    DetectionTable,
    check_frames,
    read_coco_detections,
    read_detections,
    read_mot_detections,
)
from masa.io.video import DamagedFrameWarning, Frame, FrameSource, natural_key, open_frames
from masa.io.writers import MotTxtWriter, OverlayVideoWriter, TaoJsonWriter

__all__ = [
    "MOT_CLASS_NAMES",
    "DamagedFrameWarning",
    "DetectionTable",
    "Frame",
    "FrameSource",
    "MotTxtWriter",
    "OverlayVideoWriter",
    "TaoJsonWriter",
    "check_frames",
    "natural_key",
    "open_frames",
    "read_coco_detections",
    "read_detections",
    "read_mot_detections",
]
