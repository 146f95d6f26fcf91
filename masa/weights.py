"""Checkpoints: known weights, the download cache, safe reading and strict loading.

Two formats are read:
- the project's own: a `.safetensors` file whose header metadata describes the model
  (`format`, `model_args`, ...), so a model can be rebuilt from the file alone;
- official MASA checkpoints (mmengine pickles, SPEC §3): read with a restricted unpickler that
  rebuilds tensors, stubs the metadata objects of mmengine/numpy, and refuses every other
  global, so nothing from the file is ever executed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pickle
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from masa.cache import WeightSpec, download_to_cache, masa_home
from masa.errors import InputError

__all__ = [
    "KNOWN_WEIGHTS",
    "Checkpoint",
    "CheckpointError",
    "resolve_checkpoint",
    "read_checkpoint",
    "convert_official_masa_checkpoint",
    "load_adapter_weights",
    "load_adapter",
    "save_adapter",
]

logger = logging.getLogger(__name__)

_HF = "https://huggingface.co/dereksiyuanli/masa/resolve/main/"

#: Official MASA checkpoints. MD5 sums are the ones published with the files where known;
#: without one, the first download's SHA-256 is recorded and checked on every later use.
KNOWN_WEIGHTS: dict[str, WeightSpec] = {
    "masa_r50": WeightSpec(_HF + "masa_r50.pth", "masa_r50.pth", md5="1b67de86a3cb8cab35c4797bcb8ea95f"),
    "gdino_masa": WeightSpec(_HF + "gdino_masa.pth", "gdino_masa.pth", md5="4b703764ce82b6a133b47fb5aef2e4e2"),
    "detic_masa": WeightSpec(_HF + "detic_masa.pth", "detic_masa.pth"),
    "sam_vitb_masa": WeightSpec(_HF + "sam_vitb_masa.pth", "sam_vitb_masa.pth"),
    "sam_vith_masa": WeightSpec(_HF + "sam_vith_masa.pth", "sam_vith_masa.pth"),
}

#: Weights shipped inside the package (no download): name -> file in `masa/assets/`.
PACKAGED_WEIGHTS: dict[str, str] = {"masa_lite": "masa_lite.safetensors"}

FORMAT_NAME = "masa-track"
FORMAT_VERSION = "1"

# Official key prefixes -> our module names (SPEC §3.2); the rest is set aside by name.
_OFFICIAL_PREFIXES = {
    "backbone.": "backbone.",
    "masa_adapter.0.": "neck.",
    "masa_adapter.1.": "fusion.",
    "track_head.embed_head.": "head.",
}
_SET_ASIDE_PREFIXES = ("rpn_head.", "roi_head.", "detector.")


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


class _Stub:
    """Stands in for an object of a class that is not needed (mmengine logs, numpy arrays in meta)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"),
    ("torch._utils", "_rebuild_tensor"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_tensor_v3"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch", "Size"),
    ("torch", "device"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "slice"),
    ("_codecs", "encode"),
}
_STUBBED_MODULES = ("mmengine", "mmdet", "mmcv", "numpy")


class _RefusedGlobal(pickle.UnpicklingError):
    """The pickle asks for a global outside the allow-list."""


class _RestrictedUnpickler(pickle.Unpickler):
    """Rebuilds tensors and plain containers; stubs mmengine/numpy objects; refuses all else."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if module.split(".")[0] in _STUBBED_MODULES:
            return type(name, (_Stub,), {"__module__": module})
        raise _RefusedGlobal(f"refusing to load global '{module}.{name}'")


_restricted_pickle = types.SimpleNamespace(
    Unpickler=_RestrictedUnpickler, load=pickle.load, __name__="masa_restricted_pickle"
)


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Reads a checkpoint without executing anything from it.

    Raises:
        CheckpointError: unreadable file, a pickle that asks for a forbidden global, or no tensors.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False, pickle_module=_restricted_pickle)
    except _RefusedGlobal as e:
        raise CheckpointError(f"{path}: {e}; the file may be unsafe and was not loaded") from None
    except Exception as e:  # noqa: BLE001 - any reader failure is a bad file for the user
        raise CheckpointError(f"{path}: cannot read checkpoint ({type(e).__name__}: {e})") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
        state, source = obj["state_dict"], "official"
    elif isinstance(obj, dict):
        meta, state, source = {}, obj, "state_dict"
    else:
        raise CheckpointError(f"{path}: expected a dict of tensors, but got {type(obj).__name__}")
    state = {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, Tensor)}
    if not state:
        raise CheckpointError(f"{path}: the checkpoint holds no tensors")
    if source == "state_dict" and any(k.startswith("masa_adapter.") for k in state):
        source = "official"
    return Checkpoint(state, {k: v for k, v in meta.items() if isinstance(v, (str, int, float))}, source)


def _read_safetensors(path: Path) -> Checkpoint:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path}: cannot read safetensors file ({e})") from None
    metadata: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            metadata[key] = json.loads(value)
        except json.JSONDecodeError:
            metadata[key] = value
    source = "masa" if metadata.get("format") == FORMAT_NAME else "state_dict"
    return Checkpoint(state, metadata, source)


def convert_official_masa_checkpoint(
    state_dict: dict[str, Tensor],
) -> tuple[dict[str, Tensor], dict[str, Tensor], list[str]]:
    """Renames official MASA keys (SPEC §3) to our module names.

    Returns:
        (adapter_state, set_aside, unknown): the adapter's tensors under our names; the tensors of
        the detection-distillation heads (`rpn_head.*`, `roi_head.*`) and of the frozen detector
        (`detector.*`), kept by their official names; keys that fit neither.
    """
    adapter, set_aside, unknown = {}, {}, []
    for key, value in state_dict.items():
        for old, new in _OFFICIAL_PREFIXES.items():
            if key.startswith(old):
                adapter[new + key[len(old):]] = value
                break
        else:
            if key.startswith(_SET_ASIDE_PREFIXES):
                set_aside[key] = value
            else:
                unknown.append(key)
    return adapter, set_aside, unknown


def official_adapter_config(state_dict: dict[str, Tensor]) -> Any:
    """Infers the `AdapterConfig` of an official checkpoint from its keys and shapes (SPEC §3)."""
    from masa.adapter.model import AdapterConfig

    if "masa_adapter.0.fpn1.0.weight" in state_dict:
        return _sam_adapter_config(state_dict)
    lateral = sorted(k for k in state_dict if k.startswith("masa_adapter.0.lateral_convs.") and k.endswith("conv.weight"))
    if not lateral:
        raise CheckpointError("not a MASA checkpoint: no masa_adapter.0.lateral_convs.*.conv.weight keys")
    in_channels = tuple(int(state_dict[k].shape[1]) for k in lateral)
    if "backbone.conv1.weight" in state_dict:
        return AdapterConfig(backbone="resnet50_caffe", in_channels=in_channels, in_strides=(4, 8, 16, 32), roi_levels=4)
    return AdapterConfig(
        backbone=None, in_channels=in_channels, in_strides=(8, 16, 32), roi_levels=3, resize=(1333, 800)
    )


def _sam_adapter_config(state_dict: dict[str, Tensor]) -> Any:
    """SAM-MASA (SimpleFPN + DyHead, SPEC §3.4): ViT width from `fpn1`, the other widths and the
    block counts from the keys (the official files have 256 channels, 3 blocks, 4 convs)."""
    from masa.adapter.model import sam_adapter_config

    def count(prefix: str, suffix: str) -> int:
        keys = (k for k in state_dict if k.startswith(prefix) and k.endswith(suffix))
        return len({k[len(prefix):].split(".")[0] for k in keys})

    head = "track_head.embed_head."
    try:
        convs = count(head + "convs.", ".conv.weight")
        return sam_adapter_config(
            int(state_dict["masa_adapter.0.fpn1.0.weight"].shape[0]),
            channels=int(state_dict["masa_adapter.0.lateral_convs.0.conv.weight"].shape[0]),
            fusion_blocks=count("masa_adapter.1.dyhead_blocks.", ".spatial_conv_offset.weight"),
            head_convs=convs,
            head_conv_channels=int(state_dict[head + "convs.0.conv.weight"].shape[0]) if convs else 256,
            head_fc_channels=int(state_dict[head + "fcs.0.weight"].shape[0]),
            embed_dim=int(state_dict[head + "fc_embed.weight"].shape[0]),
        )
    except KeyError as e:
        raise CheckpointError(f"incomplete SAM-MASA checkpoint: no {e.args[0]} key") from None


def _official_name(key: str) -> str:
    """Our module key -> the official checkpoint's key (inverse of `_OFFICIAL_PREFIXES`)."""
    for old, new in _OFFICIAL_PREFIXES.items():
        if key.startswith(new):
            return old + key[len(new):]
    return key


def _strict_load(model: nn.Module, state: dict[str, Tensor], path: Path, *, official: bool = False) -> None:
    """`load_state_dict(strict=True)` with an error that lists the offending keys (official names
    for official checkpoints)."""
    expected = model.state_dict()
    name = _official_name if official else (lambda k: k)
    missing = sorted(name(k) for k in set(expected) - set(state))
    unexpected = sorted(name(k) for k in set(state) - set(expected))
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s): {', '.join(missing[:10])}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {', '.join(unexpected[:10])}")
    shapes = [
        f"{name(k)} {tuple(v.shape)} != {tuple(expected[k].shape)}"
        for k, v in state.items() if k in expected and v.shape != expected[k].shape
    ]
    if shapes:
        problems.append(f"{len(shapes)} shape mismatch(es): {', '.join(shapes[:10])}")
    if problems:
        raise CheckpointError(f"{path} does not fit the model: " + "; ".join(problems))
    model.load_state_dict(state, strict=True)


def _adapter_state(checkpoint: Checkpoint, path: Path) -> dict[str, Tensor]:
    if checkpoint.source != "official":
        return checkpoint.state_dict
    state, set_aside, unknown = convert_official_masa_checkpoint(checkpoint.state_dict)
    if unknown:
        raise CheckpointError(
            f"{path} does not fit the model: {len(unknown)} unexpected key(s): {', '.join(sorted(unknown)[:10])}"
        )
    if set_aside:
        heads = sorted({k.split(".")[0] for k in set_aside})
        logger.info("%s: set aside %d tensors of %s (not used for tracking)", path, len(set_aside), heads)
    return state


def load_adapter_weights(model: nn.Module, path: str | os.PathLike[str]) -> Checkpoint:
    """Loads adapter weights strictly from our format or an official checkpoint.

    Raises:
        CheckpointError: unreadable file, or any missing, unexpected or mis-shaped key (listed).
    """
    path = Path(path)
    checkpoint = read_checkpoint(path)
    _strict_load(model, _adapter_state(checkpoint, path), path, official=checkpoint.source == "official")
    return checkpoint


def load_adapter(
    name_or_path: str | os.PathLike[str], *, device: str | torch.device = "cpu", resize: int | None = None
) -> Any:
    """Builds the adapter a checkpoint describes and loads it strictly.

    Args:
        name_or_path: a file (our `.safetensors` format or an official MASA `.pth`) or a known name.
        device: where the model lives.
        resize: inference side (keep-ratio resize target, square) instead of the checkpoint's own;
            None keeps the checkpoint's.

    Returns:
        MasaAdapter in eval mode; `adapter.embed(image, boxes_xyxy)` gives raw (N, 256) embeddings.
    """
    from masa.adapter.model import AdapterConfig, MasaAdapter

    path = resolve_checkpoint(name_or_path)
    checkpoint = read_checkpoint(path)
    if checkpoint.source == "masa":
        if checkpoint.metadata.get("model") != "adapter":
            raise CheckpointError(f"{path} holds a {checkpoint.metadata.get('model')!r} model, not an adapter")
        config = AdapterConfig.from_dict(checkpoint.metadata["model_args"])
    elif checkpoint.source == "official":
        config = official_adapter_config(checkpoint.state_dict)
    else:
        raise CheckpointError(f"{path}: a bare state dict does not say which model it is; use an official or masa checkpoint")
    if resize is not None:
        if resize < config.pad_divisor:
            raise ValueError(f"resize must be at least the pad divisor {config.pad_divisor}, but got {resize}")
        config = dataclasses.replace(config, resize=(resize, resize))
    model = MasaAdapter(config)
    _strict_load(model, _adapter_state(checkpoint, path), path, official=checkpoint.source == "official")
    return model.to(device).eval()


def save_adapter(model: Any, path: str | os.PathLike[str], **metadata: Any) -> Path:
    """Writes an adapter in the project's self-describing format (atomically).

    Args:
        model: a `MasaAdapter`.
        path: destination `.safetensors` file.
        **metadata: extra JSON-serialisable metadata (training step, config, data, ...).
    """
    from safetensors.torch import save_file

    from masa import __version__

    path = Path(path)
    header = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "model": "adapter",
              "model_args": model.config.to_dict(), "masa_version": __version__, **metadata}
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        save_file(state, str(tmp), metadata={k: json.dumps(v) for k, v in header.items()})
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # safetensors creates 0600 files; use the user's umask
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
