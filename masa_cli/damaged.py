"""Frames that cannot be decoded: each skipped frame (or run of frames) printed as one line."""

from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager
from typing import Any, Iterator

__all__ = ["print_damaged_frames"]


@contextmanager
def print_damaged_frames() -> Iterator[set[int]]:
    """While inside, each `masa.io.DamagedFrameWarning` is printed as `warning: ...` on one line of
    stderr, once per frame even when the source is decoded twice (a second pass for the overlay);
    other warnings are shown as usual.

    Yields:
        The indices of the frames skipped so far (filled in as the warnings come).
    """
    from masa.io.video import DamagedFrameWarning

    skipped: set[int] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("always", DamagedFrameWarning)
        show = warnings.showwarning

        def show_one_line(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
            if issubclass(category, DamagedFrameWarning):
                indices = set(getattr(message, "frame_indices", ()))
                if not indices or indices - skipped:
                    print("warning: " + " ".join(str(message).split()), file=sys.stderr)
                skipped.update(indices)
            else:
                show(message, category, *args, **kwargs)

        warnings.showwarning = show_one_line
        yield skipped
