"""Label Studio video object tracking: tasks JSON with the tracks as predictions, and the labeling
config they belong to.

Writes `NAME.labelstudio.json`, a list with one task,

    [{"data": {"video": URL},
      "predictions": [{"model_version": "masa", "score": s, "result": [
        {"id": "1", "from_name": "box", "to_name": "video", "type": "videorectangle", "score": s,
         "value": {"framesCount": F, "duration": F / fps, "labels": ["car"], "sequence": [
           {"frame": 1, "time": 0.0, "x": .., "y": .., "width": .., "height": .., "rotation": 0,
            "enabled": true}, ...]}}]}]}]

and `NAME.labelstudio.xml`, the labeling config (`<Labels name="videoLabels">`, `<Video
name="video" framerate=fps>`, `<VideoRectangle name="box">`) to paste into the project's Labeling
Interface. One result per track, `id` its 1-based track id; `frame` is 1-based (Label Studio's
numbering, `frame_idx + 1`), `time` = `frame_idx / fps`, boxes in percent of the frame, clipped to
it. Every written box is a keyframe; `enabled` is false on a track's last box before a frame where
it is absent and on its very last box, so Label Studio does not interpolate across the gap.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

from masa.io.export.tracks import Track, TrackRows, class_label, label_names
from masa.io.writers import _AtomicWriter, _temp_path
from masa.structures import Detections

__all__ = ["LabelStudioVideoWriter", "label_config"]

FROM_NAME, TO_NAME, LABELS_NAME = "box", "video", "videoLabels"


def label_config(labels: list[str], fps: float) -> str:
    """The Label Studio labeling config for video object tracking with these labels.

    Args:
        labels: label names (the `<Label value>`s).
        fps: the video's frame rate (Label Studio assumes 24 without it and then misplaces frames).
    """
    items = "".join(f"\n    <Label value={quoteattr(name)}/>" for name in labels)
    return (
        f'<View>\n  <Labels name="{LABELS_NAME}" toName="{TO_NAME}" allowEmpty="true">{items}\n'
        f'  </Labels>\n  <Video name="{TO_NAME}" value="${TO_NAME}" framerate="{fps:g}"/>\n'
        f'  <VideoRectangle name="{FROM_NAME}" toName="{TO_NAME}"/>\n</View>\n'
    )


class LabelStudioVideoWriter(_AtomicWriter):
    """Writes tracks as Label Studio video predictions plus their labeling config.

    Boxes are gathered while running; `close()` writes both files (each through a temporary file).
    A track's label is its most frequent class; scores are mean detection scores.

    Args:
        path: destination tasks `.json`; the config goes beside it with the suffix `.xml`.
        video_url: the task's `data.video`, where Label Studio finds the video (e.g.
            `/data/local-files/?d=clip.mp4`).
        class_names: class id -> label name; every name is a `<Label>`, plus `str(id)` for a class
            without one.
        width: frame width in pixels.
        height: frame height in pixels.
        fps: the video's frame rate.
        total_frames: frames in the whole video (`framesCount`); None (a live source): up to the
            last written frame.
        model_version: the predictions' `model_version`.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        video_url: str,
        class_names: dict[int, str],
        width: int,
        height: int,
        fps: float,
        total_frames: int | None,
        model_version: str = "masa",
    ) -> None:
        if not fps > 0 or width < 1 or height < 1:
            raise ValueError(f"fps, width, height must be > 0, but got {fps}, {width}, {height}")
        super().__init__(path)
        self.config_path = self.path.with_suffix(".xml")
        self.video_url = video_url
        self.class_names = dict(class_names)
        self.width, self.height, self.fps, self.total_frames = width, height, fps, total_frames
        self.model_version = model_version
        self._rows = TrackRows()
        self._config_tmp: Path | None = None


    def _write(self, frame_idx: int, detections: Detections, image: np.ndarray | None) -> None:
        self._rows.add(frame_idx, detections)

    def _region(self, track: Track) -> dict:
        size = np.array([self.width, self.height, self.width, self.height], dtype=np.float64)
        xyxy = np.clip(track.xyxy / size, 0.0, 1.0) * 100  # (M, 4) percent of the frame
        count = self._rows.video_length(self.total_frames)
        sequence = [
            {
                "frame": frame + 1,
                "time": round(frame / self.fps, 6),
                "x": round(x1, 4),
                "y": round(y1, 4),
                "width": round(x2 - x1, 4),
                "height": round(y2 - y1, 4),
                "rotation": 0,
                "enabled": not bool(pause),
            }
            for frame, (x1, y1, x2, y2), pause in zip(
                track.frames.tolist(), xyxy.tolist(), track.pauses
            )
        ]
        return {
            "id": str(track.track_id),
            "from_name": FROM_NAME,
            "to_name": TO_NAME,
            "type": "videorectangle",
            "score": round(float(track.scores.mean()), 5),
            "value": {
                "framesCount": count,
                "duration": round(count / self.fps, 6),
                "labels": [class_label(self.class_names, track.class_id)],
                "sequence": sequence,
            },
        }

    def _finish(self) -> None:
        tracks = list(self._rows.tracks())
        scores = [float(s) for t in tracks for s in t.scores]
        prediction = {
            "model_version": self.model_version,
            "score": round(sum(scores) / len(scores), 5) if scores else 0.0,
            "result": [self._region(t) for t in tracks],
        }
        with open(self._tmp, "w", encoding="utf-8") as out:
            json.dump([{"data": {TO_NAME: self.video_url}, "predictions": [prediction]}], out)
        labels = label_names(self.class_names, {t.class_id for t in tracks})
        self._config_tmp = _temp_path(self.config_path)
        self._config_tmp.write_text(label_config(labels, self.fps), encoding="utf-8")

    def _commit(self) -> None:  # both files move into place only once every output is finished
        super()._commit()
        os.replace(self._config_tmp, self.config_path)
        self._config_tmp = None

    def _discard(self) -> None:
        if self._config_tmp is not None:
            self._config_tmp.unlink(missing_ok=True)
