"""Atomic folder outputs: files are written into a hidden temporary folder beside the destination,
which replaces the destination on a successful `close()` and is deleted on an error or `abort()`.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from types import TracebackType

import numpy as np

from masa.structures import Detections

__all__ = ["AtomicFolderWriter", "temp_dir"]


def temp_dir(destination: Path) -> Path:
    """Creates an empty hidden folder next to `destination`, with the user's umask permissions."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = destination.parent / f".{destination.name}.{secrets.token_hex(4)}.tmp"
        try:
            tmp.mkdir(mode=0o777)
            return tmp
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue


class AtomicFolderWriter:
    """Base of writers whose output is a folder: subclasses write under `self._tmp`.

    `close()` calls `_finish()` and then moves the temporary folder to `path` (an existing `path`
    is replaced); on an error inside `with`, or on `abort()`, nothing is kept.

    Args:
        folder: destination folder.
    """

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder)
        self._tmp = temp_dir(self.path)
        self._closed = False

    def __enter__(self) -> AtomicFolderWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(
        self, frame_idx: int, detections: Detections, image: np.ndarray | None = None
    ) -> None:
        """Writes one frame's results (see the subclass)."""
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} for {self.path} is already closed")
        self._write(frame_idx, detections, image)

    def close(self) -> None:
        """Finishes the folder and moves it to `path`. Aborts (and re-raises) if finishing fails."""
        if self._closed:
            return
        try:
            self._finish()
        except BaseException:
            self.abort()
            raise
        self._closed = True
        old = None
        if self.path.exists():
            old = self.path.with_name(f".{self.path.name}.old{os.getpid()}")
            os.replace(self.path, old)
        os.replace(self._tmp, self.path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        """Deletes the temporary folder; `path` is left untouched. A no-op after `close()`."""
        if not self._closed:
            self._closed = True
            shutil.rmtree(self._tmp, ignore_errors=True)

    def _write(self, frame_idx: int, detections: Detections, image: np.ndarray | None) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Writes whatever comes last (e.g. an index file) into `self._tmp`."""
