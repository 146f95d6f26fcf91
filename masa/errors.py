"""Exceptions the command line turns into one-line messages (exit code 2) instead of tracebacks."""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError):
    """Bad user input: a missing, unreadable, empty or malformed file, or an invalid option value.

    The message must name the problem (and the file and line where there is one) in one line.
    """
