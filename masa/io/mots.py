"""Mask outputs: MOTS results JSON (scalabel frames with RLE) and per-frame PNG id maps. All
atomic, like `masa.io.writers`. (COCO-video JSON, with masks or boxes, is `masa.io.export.coco`.)

RLE is COCO's (pycocotools), `{"size": [H, W], "counts": str}`. pycocotools needs a
Fortran-ordered uint8 `(H, W)` array and returns `counts` as bytes; both are handled here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from masa.io.atomic_folder import AtomicFolderWriter
from masa.io.writers import _AtomicWriter, _temp_path, _tracked, output_track_ids
from masa.structures import Detections

__all__ = ["mask_to_rle", "rle_to_mask", "MotsJsonWriter", "IdMapPngWriter"]


def mask_to_rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO RLE of one binary mask.

    Args:
        mask (np.ndarray[H, W] bool or uint8).

    Returns:
        `{"size": [H, W], "counts": str}` (JSON-ready).
    """
    from pycocotools import mask as mask_utils

    if mask.ndim != 2:
        raise ValueError(f"mask must have shape (H, W), but got shape {mask.shape}")
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))  # (H, W) Fortran order
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def rle_to_mask(rle: dict[str, Any]) -> np.ndarray:
    """Inverse of `mask_to_rle`: `np.ndarray[H, W]` bool."""
    from pycocotools import mask as mask_utils

    counts = rle["counts"]
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    encoded = {"size": list(rle["size"]), "counts": counts}
    return mask_utils.decode(encoded).astype(bool)


def _masked(detections: Detections) -> tuple[Detections, np.ndarray]:
    """Tracked detections and their masks as numpy `(N, H, W)` bool."""
    tracked = _tracked(detections)
    if tracked.mask is None:
        raise ValueError("detections must have masks to be written as segmentations")
    return tracked, tracked.mask.cpu().numpy()


class _JsonLinesWriter(_AtomicWriter):
    """Streams one JSON object per line to a temp file; `_finish` assembles the final JSON."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self._lines_path = _temp_path(self.path, suffix=".jsonl")
        self._lines: IO[str] = open(self._lines_path, "w", encoding="utf-8")

    def _entries(self) -> list[Any]:
        self._lines.close()
        with open(self._lines_path, encoding="utf-8") as lines:
            return [json.loads(line) for line in lines]

    def _discard(self) -> None:
        self._lines.close()
        self._lines_path.unlink(missing_ok=True)


class MotsJsonWriter(_JsonLinesWriter):
    """MOTS results as scalabel frames, the format MASA writes for BDD MOTS (SPEC §6.4).

    A JSON list with one entry per written frame, empty frames included:
    `{"name": "<video>-<frame_idx + 1:07d>.jpg", "videoName", "frameIndex": frame_idx (0-based),
    "labels": [{"id": str(track_id), "score", "category", "box2d": {x1, y1, x2, y2},
    "rle": {"size": [H, W], "counts": str}}]}` with the 1-based track id of `output_track_ids`.
    Only tracked detections with a non-empty mask are labels (MOTS has no empty instances).

    Args:
        path: destination `.json` file.
        video_name: the video's name.
        class_names: class id -> category name (`str(id)` when missing).
    """

    def __init__(self, path: str | Path, *, video_name: str, class_names: dict[int, str]) -> None:
        super().__init__(path)
        self.video_name = video_name
        self.class_names = dict(class_names)


    def _write(self, frame_idx: int, detections: Detections, image: np.ndarray | None) -> None:
        tracked, masks = _masked(detections)
        labels = []
        for i, (tid, box, score, cid) in enumerate(zip(
            output_track_ids(tracked), tracked.xyxy.tolist(), tracked.confidence.tolist(),
            tracked.class_id.tolist(),
        )):
            if not masks[i].any():
                continue
            labels.append({
                "id": str(tid), "score": round(score, 5), "category": self.class_names.get(cid, str(cid)),
                "box2d": dict(zip(("x1", "y1", "x2", "y2"), (round(v, 2) for v in box))),
                "rle": mask_to_rle(masks[i]),
            })
        entry = {"name": f"{self.video_name}-{frame_idx + 1:07d}.jpg", "videoName": self.video_name,
                 "frameIndex": frame_idx, "labels": labels}
        self._lines.write(json.dumps(entry) + "\n")

    def _finish(self) -> None:
        entries = self._entries()
        with open(self._tmp, "w", encoding="utf-8") as out:
            json.dump(entries, out)
        self._lines_path.unlink()


class IdMapPngWriter(AtomicFolderWriter):
    """Per-frame PNG id maps: `<folder>/<frame_idx:06d>.png`, uint16, pixel = the 1-based track id
    of `output_track_ids` (0 = background). Where masks overlap, the higher-scoring one wins.

    The PNGs go to a hidden temporary folder beside `folder`, renamed over it on `close()` (an
    existing `folder` is replaced); on an error inside `with` or `abort()` nothing is kept.

    Args:
        folder: destination folder.
        width: frame width in pixels.
        height: frame height in pixels.
    """

    def __init__(self, folder: str | Path, *, width: int, height: int) -> None:
        super().__init__(folder)
        self.width, self.height = width, height


    def _write(self, frame_idx: int, detections: Detections, image: np.ndarray | None) -> None:
        """Writes the id map of one frame (masks Tensor[N, H, W] bool of tracked detections)."""
        tracked, masks = _masked(detections)
        if masks.shape[1:] != (self.height, self.width):
            raise ValueError(f"masks must be ({self.height}, {self.width}), but got {masks.shape[1:]}")
        ids = np.zeros((self.height, self.width), dtype=np.uint16)
        track_ids = output_track_ids(tracked)
        order = np.argsort(tracked.confidence.cpu().numpy(), kind="stable")  # low score first
        for i in order.tolist():
            ids[masks[i]] = track_ids[i]
        if not cv2.imwrite(str(self._tmp / f"{frame_idx:06d}.png"), ids):
            raise OSError(f"cannot write {self._tmp / f'{frame_idx:06d}.png'}")
