"""Frames that cannot be decoded: each skipped frame (or run of frames) printed as one line."""

from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager
from typing import Any, Iterator

__all__ = ["print_damaged_frames"]


@contextmanager
def print_damaged_frames() -> Iterator[list[int]]:
    """While inside, each `masa.io.DamagedFrameWarning` is printed as `warning: ...` on one line of
    stderr (every one, not only the first per place); other warnings are shown as usual.

    Yields:
        The indices of the frames skipped so far (filled in as the warnings come).
    """
    from masa.io.video import DamagedFrameWarning

    skipped: list[int] = []
    with warnings.catch_warnings():
        warnings.simplefilter("always", DamagedFrameWarning)
        show = warnings.showwarning

        def show_one_line(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
            if issubclass(category, DamagedFrameWarning):
                skipped.extend(getattr(message, "frame_indices", []))
                print("warning: " + " ".join(str(message).split()), file=sys.stderr)
            else:
                show(message, category, *args, **kwargs)

        warnings.showwarning = show_one_line
        yield skipped
