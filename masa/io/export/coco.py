"""COCO-video JSON (mmdet CocoVID / TAO layout): boxes, and RLE segmentations where masks exist."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from masa.boxes import xyxy_to_xywh
from masa.io.export.tracks import class_label
from masa.io.mots import _JsonLinesWriter, mask_to_rle
from masa.io.writers import _tracked, output_track_ids
from masa.structures import Detections

__all__ = ["CocoVideoJsonWriter"]


class CocoVideoJsonWriter(_JsonLinesWriter):
    """Tracks as a COCO-video dataset dict, with RLE segmentations when the detections have masks.

    `{"videos": [{id: 1, name, width, height}], "images": [{id: frame_idx + 1, video_id: 1,
    frame_id: frame_idx, file_name, width, height}], "categories": [{id, name}], "annotations":
    [{id, image_id, video_id, category_id, track_id, instance_id, attributes: {track_id},
    bbox: [x, y, w, h], area, segmentation: RLE or [], score, iscrowd: 0}]}`. `track_id` and
    `instance_id` are the 1-based id of `output_track_ids` (the MOT txt's id), repeated in
    `attributes` where CVAT and datumaro look for it. `area` is the mask's pixel count, or the box
    area without masks (then `segmentation` is `[]`, as CVAT writes boxes). Every written frame is
    an image. `masa.io.read_coco_detections` reads it back.

    Args:
        path: destination `.json` file.
        video_name: the video's name.
        class_names: class id -> name for `categories`.
        width: frame width in pixels.
        height: frame height in pixels.
    """

    def __init__(
        self, path: str | Path, *, video_name: str, class_names: dict[int, str], width: int,
        height: int,
    ) -> None:
        super().__init__(path)
        self.video_name = video_name
        self.class_names = dict(class_names)
        self.width, self.height = width, height
        self._frames: list[int] = []
        self._categories: set[int] = set()


    def _write(self, frame_idx: int, detections: Detections, image: np.ndarray | None) -> None:
        tracked = _tracked(detections)
        masks = None if tracked.mask is None else tracked.mask.cpu().numpy()  # (N, H, W)
        self._frames.append(frame_idx)
        xywh = xyxy_to_xywh(tracked.xyxy.float()).cpu().tolist()  # (N, 4)
        for i, (tid, box, score, cid) in enumerate(
            zip(
                output_track_ids(tracked),
                xywh,
                tracked.confidence.tolist(),
                tracked.class_id.tolist(),
            )
        ):
            self._categories.add(cid)
            annotation = {
                "image_id": frame_idx + 1,
                "video_id": 1,
                "category_id": cid,
                "track_id": tid,
                "instance_id": tid,
                "attributes": {"track_id": tid},
                "bbox": [round(v, 2) for v in box],
                "area": round(box[2] * box[3], 2) if masks is None else int(masks[i].sum()),
                "segmentation": [] if masks is None else mask_to_rle(masks[i]),
                "score": round(score, 5),
                "iscrowd": 0,
            }
            self._lines.write(json.dumps(annotation) + "\n")

    def _finish(self) -> None:
        annotations = self._entries()
        for i, annotation in enumerate(annotations, start=1):
            annotation["id"] = i
        size = {"width": self.width, "height": self.height}
        dataset = {
            "videos": [{"id": 1, "name": self.video_name, **size}],
            "images": [
                {
                    "id": f + 1,
                    "video_id": 1,
                    "frame_id": f,
                    "file_name": f"{self.video_name}/{f + 1:06d}.jpg",
                    **size,
                }
                for f in self._frames
            ],
            "categories": [
                {"id": c, "name": class_label(self.class_names, c)}
                for c in sorted(self._categories | set(self.class_names))
            ],
            "annotations": annotations,
        }
        with open(self._tmp, "w", encoding="utf-8") as out:
            json.dump(dataset, out)
        self._lines_path.unlink()
