"""Shared pieces of the command line: error handling and the console."""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])

#: Exit code for bad input (missing or malformed files, invalid options).
EXIT_BAD_INPUT = 2


def fail(message: str) -> typer.Exit:
    """Prints `error: message` on one line to stderr and returns the exit to raise (code 2)."""
    text = " ".join(str(message).split())
    print(f"error: {text}", file=sys.stderr)
    return typer.Exit(EXIT_BAD_INPUT)


def cli_errors(fn: F) -> F:
    """Turns user-facing exceptions into one-line errors with exit code 2 (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from masa.errors import InputError
        from masa_cli.signals import sigterm_as_interrupt

        try:
            with sigterm_as_interrupt():  # SIGTERM cleans up as Ctrl-C does
                return fn(*args, **kwargs)
        except (InputError, FileNotFoundError, NotADirectoryError, IsADirectoryError) as e:
            raise fail(str(e)) from None
        except ImportError as e:
            raise fail(f"missing optional dependency: {e}") from None
        except KeyboardInterrupt as e:
            raise fail(f"{e or 'interrupted'}; no partial output was kept") from None

    return wrapper  # type: ignore[return-value]
