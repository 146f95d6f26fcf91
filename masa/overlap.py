"""The overlapped tracking loop: frames are read, detected and preprocessed in a background thread
while the adapter and the tracker work on earlier frames, and the adapter embeds several frames
per call.

    thread "masa-prefetch": frames -> detect -> embedder.prepare   -> bounded queue
    caller's thread:        queue -> embedder.embed_batch (up to `batch_size` frames) -> tracker

At most `queue_size + batch_size` frames are held at once, so memory does not grow with the
video. The tracker sees the same frames, detections and order as in `masa.pipeline.track_frames`
(the sequential loop); only the adapter's float rounding may differ between a batch and single
frames. It suits embedders whose `embed` does not depend on state left by `detect` (a
`MasaAdapter` with its own backbone); unified embedders (MASA-GDINO, MASA-SAM) keep the
sequential loop.
"""

from __future__ import annotations

import queue
import threading
from itertools import islice
from typing import Any, Callable, Generic, Iterable, Iterator, Protocol, Sequence, TypeVar

import numpy as np
from torch import Tensor

from masa.pipeline import FrameResult, StageTimer, Tracker, detected_frames, track_one
from masa.structures import Detections

__all__ = ["BatchEmbedder", "Prefetch", "WriteBehind", "track_frames_overlapped"]

T = TypeVar("T")


class BatchEmbedder(Protocol):
    """An embedder that can preprocess a frame on its own and embed several frames per call."""

    def prepare(self, image: np.ndarray) -> Any: ...

    def embed_batch(self, prepared: Sequence[Any], boxes: Sequence[Tensor]) -> list[Tensor]: ...


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()


class Prefetch(Generic[T]):
    """Iterates `items` in a daemon thread, at most `size` items ahead of the consumer.

    An exception raised while producing an item is raised again, unchanged, where the consumer
    would have received that item. Leaving the `with` block (or `close()`) stops the thread.

    Args:
        items: any iterable; it is iterated only in the background thread.
        size: how many produced items may wait (>= 1).
    """

    def __init__(self, items: Iterable[T], size: int) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, but got {size}")
        self._items = items
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="masa-prefetch", daemon=True)
        self._started = False

    def _run(self) -> None:
        try:
            for item in self._items:
                if not self._put(item):
                    return
            self._put(_END)
        except BaseException as error:  # handed to the consumer, never lost in the thread
            self._put(_Failure(error))

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        if not self._started:
            self._started = True
            self._thread.start()
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    def close(self) -> None:
        """Stops the background thread and drops what it had produced."""
        self._stop.set()
        if not self._started:
            return
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.1)
            except queue.Empty:
                pass
        self._thread.join()

    def __enter__(self) -> Prefetch[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class WriteBehind(Generic[T]):
    """Calls `write(item)` for every `put(item)` in a daemon thread, in order, at most `size` behind.

    `close()` (or leaving the `with` block normally) waits until everything is written. An error
    raised by `write` is raised again, unchanged, by the next `put` or by `close`; later items are
    then dropped. Leaving the `with` block on an exception drops what is still queued.

    Args:
        write: called with each item, in the background thread.
        size: how many items may wait (>= 1).
    """

    def __init__(self, write: Callable[[T], None], size: int) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, but got {size}")
        self._write = write
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=size)
        self._error: BaseException | None = None
        self._drop = False
        self._thread = threading.Thread(target=self._run, name="masa-write-behind", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not _END:
            if self._error is None and not self._drop:
                try:
                    self._write(item)
                except BaseException as error:  # handed to the producer by put/close
                    self._error = error

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, item: T) -> None:
        """Queues one item (waits while `size` items wait)."""
        self._raise()
        self._queue.put(item)

    def close(self) -> None:
        """Waits until every queued item is written; raises the writer's error, if any."""
        if self._thread.is_alive():
            self._queue.put(_END)
            self._thread.join()
        self._raise()

    def __enter__(self) -> WriteBehind[T]:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is not None:
            self._drop = True
        self.close()


def track_frames_overlapped(
    frames: Iterable[Any],
    detect: Callable[[int, np.ndarray], Detections],
    embedder: BatchEmbedder,
    tracker: Tracker,
    *,
    timer: StageTimer | None = None,
    batch_size: int | None = None,
    queue_size: int | None = None,
) -> Iterator[FrameResult]:
    """`masa.pipeline.track_frames` with reading, detection and preprocessing in a background
    thread and the adapter run on batches of frames.

    Args:
        frames: yields objects with `frame_idx` and `image` (uint8 `(H, W, 3)` RGB), in order;
            iterated in the background thread, as is `detect`.
        detect: gives the frame's detections (`xyxy` in frame pixels).
        embedder: see `BatchEmbedder` (e.g. a `MasaAdapter`).
        tracker: assigns identities; it is reset before the first frame.
        timer: per-stage seconds; "decode", "detector" and "prepare" are spent in the background
            thread (overlapped), "wait" is the time the caller's thread waited for frames.
        batch_size: frames per `embed_batch` call (>= 1); default the embedder's
            `batch_frames` (a `MasaAdapter` keeps a batch near one megapixel), else 1.
        queue_size: frames the background thread may read ahead (default `2 * batch_size`).

    Yields:
        FrameResult per frame, in order, detections moved to the CPU.
    """
    batch_size = batch_size or getattr(embedder, "batch_frames", 1)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, but got {batch_size}")
    timer = timer or StageTimer()
    tracker.reset()

    def produce() -> Iterator[tuple[Any, Detections, Any]]:
        for frame, detections in detected_frames(frames, detect, timer):
            with timer.stage("prepare"):
                prepared = embedder.prepare(frame.image)
            yield frame, detections, prepared

    with Prefetch(produce(), queue_size or 2 * batch_size) as ahead:
        items = iter(ahead)
        while True:
            with timer.stage("wait"):
                batch = list(islice(items, batch_size))
            if not batch:
                return
            with timer.stage("adapter"):
                embeddings = embedder.embed_batch(
                    [p for _, _, p in batch], [d.xyxy for _, d, _ in batch]
                )
            for (frame, detections, _), embedding in zip(batch, embeddings):
                yield track_one(tracker, frame, detections, embedding, timer)
