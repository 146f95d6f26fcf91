"""Batched detection under the per-frame pipeline: read a few frames ahead, detect them at once.

`masa.pipeline.track_frames` handles one frame at a time. `DetectAhead` sits between the frame
source and the pipeline: it reads `batch_size` frames, and the first `detect` call for them runs
the detector on the whole batch. Decoding stays charged to the pipeline's "decode" stage and the
batch's detector time to "detector"; at most `batch_size` frames are held in memory.

    >>> ahead = DetectAhead(open_frames("video.mp4"), detector, batch_size=8)
    >>> for result in track_frames(ahead, ahead.detect, adapter, tracker):
    ...     ...
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from masa.detectors.base import Detector
from masa.structures import Detections

__all__ = ["DetectAhead"]

#: Attributes of a `masa.io.FrameSource` passed through, so `DetectAhead` can stand in for one.
_SOURCE_ATTRIBUTES = ("name", "fps", "height", "width", "total_frames", "frame_indices", "path")


class DetectAhead:
    """Wraps a frame iterable and a batch detector into the pipeline's `frames` and `detect`.

    Args:
        frames: yields objects with `frame_idx` and `image` (uint8 `(H, W, 3)` RGB), e.g. a
            `masa.io.FrameSource`, whose attributes (`name`, `fps`, ...) are passed through.
        detector: any `Detector`.
        batch_size: frames per detector call (>= 1).

    Raises:
        ValueError: batch_size < 1.
    """

    def __init__(self, frames: Iterable[Any], detector: Detector, *, batch_size: int = 1) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, but got {batch_size}")
        self.frames = frames
        self.detector = detector
        self.batch_size = batch_size
        for name in _SOURCE_ATTRIBUTES:
            if hasattr(frames, name):
                setattr(self, name, getattr(frames, name))
        self._pending: list[Any] = []  # frames read but not yet detected
        self._results: dict[int, Detections] = {}

    @property
    def num_frames(self) -> int:
        """Number of frames the wrapped source yields."""
        return len(self.frames)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return self.num_frames

    @property
    def class_names(self) -> dict[int, str]:
        return self.detector.class_names

    def __iter__(self) -> Iterator[Any]:
        self._pending, self._results = [], {}
        iterator = iter(self.frames)
        while True:
            batch = [frame for _, frame in zip(range(self.batch_size), iterator)]
            if not batch:
                return
            self._pending = list(batch)
            yield from batch

    def detect(self, frame_idx: int, image: Any) -> Detections:
        """The pipeline's `detect`: the frame's detections, running the detector on the batch
        the frame belongs to when it has not run yet.

        Raises:
            RuntimeError: the frame was not read through this object's iterator.
        """
        if frame_idx not in self._results:
            pending = [frame for frame in self._pending if frame.frame_idx not in self._results]
            if not any(frame.frame_idx == frame_idx for frame in pending):
                raise RuntimeError(
                    f"frame {frame_idx} was not read through this DetectAhead; "
                    "iterate over it, not over the source"
                )
            detections = self.detector([frame.image for frame in pending])
            if len(detections) != len(pending):
                raise RuntimeError(
                    f"the detector returned {len(detections)} results for {len(pending)} frames"
                )
            self._results.update(
                {frame.frame_idx: dets for frame, dets in zip(pending, detections)}
            )
        return self._results.pop(frame_idx)
