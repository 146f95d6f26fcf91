"""Files that labeling and training tools open: CVAT for video, Label Studio, YOLO, COCO-video.

Each exporter is a writer like those of `masa.io.writers`: `write(frame_idx, detections, image)`
per frame, a context manager, atomic (a temporary file or folder renamed into place on `close()`,
deleted on an error). Every one shows a track under the 1-based id of
`masa.io.writers.output_track_ids`, the MOT txt's id.
"""

from __future__ import annotations

from masa.io.export.coco import CocoVideoJsonWriter
from masa.io.export.cvat import CvatVideoXmlWriter
from masa.io.export.labelstudio import LabelStudioVideoWriter
from masa.io.export.yolo import YoloDatasetWriter

__all__ = [
    "CocoVideoJsonWriter",
    "CvatVideoXmlWriter",
    "LabelStudioVideoWriter",
    "YoloDatasetWriter",
]
