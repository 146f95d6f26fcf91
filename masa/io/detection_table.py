"""The in-memory table of a video's precomputed detections, shared by the file readers
(`masa.io.detections` for MOTChallenge txt, `masa.io.coco_detections` for COCO / TAO JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from masa.errors import InputError
from masa.structures import Detections

__all__ = ["DetectionTable", "MAX_MASK_PIXELS", "check_frames", "read_text"]

#: Largest mask read from a file, in pixels (8192 x 8192; an 8K UHD frame has 33 M).
MAX_MASK_PIXELS = 2**26


class DetectionTable:
    """All detections of one video, looked up per frame.

    Rows are kept as flat numpy arrays sorted by frame; `get` builds one frame's `Detections`.

    Args:
        frame_idx: int array `(N,)`, 0-based frame of each row.
        xyxy: float array `(N, 4)`, boxes `[x1, y1, x2, y2]` in pixels.
        confidence: float array `(N,)`.
        class_id: int array `(N,)`.
        class_names: class id -> name, covering every id in `class_id`.
        source_id: int array `(N,)` of identities from the file (ground-truth or tracker ids),
            exposed per frame as `Detections.data["source_id"]` (Tensor[n] int64); None if the
            file has none.
        rles: one COCO compressed RLE dict per row (`{"size": [H, W], "counts": bytes}`), decoded
            per frame to `Detections.mask`; None for box-only files.
        frame_base: how the file numbers frames (1 for MOT txt, 0 otherwise), used in messages.
    """

    def __init__(
        self,
        frame_idx: np.ndarray,
        xyxy: np.ndarray,
        confidence: np.ndarray,
        class_id: np.ndarray,
        class_names: dict[int, str],
        *,
        source_id: np.ndarray | None = None,
        rles: list[dict[str, Any]] | None = None,
        frame_base: int = 0,
    ) -> None:
        order = np.argsort(frame_idx, kind="stable")
        self._frame_idx = np.asarray(frame_idx, dtype=np.int64)[order]
        self._xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)[order]  # (N, 4)
        self._confidence = np.asarray(confidence, dtype=np.float32)[order]
        self._class_id = np.asarray(class_id, dtype=np.int64)[order]
        self._source_id = None if source_id is None else np.asarray(source_id, np.int64)[order]
        self._rles = None if rles is None else [rles[i] for i in order]
        self.class_names = dict(class_names)
        self.frame_base = frame_base
        frames, starts, counts = np.unique(self._frame_idx, return_index=True, return_counts=True)
        self._spans = {int(f): (int(s), int(s + c)) for f, s, c in zip(frames, starts, counts)}
        self.frame_indices: list[int] = [int(f) for f in frames]

    @property
    def num_detections(self) -> int:
        return int(self._frame_idx.shape[0])

    @property
    def max_frame_idx(self) -> int:
        """Largest 0-based frame index with a detection; -1 when the table is empty."""
        return self.frame_indices[-1] if self.frame_indices else -1

    @property
    def num_frames(self) -> int:
        """Frames the table spans from frame 0: `max_frame_idx + 1`."""
        return self.max_frame_idx + 1

    def get(self, frame_idx: int) -> Detections:
        """Detections of one 0-based frame (empty `Detections` for a frame without boxes).

        Returns:
            Detections with `xyxy` Tensor[n, 4] float32, `confidence`, `class_id`, optional
            `mask` Tensor[n, H, W] bool and optional `data["source_id"]` Tensor[n] int64.
        """
        lo, hi = self._spans.get(int(frame_idx), (0, 0))
        data = {}
        if self._source_id is not None:
            data["source_id"] = torch.from_numpy(self._source_id[lo:hi].copy())
        mask = None
        if self._rles is not None and hi > lo:
            from pycocotools import mask as mask_utils

            mask = mask_utils.decode(self._rles[lo:hi]).transpose(2, 0, 1).astype(bool)  # (n, H, W)
        return Detections.from_arrays(  # copies, so callers cannot edit the table in place
            self._xyxy[lo:hi].copy(),
            self._confidence[lo:hi].copy(),
            self._class_id[lo:hi].copy(),
            mask=mask,
            data=data,
        )

    def __repr__(self) -> str:
        return (
            f"DetectionTable(detections={self.num_detections}, frames={len(self.frame_indices)}, "
            f"max_frame_idx={self.max_frame_idx}, classes={len(self.class_names)})"
        )


def read_text(path: Path) -> str:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read as UTF-8 text ({e.__class__.__name__})") from e


def check_frames(table: DetectionTable, num_frames: int, path: str | Path) -> None:
    """Checks that every detection lies within a video of `num_frames` frames.

    Raises:
        InputError: naming `path` and the first frame past the end, numbered as in the file
            (1-based for MOT txt).
    """
    if table.max_frame_idx < num_frames:
        return
    first = next(f for f in table.frame_indices if f >= num_frames)
    base = table.frame_base
    unit = "frame" if base == 1 else "frame index"
    raise InputError(
        f"{path}: detections reference {unit} {first + base}, but the video has only {num_frames} "
        f"frames ({unit}s {base}..{num_frames - 1 + base})"
    )
