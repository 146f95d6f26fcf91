"""SIGTERM handled as Ctrl-C is: what `timeout`, `kill` and job schedulers send to stop a run.

Python's default SIGTERM action ends the process at once, so no `finally` or `with` block runs
and the writers' hidden temporary files stay behind. Raising an exception in the main thread
instead unwinds the run, and each writer deletes its temporary file, as it does on Ctrl-C.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator

__all__ = ["Terminated", "sigterm_as_interrupt"]


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: raised in the main thread, caught wherever Ctrl-C is."""


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM raises `Terminated` in the main thread; the previous handler is
    restored on exit. A second SIGTERM during the clean-up is ignored, so the clean-up finishes.
    Outside the main thread (where handlers cannot be set) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated("terminated (SIGTERM)")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
