"""A spool of per-frame tracking results on disk, so a run can be refined and rewritten at the end
without holding every frame's detections in memory.

Each frame is appended as a few `.npy` records (numpy's own format, read back with
`allow_pickle=False`: nothing in the file is ever executed): boxes, scores, classes, ids, track
keys and, when present, bit-packed masks. The file is hidden in the output folder and removed when
the spool closes.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np
import torch

from masa.io.writers import _temp_path
from masa.structures import Detections

__all__ = ["DetectionSpool"]


class DetectionSpool:
    """Append-then-read-back storage of `(frame_idx, Detections)`.

    Args:
        folder: where the hidden spool file lives (the run's output folder).
        name: used in the file name.
    """

    def __init__(self, folder: Path, name: str) -> None:
        # a writers' temporary name, so a rerun after a killed run removes it too
        self.path = _temp_path(Path(folder) / f"{name}.spool")
        self._file: BinaryIO | None = None
        self.frames = 0

    def __enter__(self) -> DetectionSpool:
        self._file = open(self.path, "w+b")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes and deletes the spool file."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self.path.unlink(missing_ok=True)

    def append(self, frame_idx: int, detections: Detections) -> None:
        """Stores one frame's tracked detections (`tracker_id` and `data["track_key"]` used when
        present; embeddings are not stored)."""
        assert self._file is not None, "use the spool as a context manager"
        n = len(detections)
        keys = detections.data.get("track_key")
        ids = detections.tracker_id
        header = np.array([frame_idx, n, 0 if detections.mask is None else 1], dtype=np.int64)
        records = [
            header,
            detections.xyxy.detach().cpu().float().numpy(),
            detections.confidence.detach().cpu().float().numpy(),
            detections.class_id.detach().cpu().numpy().astype(np.int64),
            (ids.cpu().numpy() if ids is not None else np.full(n, -1)).astype(np.int64),
            (torch.as_tensor(keys).cpu().numpy() if keys is not None else np.full(n, -1)).astype(
                np.int64
            ),
        ]
        if detections.mask is not None:
            mask = detections.mask.detach().cpu().numpy().astype(bool)
            records += [
                np.array(mask.shape, dtype=np.int64),
                np.packbits(mask.reshape(n, mask.shape[1] * mask.shape[2]), axis=1),
            ]
        for record in records:
            np.save(self._file, record, allow_pickle=False)
        self.frames += 1

    def __iter__(self) -> Iterator[tuple[int, Detections]]:
        """Reads every frame back in the order written (can be repeated)."""
        assert self._file is not None, "use the spool as a context manager"
        self._file.flush()
        end = self._file.tell()
        self._file.seek(0)
        try:
            while self._file.tell() < end:
                yield self._read_frame()
        finally:
            if self._file is not None:  # a reader abandoned after the spool closed needs nothing
                self._file.seek(end)

    def _read_frame(self) -> tuple[int, Detections]:
        def load() -> np.ndarray:
            return np.load(self._file, allow_pickle=False)

        frame_idx, n, has_mask = (int(v) for v in load())
        xyxy, confidence, class_id, ids, keys = load(), load(), load(), load(), load()
        mask = None
        if has_mask:
            shape = tuple(int(v) for v in load())
            bits = load()
            mask = torch.from_numpy(
                np.unpackbits(bits, axis=1, count=shape[1] * shape[2]).reshape(shape).astype(bool)
            )
        detections = Detections(
            xyxy=torch.from_numpy(xyxy).reshape(n, 4),
            confidence=torch.from_numpy(confidence),
            class_id=torch.from_numpy(class_id),
            mask=mask,
            tracker_id=torch.from_numpy(ids),
            data={"track_key": torch.from_numpy(keys)},
        )
        return frame_idx, detections
