"""Adapters from and to checkpoint files: building the adapter a file describes, strict loading
(our format or an official MASA checkpoint), and saving in the project's own format."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from masa.adapter.model import AdapterConfig, MasaAdapter, sam_adapter_config
from masa.adapter.official import (
    convert_official_masa_checkpoint,
    official_adapter_config,
    official_name,
)
from masa.strict_load import strict_load
from masa.weights import (
    FORMAT_NAME,
    FORMAT_VERSION,
    Checkpoint,
    CheckpointError,
    read_checkpoint,
    resolve_checkpoint,
)

__all__ = [
    "load_adapter",
    "load_adapter_weights",
    "save_adapter",
    "build_masa_adapter_r50",
    "build_masa_adapter_gdino",
    "build_masa_adapter_sam",
]

logger = logging.getLogger(__name__)


def _adapter_state(checkpoint: Checkpoint, path: Path) -> dict[str, Tensor]:
    if checkpoint.source != "official":
        return checkpoint.state_dict
    state, set_aside, unknown = convert_official_masa_checkpoint(checkpoint.state_dict)
    if unknown:
        raise CheckpointError(
            f"{path} does not fit the model: {len(unknown)} unexpected key(s): "
            f"{', '.join(sorted(unknown)[:10])}"
        )
    if set_aside:
        heads = sorted({k.split(".")[0] for k in set_aside})
        logger.info("%s: set aside %d tensors of %s (not used for tracking)", path, len(set_aside),
                    heads)
    return state


def _load_strictly(model: nn.Module, checkpoint: Checkpoint, path: Path) -> None:
    names = official_name if checkpoint.source == "official" else None
    strict_load(model, _adapter_state(checkpoint, path), path, names=names)


def load_adapter_weights(model: nn.Module, path: str | os.PathLike[str]) -> Checkpoint:
    """Loads adapter weights strictly from our format or an official checkpoint.

    Raises:
        CheckpointError: unreadable file, or any missing, unexpected or mis-shaped key (listed).
    """
    path = Path(path)
    checkpoint = read_checkpoint(path)
    _load_strictly(model, checkpoint, path)
    return checkpoint


def load_adapter(
    name_or_path: str | os.PathLike[str],
    *,
    device: str | torch.device = "cpu",
    resize: int | None = None,
) -> MasaAdapter:
    """Builds the adapter a checkpoint describes and loads it strictly.

    Args:
        name_or_path: a file (our `.safetensors` format or an official MASA `.pth`) or a known name.
        device: where the model lives.
        resize: inference side (keep-ratio resize target, square) instead of the checkpoint's own;
            None keeps the checkpoint's.

    Returns:
        MasaAdapter in eval mode; `adapter.embed(image, boxes_xyxy)` gives raw (N, 256) embeddings.
    """
    path = resolve_checkpoint(name_or_path)
    checkpoint = read_checkpoint(path)
    if checkpoint.source == "masa":
        if checkpoint.metadata.get("model") != "adapter":
            raise CheckpointError(
                f"{path} holds a {checkpoint.metadata.get('model')!r} model, not an adapter"
            )
        config = AdapterConfig.from_dict(checkpoint.metadata["model_args"])
    elif checkpoint.source == "official":
        config = official_adapter_config(checkpoint.state_dict)
    else:
        raise CheckpointError(f"{path}: a bare state dict does not say which model it is; "
                              "use an official or masa checkpoint")
    if resize is not None:
        if resize < config.pad_divisor:
            raise ValueError(
                f"resize must be at least the pad divisor {config.pad_divisor}, but got {resize}"
            )
        config = dataclasses.replace(config, resize=(resize, resize))
    model = MasaAdapter(config)
    _load_strictly(model, checkpoint, path)
    return model.to(device).eval()


def save_adapter(model: MasaAdapter, path: str | os.PathLike[str], **metadata: Any) -> Path:
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


def build_masa_adapter_r50(
    *, checkpoint: str | None = None, device: str | torch.device = "cpu"
) -> MasaAdapter:
    """MASA-R50 (`masa_r50.pth`): own caffe ResNet-50, 4-in FPN, 3 DeformFusion blocks, 4 RoI
    levels.

    Args:
        checkpoint: path or known name (see `masa.weights.resolve_checkpoint`); None gives random
            weights.
        device: where the model lives.
    """
    config = AdapterConfig(
        backbone="resnet50_caffe", in_channels=(256, 512, 1024, 2048), in_strides=(4, 8, 16, 32),
        roi_levels=4, resize=(1024, 1024), pad_divisor=32,
    )
    return _build_and_load(config, checkpoint, device)


def build_masa_adapter_gdino(
    *, checkpoint: str | None = None, device: str | torch.device = "cpu"
) -> MasaAdapter:
    """MASA-GroundingDINO / MASA-Detic adapter: no own backbone; Swin-B stages 1-3 (256/512/1024 ch,
    strides 8/16/32), 3-in FPN, 3 DeformFusion blocks, 3 RoI levels (SPEC §3.3)."""
    config = AdapterConfig(
        backbone=None, in_channels=(256, 512, 1024), in_strides=(8, 16, 32),
        roi_levels=3, resize=(1333, 800), pad_divisor=32,
    )
    return _build_and_load(config, checkpoint, device)


def build_masa_adapter_sam(
    *, vit_width: int = 768, checkpoint: str | None = None, device: str | torch.device = "cpu"
) -> MasaAdapter:
    """MASA-SAM adapter (`sam_vitb_masa.pth`: vit_width 768, `sam_vith_masa.pth`: 1280): no own
    backbone; four stride-16 ViT block outputs, SimpleFPN, 3 DyHead blocks, 4 RoI levels at
    strides 4-32; 1024x1024 input (SPEC §1.1, §3.4)."""
    return _build_and_load(sam_adapter_config(vit_width), checkpoint, device)


def _build_and_load(
    config: AdapterConfig, checkpoint: str | None, device: str | torch.device
) -> MasaAdapter:
    model = MasaAdapter(config)
    if checkpoint is not None:
        load_adapter_weights(model, resolve_checkpoint(checkpoint))
    return model.to(device).eval()
