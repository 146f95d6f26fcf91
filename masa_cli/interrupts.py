"""Ctrl-C that ends a live stream cleanly instead of discarding what was tracked."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["stop_on_interrupt"]


@contextmanager
def stop_on_interrupt(enabled: bool) -> Iterator[Callable[[], bool]]:
    """Yields `stopped()`; while `enabled`, the first Ctrl-C only sets it, a second one interrupts.

    The tracking loop polls `stopped()` after each frame, so a stream ends after the frame in
    progress and its outputs are written. Off the main thread (where signals cannot be caught),
    or when not `enabled`, Ctrl-C interrupts as usual.
    """
    event = threading.Event()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield event.is_set
        return

    def handler(signum: int, frame: Any) -> None:
        if event.is_set():
            raise KeyboardInterrupt
        event.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield event.is_set
    finally:
        signal.signal(signal.SIGINT, previous)
