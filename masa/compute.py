"""Compute settings shared by every command: the size of the CPU thread pools (torch intra- and
inter-op, OpenCV, onnxruntime) and the adapter's arithmetic (float32 or bf16/fp16 autocast)."""

from __future__ import annotations

import torch

from masa.errors import InputError

__all__ = ["set_threads", "configured_threads", "autocast_dtype"]

_threads: int | None = None

AUTOCAST_DTYPES: dict[str, torch.dtype | None] = {
    "fp32": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


def set_threads(count: int | None) -> None:
    """Sizes every CPU thread pool masa uses; None leaves the libraries' own choice.

    torch's inter-op pool can only be sized before its first use; when it already runs, only
    the other pools change. onnxruntime sessions built afterwards read `configured_threads()`.

    Raises:
        InputError: count < 1.
    """
    global _threads
    if count is None:
        return
    if count < 1:
        raise InputError(f"--threads must be at least 1, but got {count}")
    import cv2

    _threads = count
    torch.set_num_threads(count)
    try:
        torch.set_num_interop_threads(count)
    except RuntimeError:  # already started (set once per process)
        pass
    cv2.setNumThreads(count)


def configured_threads() -> int | None:
    """The count given to `set_threads`, or None."""
    return _threads


def autocast_dtype(name: str) -> torch.dtype | None:
    """'fp32' -> None (no autocast), 'bf16' -> torch.bfloat16, 'fp16' -> torch.float16.

    Raises:
        InputError: another name.
    """
    if name not in AUTOCAST_DTYPES:
        raise InputError(f"--dtype must be one of {', '.join(AUTOCAST_DTYPES)}, but got {name!r}")
    return AUTOCAST_DTYPES[name]
