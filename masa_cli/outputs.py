"""Where commands write: one-line errors for a bad `--out` (or `--json`/`--csv`), a folder that
cannot be written, or a full disk, and no output unless every output could be written. The
tracking commands use the folder helpers; eval, proposals and train check their paths up front."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from masa.errors import InputError

__all__ = [
    "prepare_out_dir",
    "check_output_file",
    "check_output_folder",
    "write_errors",
    "finish_all",
    "write_text_atomic",
]


def prepare_out_dir(out_dir: Path) -> None:
    """Creates `out_dir` and its parents when missing.

    Raises:
        InputError: `out_dir` (or a parent) is a file, or the folder cannot be created.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} is a file, not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"--out {out_dir}: cannot create the folder ({e.strerror or e})") from None


def check_output_file(path: Path, option: str) -> None:
    """A one-line error before any work when the file `path` can never be written.

    Raises:
        InputError: `path` is a folder, or a missing parent of it sits under a file.
    """
    if path.is_dir():
        raise InputError(f"{option} {path} is a folder; give a file name")
    _parent_is_a_folder(path, option)


def check_output_folder(path: Path, option: str) -> None:
    """A one-line error before any work when the folder `path` can never be made.

    Raises:
        InputError: `path` is a file, or a missing parent of it sits under a file.
    """
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path} is a file, not a folder")
    _parent_is_a_folder(path, option)


def _parent_is_a_folder(path: Path, option: str) -> None:
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"{option} {path}: cannot write under {parent}, which is a file")


@contextmanager
def write_errors(out_dir: Path) -> Iterator[None]:
    """Turns an `OSError` about the outputs into a one-line `InputError` naming `out_dir`.

    An error about the outputs is one without a file name (a write to an open file: no space left,
    quota exceeded, I/O error) or one naming a path inside `out_dir` (permission denied, read-only
    file system). Other `OSError`s pass through unchanged.
    """
    try:
        yield
    except OSError as e:
        if e.filename is not None and not _inside(Path(str(e.filename)), out_dir):
            raise
        raise InputError(f"cannot write the outputs to {out_dir}: {e.strerror or e}") from None


def finish_all(writers: Sequence[Any]) -> None:
    """Completes every writer's temporary output before any is moved into place, so that a full
    disk at the end leaves no output at all (the writers' `close` then only renames)."""
    for writer in writers:
        writer.finish()


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def write_text_atomic(path: Path, text: str) -> None:
    """Writes a temporary file in the same folder, then `os.replace`: never a half-written file."""
    import os
    import tempfile

    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
