"""Atomic outputs: written beside the destination (a hidden temporary file or folder), moved into
place by a successful `close()` and deleted on an error or `abort()`. `AtomicOutput` is the
shared lifecycle; `AtomicFolderWriter` is its folder kind (the file kind is in `masa.io.writers`).
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np

from masa.structures import Detections

__all__ = ["AtomicOutput", "AtomicFolderWriter", "temp_dir"]


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


class AtomicOutput:
    """Base of every output written beside its destination and moved into place at the end.

    Subclasses write under `self._tmp` (a file or a folder) in `_write`, complete it in `_finish`,
    and say how it is moved into place (`_commit`) and removed (`_remove_tmp`). `finish()`
    completes the temporary output without moving it; `close()` finishes (if not yet) and
    commits; `abort()` (or an error inside `with`) deletes it and leaves the destination alone.
    A caller with several outputs finishes them all before closing any, so a failure (a full
    disk) leaves none of them.
    """

    def __init__(self, path: str | Path, tmp: Path) -> None:
        self.path = Path(path)
        self._tmp = tmp
        self._closed = False
        self._finished = False

    def write(
        self, frame_idx: int, detections: Detections, image: np.ndarray | None = None
    ) -> None:
        """Writes one frame's results.

        Args:
            frame_idx: 0-based frame index.
            detections: the frame's detections (`xyxy` Tensor[N, 4] float32 pixels, with
                `tracker_id` Tensor[N] int64; -1 marks untracked detections, which are skipped).
            image: the frame, uint8 `(H, W, 3)` RGB (used only by writers of images or video).
        """
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} for {self.path} is already closed")
        self._write(frame_idx, detections, image)

    def finish(self) -> None:
        """Completes the temporary output without moving it (the first half of `close`).
        Aborts (and re-raises) if finishing fails."""
        if self._closed or self._finished:
            return
        try:
            self._finish()
        except BaseException:
            self.abort()
            raise
        self._finished = True

    def close(self) -> None:
        """Finishes the output (if `finish` has not) and moves it to `path`. Aborts (and
        re-raises) if either fails."""
        if self._closed:
            return
        self.finish()
        try:
            self._commit()
        except BaseException:
            self.abort()
            raise
        self._closed = True

    def abort(self) -> None:
        """Deletes the temporary output; `path` is left untouched. A no-op after `close()`."""
        if self._closed:
            return
        self._closed = True
        self._discard()
        self._remove_tmp()

    def __enter__(self) -> Self:
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

    def _write(self, frame_idx: int, detections: Detections, image: np.ndarray | None) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Writes whatever comes last into `self._tmp` (default: nothing)."""

    def _discard(self) -> None:
        """Releases open handles without finishing (called by `abort`)."""

    def _commit(self) -> None:
        raise NotImplementedError

    def _remove_tmp(self) -> None:
        raise NotImplementedError


class AtomicFolderWriter(AtomicOutput):
    """Base of writers whose output is a folder: subclasses write under `self._tmp`, which
    replaces `path` (an existing folder is replaced) on `close()`.

    Args:
        folder: destination folder.
    """

    def __init__(self, folder: str | Path) -> None:
        super().__init__(folder, temp_dir(Path(folder)))

    def _commit(self) -> None:
        old = None
        if self.path.exists():
            old = self.path.with_name(f".{self.path.name}.old{os.getpid()}")
            os.replace(self.path, old)
        os.replace(self._tmp, self.path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def _remove_tmp(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)
