"""Reading weight files that users give us, without ever executing anything from them.

Every weights file masa reads (adapter checkpoints, SAM files, detector and backbone state dicts,
training resume states) goes through `load_weights_file`. What decides how a file is read is its
content, never its name:
- safetensors (an 8-byte header length, then a JSON header): read with `safetensors`, which
  parses a JSON header and raw tensor bytes, nothing else;
- anything else is handed to torch's own `weights_only=True` loader (torch zip files and the
  legacy stream format), which rebuilds tensors and plain containers and refuses every other
  global. The metadata objects that official MASA checkpoints carry (mmengine's `HistoryBuffer`,
  numpy arrays and scalars in `meta`/`message_hub`) are allowed by exact name as inert stand-ins
  (`METADATA_GLOBALS`), so neither mmengine nor numpy code ever runs;
- torch's loader parses the opcodes of pickle protocols 2 and 3 only (what `torch.save` writes
  by default). A file that uses those of protocols 0, 1, 4 or 5 (`torch.save(...,
  pickle_protocol=5)`, a raw pickle) is read again by a restricted unpickler that allows exactly
  the same globals, for every pickle torch reads from the file (`pickle_module.Unpickler` and
  `pickle_module.load` both);
- refused outright: torch's legacy tar format (torch < 0.4; its reader extracts tar members) and
  TorchScript archives (they hold code).

A refused or unreadable file raises `InputError` with one line that names the file.
"""

from __future__ import annotations

import os
import pickle
import re
import tarfile
import types
import warnings
from pathlib import Path
from typing import IO, Any

import torch

from masa.errors import InputError

__all__ = [
    "METADATA_GLOBALS",
    "UnsafeFileError",
    "is_safetensors",
    "load_weights_file",
    "read_safetensors",
    "refusal_reason",
]


class UnsafeFileError(InputError):
    """A file that asks for something other than tensors and plain values; nothing of it ran."""


class _Inert:
    """Stands in for an object of a library masa does not need to read the weights: it keeps
    what the file gives it and never runs anything."""

    def __init__(self, *args: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _inert(qualified_name: str) -> type:
    """An inert class whose `__module__.__qualname__` is `qualified_name`, so torch's allow-list
    (which matches globals by that name) accepts it in place of the real object."""
    module, _, name = qualified_name.rpartition(".")
    return type(name, (_Inert,), {"__module__": module, "__qualname__": name})


#: The non-tensor globals that official MASA (mmengine) checkpoints hold, as inert stand-ins:
#: mmengine's log buffers in `message_hub`, and the numpy arrays, scalars and dtypes inside them
#: (numpy 1 and 2 module names). Nothing else outside torch's own allow-list is accepted.
METADATA_GLOBALS: list[type] = [
    _inert(name)
    for name in (
        "mmengine.logging.history_buffer.HistoryBuffer",
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.numeric._frombuffer",  # arrays in pickle protocol 5
        "numpy._core.numeric._frombuffer",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "numpy.ndarray",
        "numpy.dtype",
    )
]

_SAFETENSORS_MAX_HEADER = 100_000_000  # the safetensors library's own limit


def is_safetensors(path: str | os.PathLike[str]) -> bool:
    """Whether the file's content is safetensors (whatever its name)."""
    try:
        with open(path, "rb") as f:
            return _looks_like_safetensors(f, os.fstat(f.fileno()).st_size)
    except OSError:
        return False


def _looks_like_safetensors(f: IO[bytes], size: int) -> bool:
    head = f.read(9)
    f.seek(0)
    if len(head) < 9:
        return False
    length = int.from_bytes(head[:8], "little")
    return head[8:9] == b"{" and length + 8 <= size and length <= _SAFETENSORS_MAX_HEADER


def read_safetensors(
    path: str | os.PathLike[str], *, what: str = "weights"
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and header metadata of a safetensors file, on the CPU.

    Raises:
        InputError: not a readable safetensors file.
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise InputError(f"{path}: cannot read {what} as safetensors ({_one_line(e)})") from None
    return tensors, metadata


def load_weights_file(path: str | os.PathLike[str], *, what: str = "weights") -> Any:
    """The object stored in a weights file, read without executing anything from it.

    Args:
        path: a torch file (zip or legacy), a pickle, or a safetensors file (a dict of tensors
            is returned for it), whatever its name ends with.
        what: what the file is meant to be, for messages ("checkpoint", "detector weights").

    Returns:
        What the file holds: tensors (on the CPU), plain containers and values, and the inert
        stand-ins of `METADATA_GLOBALS`.

    Raises:
        FileNotFoundError: no such file.
        UnsafeFileError: the file asks for a global outside the allow-list (a function to call, a
            class to build), is a TorchScript archive or a legacy tar file; nothing from it ran.
        InputError: anything else that makes the file unreadable (truncated, not a weights file).
    """
    path = Path(path)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {path}") from None
    except OSError as e:
        raise InputError(f"{path}: cannot open {what} ({e.strerror})") from None
    with f:
        size = os.fstat(f.fileno()).st_size
        if _looks_like_safetensors(f, size):
            return read_safetensors(path, what=what)[0]
        if _is_tar(f):
            raise UnsafeFileError(
                f"{path}: refused to load {what}: torch's legacy tar format (torch < 0.4) is not "
                "read; save the weights again with a current torch.save"
            )
        with torch.serialization.safe_globals(METADATA_GLOBALS), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols other than 2
            try:
                return torch.load(f, map_location="cpu", weights_only=True, mmap=False)
            except pickle.UnpicklingError as e:
                if "Unsupported operand" not in str(e):
                    raise _refused(path, what, e) from None
            except Exception as e:  # noqa: BLE001 - any reader failure is a bad file for the user
                raise _unreadable(path, what, e) from None
            return _load_other_protocol(f, path, what)


def _load_other_protocol(f: IO[bytes], path: Path, what: str) -> Any:
    """Reads a file whose pickle uses opcodes of protocols 0, 1, 4 or 5 that torch's weights-only
    loader cannot parse, with `_RESTRICTED_PICKLE`: the same allow-list, for every pickle torch
    reads from the file."""
    try:
        f.seek(0)
        if f.read(4) == b"PK\x03\x04" and _is_torchscript(f):
            raise UnsafeFileError(
                f"{path}: refused to load {what}: a TorchScript archive holds code"
            )
        f.seek(0)
        return torch.load(
            f, map_location="cpu", weights_only=False, mmap=False, pickle_module=_RESTRICTED_PICKLE
        )
    except UnsafeFileError:
        raise
    except _RefusedGlobal as e:
        raise _refused(path, what, e) from None
    except Exception as e:  # noqa: BLE001 - any reader failure is a bad file for the user
        raise _unreadable(path, what, e) from None


def _is_tar(f: IO[bytes]) -> bool:
    """As torch decides it: its legacy reader tries `tarfile.open` first on every non-zip file."""
    try:
        with tarfile.open(fileobj=f, mode="r:", format=tarfile.PAX_FORMAT):
            return True
    except Exception:  # noqa: BLE001 - not a tar file
        return False
    finally:
        f.seek(0)


def _is_torchscript(f: IO[bytes]) -> bool:
    """Whether torch.load would hand this zip to torch.jit.load (it does without weights_only),
    decided by torch's own test."""
    f.seek(0)
    try:
        with torch.serialization._open_zipfile_reader(f) as reader:
            return torch.serialization._is_torchscript_zip(reader)
    finally:
        f.seek(0)


class _RefusedGlobal(pickle.UnpicklingError):
    """The pickle asks for a global outside the allow-list."""


def _allowed_global(module: str, name: str) -> Any:
    """A global from torch's weights-only allow-list (its defaults and `safe_globals`), matched
    by qualified name as torch matches it; modules torch blocks stay blocked."""
    from torch import _weights_only_unpickler as wo

    qualified = f"{module}.{name}"
    allowed = {**wo._get_allowed_globals(), **wo._get_user_allowed_globals()}
    if module in wo._blocklisted_modules or qualified not in allowed:
        raise _RefusedGlobal(f"GLOBAL {qualified} is not allowed")
    return allowed[qualified]


class _RestrictedUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` that resolves only the globals torch's weights-only loader allows.

    Every way a pickle names a global (GLOBAL, STACK_GLOBAL, INST, OBJ, EXT*) goes through
    `find_class`, so nothing outside the allow-list can be called or built.
    """

    def find_class(self, module: str, name: str) -> Any:
        return _allowed_global(module, name)


def _restricted_load(file: IO[bytes], **kwargs: Any) -> Any:
    return _RestrictedUnpickler(file, **kwargs).load()


#: What torch.load gets as `pickle_module`: it reads every pickle in the file through
#: `Unpickler` or `load`, and both are restricted.
_RESTRICTED_PICKLE = types.SimpleNamespace(
    Unpickler=_RestrictedUnpickler, load=_restricted_load, __name__="masa_restricted_pickle"
)


def refusal_reason(error: BaseException) -> str:
    """Why torch's weights-only loader (or ours) refused a pickle, in a few words."""
    text = str(error)
    match = re.search(r"GLOBAL (\S+)", text)
    if match:
        return f"it asks for {match.group(1)}, which is not tensor data"
    match = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    return match.group(1).strip() if match else _one_line(error)


def _refused(path: Path, what: str, error: BaseException) -> UnsafeFileError:
    return UnsafeFileError(
        f"{path}: refused to load {what}: {refusal_reason(error)}; nothing from the file was run"
    )


def _unreadable(path: Path, what: str, error: BaseException) -> InputError:
    if "TorchScript" in str(error):
        return UnsafeFileError(f"{path}: refused to load {what}: a TorchScript archive holds code")
    return InputError(f"{path}: cannot read {what} ({_one_line(error)})")


def _one_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
