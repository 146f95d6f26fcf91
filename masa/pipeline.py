"""The tracking loop: frames -> detections -> embeddings -> identities. No file I/O here.

Every stage is a plain call, so any one of them can be replaced:

    frames   : iterable of `Frame(frame_idx, image)` (image uint8 (H, W, 3) RGB)
    detect   : (frame_idx, image) -> Detections      (boxes in frame pixels)
    embedder : .embed(image, xyxy) -> Tensor[N, D]   (raw embeddings, e.g. a MasaAdapter)
    tracker  : .update(detections, frame_idx) -> Detections with tracker_id; .reset()
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Protocol

import numpy as np
import torch
from torch import Tensor

from masa.structures import Detections

__all__ = ["FrameResult", "StageTimer", "Embedder", "Tracker", "track_frames", "resolve_device"]


def resolve_device(device: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU.

    Raises:
        InputError: not a device name, or a CUDA device on a machine without CUDA.
    """
    from masa.errors import InputError

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise InputError(f"device {device!r} is not a device (use auto, cpu, cuda or cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device}: CUDA is not available on this machine")
    return dev


class FrameResult(NamedTuple):
    """One processed frame.

    Attributes:
        frame_idx: 0-based index of the frame in its source.
        image: the frame, uint8 `(H, W, 3)` RGB.
        detections: the tracked detections (CPU), with `tracker_id` Tensor[N] int64.
    """

    frame_idx: int
    image: np.ndarray
    detections: Detections


class Embedder(Protocol):
    def embed(self, image: np.ndarray, boxes_xyxy: Tensor) -> Tensor: ...


class Tracker(Protocol):
    def update(self, detections: Detections, frame_idx: int) -> Detections: ...

    def reset(self) -> None: ...


class StageTimer:
    """Accumulates wall-clock seconds per named stage.

    Args:
        synchronize: call `torch.cuda.synchronize()` at the end of each stage so GPU work is
            charged to the stage that queued it.
    """

    def __init__(self, *, synchronize: bool = False) -> None:
        self.synchronize = synchronize
        self.seconds: dict[str, float] = defaultdict(float)
        self.frames = 0

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.synchronize:
                torch.cuda.synchronize()
            self.seconds[name] += time.perf_counter() - start

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


def update_tracker(tracker: Tracker, detections: Detections, frame: Any) -> Detections:
    """`tracker.update` for one frame, given the image too when the tracker uses it (camera
    motion compensation)."""
    if getattr(tracker, "uses_image", False):
        return tracker.update(detections, frame.frame_idx, image=frame.image)
    return tracker.update(detections, frame.frame_idx)


def track_frames(
    frames: Iterable,
    detect: Callable[[int, np.ndarray], Detections],
    embedder: Embedder,
    tracker: Tracker,
    *,
    timer: StageTimer | None = None,
) -> Iterator[FrameResult]:
    """Runs detection, embedding and tracking frame by frame, holding one frame at a time.

    Args:
        frames: yields objects with `frame_idx` and `image` (uint8 `(H, W, 3)` RGB), in order.
        detect: gives the frame's detections (`xyxy` in frame pixels).
        embedder: gives raw embeddings `Tensor[N, D]` for boxes of a frame.
        tracker: assigns identities; it is reset before the first frame.
        timer: per-stage wall-clock accounting ("decode", "detector", "adapter", "tracker").

    Yields:
        FrameResult per frame, detections moved to the CPU.
    """
    timer = timer or StageTimer()
    tracker.reset()
    iterator = iter(frames)
    while True:
        with timer.stage("decode"):
            frame = next(iterator, None)
        if frame is None:
            return
        with timer.stage("detector"):
            detections = detect(frame.frame_idx, frame.image)
        with timer.stage("adapter"):
            embeddings = embedder.embed(frame.image, detections.xyxy)
        with timer.stage("tracker"):
            detections = detections.to(embeddings.device).replace(embedding=embeddings)
            tracked = update_tracker(tracker, detections, frame).to("cpu")
        timer.frames += 1
        yield FrameResult(frame.frame_idx, frame.image, tracked)
