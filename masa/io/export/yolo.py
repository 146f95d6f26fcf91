"""Ultralytics YOLO detection dataset: a label file per frame, a `data.yaml`, optionally the frames.

Layout of the output folder (`NAME_yolo/`):

    data.yaml                         train/val: images/train, names: {0: car, ...}
    labels/train/NAME_000001.txt      `class cx cy w h` per box, normalised to [0, 1] (5 columns)
    tracks/train/NAME_000001.txt      `class cx cy w h conf track_id`, the same boxes in the same
                                      order with score and 1-based track id (the layout of
                                      Ultralytics' `track` results with `save_txt`, `save_conf`)
    images/train/NAME_000001.jpg      the frame, with `save_frames`

File names carry the 1-based frame number (`frame_idx + 1`). Every written frame gets a label file,
empty when nothing is tracked (a background image). Track ids live in `tracks/` because a sixth
column in `labels/` makes Ultralytics training reject the file. Classes are renumbered 0..K-1 in
the order of their ids (named classes first, then others as they appear). Boxes are clipped to the
frame, as Ultralytics requires coordinates in [0, 1].
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from masa.io.atomic_folder import AtomicFolderWriter
from masa.io.export.tracks import class_label
from masa.io.writers import _tracked, output_track_ids
from masa.structures import Detections

__all__ = ["YoloDatasetWriter"]

SUBSET = "train"


class YoloDatasetWriter(AtomicFolderWriter):
    """Writes tracks as an Ultralytics YOLO dataset folder (see the module docstring).

    Args:
        folder: destination folder (replaced if it exists).
        video_name: prefix of the file names.
        class_names: class id -> name, for `names` in `data.yaml`.
        width: frame width in pixels.
        height: frame height in pixels.
        save_frames: also write each frame as `images/train/NAME_NNNNNN.jpg` (JPEG quality 95).
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        video_name: str,
        class_names: dict[int, str],
        width: int,
        height: int,
        save_frames: bool = False,
    ) -> None:
        if width < 1 or height < 1:
            raise ValueError(f"width, height must be > 0, but got {width}, {height}")
        super().__init__(folder)
        self.video_name = video_name
        self.class_names = dict(class_names)
        self.width, self.height = width, height
        self.save_frames = save_frames
        self._index = {class_id: i for i, class_id in enumerate(sorted(self.class_names))}
        for sub in ("labels", "tracks", "images") if save_frames else ("labels", "tracks"):
            (self._tmp / sub / SUBSET).mkdir(parents=True)


    def _class_index(self, class_id: int) -> int:
        return self._index.setdefault(class_id, len(self._index))

    def _write(self, frame_idx: int, detections: Detections, image: np.ndarray | None) -> None:
        stem = f"{self.video_name}_{frame_idx + 1:06d}"
        tracked = _tracked(detections)
        size = np.array([self.width, self.height, self.width, self.height], dtype=np.float64)
        xyxy = np.clip(tracked.xyxy.double().cpu().numpy() / size, 0.0, 1.0)  # (N, 4) normalised
        cxcywh = np.concatenate(
            [(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], axis=1
        )
        labels, tracks = [], []
        for cid, box, score, tid in zip(
            tracked.class_id.tolist(),
            cxcywh.tolist(),
            tracked.confidence.tolist(),
            output_track_ids(tracked),
        ):
            line = f"{self._class_index(cid)} " + " ".join(f"{v:.6f}" for v in box)
            labels.append(line + "\n")
            tracks.append(f"{line} {score:.4f} {tid}\n")
        (self._tmp / "labels" / SUBSET / f"{stem}.txt").write_text("".join(labels))
        (self._tmp / "tracks" / SUBSET / f"{stem}.txt").write_text("".join(tracks))
        if self.save_frames:
            if image is None or image.shape != (self.height, self.width, 3):
                got = None if image is None else image.shape
                raise ValueError(
                    f"save_frames needs the frame, uint8 ({self.height}, {self.width}, 3); "
                    f"got {got}"
                )
            path = self._tmp / "images" / SUBSET / f"{stem}.jpg"
            bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
            if not cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, 95]):
                raise OSError(f"cannot write {path}")

    def _finish(self) -> None:
        names = {i: class_label(self.class_names, c) for c, i in self._index.items()}
        lines = [
            f"# YOLO detection dataset of {json.dumps(self.video_name)} written by masa;",
            f"# track ids: tracks/{SUBSET}/*.txt (class cx cy w h conf track_id)",
            f"train: images/{SUBSET}",
            f"val: images/{SUBSET}",
            f"nc: {len(names)}",
            "names:",
            *(f"  {i}: {json.dumps(name)}" for i, name in sorted(names.items())),
        ]
        (self._tmp / "data.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
