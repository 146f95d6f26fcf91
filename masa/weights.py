"""Checkpoints: known weights, the download cache, and safe reading.

This module resolves names, downloads and verifies files, and reads them safely; what a
checkpoint means for a model lives beside the model (`masa.adapter.official` converts official
MASA checkpoints, `masa.adapter.loading` builds and loads adapters). Two formats are read:
- the project's own: a `.safetensors` file whose header metadata describes the model
  (`format`, `model_args`, ...), so a model can be rebuilt from the file alone;
- official MASA checkpoints (mmengine pickles, SPEC §3), read by `masa.safe_load`, which never
  executes anything from a file.
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor

from masa.cache import WeightSpec, download_to_cache, masa_home
from masa.errors import InputError
from masa.safe_load import is_safetensors, load_weights_file, read_safetensors

__all__ = [
    "KNOWN_WEIGHTS",
    "PACKAGED_WEIGHTS",
    "Checkpoint",
    "CheckpointError",
    "resolve_checkpoint",
    "read_checkpoint",
]

_HF_REPO = "dereksiyuanli/masa"

#: Official MASA checkpoints on the Hugging Face hub (fetched with `huggingface_hub`). MD5 sums
#: are the ones published with the files where known; without one, the first download's SHA-256
#: is recorded and checked on every later use.
KNOWN_WEIGHTS: dict[str, WeightSpec] = {
    "masa_r50": WeightSpec.on_hub(_HF_REPO, "masa_r50.pth",
                                  md5="1b67de86a3cb8cab35c4797bcb8ea95f"),
    "gdino_masa": WeightSpec.on_hub(_HF_REPO, "gdino_masa.pth",
                                    md5="4b703764ce82b6a133b47fb5aef2e4e2"),
    "detic_masa": WeightSpec.on_hub(_HF_REPO, "detic_masa.pth"),
    "sam_vitb_masa": WeightSpec.on_hub(_HF_REPO, "sam_vitb_masa.pth"),
    "sam_vith_masa": WeightSpec.on_hub(_HF_REPO, "sam_vith_masa.pth"),
}

#: Weights shipped inside the package (no download): name -> file in `masa/assets/`.
PACKAGED_WEIGHTS: dict[str, str] = {"masa_lite": "masa_lite.safetensors"}

FORMAT_NAME = "masa-track"
FORMAT_VERSION = "1"

#: Names that moved beside the adapter model; still importable from here for older code.
_MOVED = {
    "load_adapter": "masa.adapter.loading",
    "load_adapter_weights": "masa.adapter.loading",
    "save_adapter": "masa.adapter.loading",
    "convert_official_masa_checkpoint": "masa.adapter.official",
    "official_adapter_config": "masa.adapter.official",
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class CheckpointError(InputError):
    """A checkpoint that cannot be read or does not fit the model."""


@dataclass
class Checkpoint:
    """What a checkpoint file holds.

    Attributes:
        state_dict: tensors by key, as stored (official key names for official files).
        metadata: our format's header metadata (JSON-decoded), or the official `meta` (plain values).
        source: "masa" (our format), "official" (mmengine checkpoint) or "state_dict" (a bare dict).
    """

    state_dict: dict[str, Tensor]
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = "state_dict"


def resolve_checkpoint(name_or_path: str | os.PathLike[str], *, progress: bool = True) -> Path:
    """Turns a path or a known name into a local file, downloading a known name on first use.

    Args:
        name_or_path: an existing file, a key of `PACKAGED_WEIGHTS` (shipped with masa), or a
            key of `KNOWN_WEIGHTS` (cached under `$MASA_HOME/checkpoints`, default
            `~/.cache/masa/checkpoints`).
        progress: show a progress bar while downloading.

    Raises:
        FileNotFoundError: neither an existing file nor a known name.
        CheckpointError: the download failed, was refused (`MASA_OFFLINE=1`) or failed its checksum.
    """
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    key = str(name_or_path)
    if key in PACKAGED_WEIGHTS:
        packaged = Path(__file__).resolve().parent / "assets" / PACKAGED_WEIGHTS[key]
        if not packaged.is_file():
            raise FileNotFoundError(f"{key}: the packaged weights {packaged} are missing; reinstall masa-track")
        return packaged
    if key in KNOWN_WEIGHTS:
        try:
            return download_to_cache(KNOWN_WEIGHTS[key], masa_home() / "checkpoints", progress=progress)
        except (OSError, ValueError) as e:
            raise CheckpointError(str(e)) from None
    raise FileNotFoundError(
        f"checkpoint {key!r} is neither a file nor a known name "
        f"(known: {', '.join([*PACKAGED_WEIGHTS, *KNOWN_WEIGHTS])})"
    )


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Reads a checkpoint without executing anything from it (see `masa.safe_load`).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: unreadable or refused file (a pickle that asks for anything but tensors
            and plain values), or no tensors.
    """
    path = Path(path)
    try:
        if is_safetensors(path):
            return _from_safetensors(*read_safetensors(path, what="checkpoint"))
        obj = load_weights_file(path, what="checkpoint")
    except InputError as e:
        raise CheckpointError(str(e)) from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
        state, source = obj["state_dict"], "official"
    elif isinstance(obj, dict):
        meta, state, source = {}, obj, "state_dict"
    else:
        raise CheckpointError(f"{path}: expected a dict of tensors, but got {type(obj).__name__}")
    state = {
        k.removeprefix("module."): v
        for k, v in state.items() if isinstance(k, str) and isinstance(v, Tensor)
    }
    if not state:
        raise CheckpointError(f"{path}: the checkpoint holds no tensors")
    if source == "state_dict" and any(k.startswith("masa_adapter.") for k in state):
        source = "official"
    plain = {k: v for k, v in meta.items() if isinstance(v, (str, int, float))}
    return Checkpoint(state, plain, source)


def _from_safetensors(state: dict[str, Tensor], raw: dict[str, str]) -> Checkpoint:
    metadata: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            metadata[key] = json.loads(value)
        except json.JSONDecodeError:
            metadata[key] = value
    source = "masa" if metadata.get("format") == FORMAT_NAME else "state_dict"
    return Checkpoint(state, metadata, source)
