"""The tracking loop: frames -> detections -> embeddings -> identities. No file I/O here.

Every stage is a plain call, so any one of them can be replaced:

    frames   : iterable of `Frame(frame_idx, image)` (image uint8 (H, W, 3) RGB)
    detect   : (frame_idx, image) -> Detections      (boxes in frame pixels)
    embedder : .embed(image, xyxy) -> Tensor[N, D]   (raw embeddings, e.g. a MasaAdapter)
    tracker  : .update(detections, frame_idx) -> Detections with tracker_id; .reset()
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Protocol

import numpy as np
import torch
from torch import Tensor

from masa.structures import Detections

__all__ = [
    "FrameResult", "StageTimer", "Embedder", "Tracker", "detected_frames", "track_one",
    "track_frames", "resolve_device",
]


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
            charged to the stage that queued it; only on the thread that made the timer, so a
            background stage (prefetch, write-behind) never waits for the device.
    """

    def __init__(self, *, synchronize: bool = False) -> None:
        self.synchronize = synchronize
        self._owner = threading.get_ident()
        self.seconds: dict[str, float] = defaultdict(float)
        self.frames = 0

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.synchronize and threading.get_ident() == self._owner:
                torch.cuda.synchronize()
            self.seconds[name] += time.perf_counter() - start

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


def detected_frames(
    frames: Iterable, detect: Callable[[int, np.ndarray], Detections], timer: StageTimer
) -> Iterator[tuple[Any, Detections]]:
    """Each frame with its detections, timed as "decode" and "detector"."""
    iterator = iter(frames)
    while True:
        with timer.stage("decode"):
            frame = next(iterator, None)
        if frame is None:
            return
        with timer.stage("detector"):
            detections = detect(frame.frame_idx, frame.image)
        yield frame, detections


def track_one(
    tracker: Tracker, frame: Any, detections: Detections, embeddings: Tensor, timer: StageTimer
) -> FrameResult:
    """One frame's tracker update (timed as "tracker"), the image given too when the tracker
    uses it (camera motion compensation); the result's detections are on the CPU."""
    with timer.stage("tracker"):
        detections = detections.to(embeddings.device).replace(embedding=embeddings)
        if getattr(tracker, "uses_image", False):
            tracked = tracker.update(detections, frame.frame_idx, image=frame.image)
        else:
            tracked = tracker.update(detections, frame.frame_idx)
    timer.frames += 1
    return FrameResult(frame.frame_idx, frame.image, tracked.to("cpu"))


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
    for frame, detections in detected_frames(frames, detect, timer):
        with timer.stage("adapter"):
            embeddings = embedder.embed(frame.image, detections.xyxy)
        yield track_one(tracker, frame, detections, embeddings, timer)
