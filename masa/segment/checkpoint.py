"""SAM-MASA checkpoints (`sam_vitb_masa.pth`, `sam_vith_masa.pth`; SPEC §3.4): one file holds the
adapter (`masa_adapter.*`, `track_head.*`), the detection head (`rpn_head.*`,
`roi_head.bbox_head.*`) and SAM itself (`detector.backbone.*` = SAM's `image_encoder.*`,
`detector.prompt_encoder.*`, `detector.mask_decoder.*`). Every part loads strictly; the
architecture of each part is read from its keys and shapes.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from torch import Tensor

from masa.adapter.model import MasaAdapter
from masa.adapter.official import (
    convert_official_masa_checkpoint,
    official_adapter_config,
    official_name,
)
from masa.segment.model import SamMasa
from masa.segment.proposals import ObjectProposer
from masa.segment.sam import load_sam
from masa.strict_load import strict_load
from masa.weights import CheckpointError, read_checkpoint, resolve_checkpoint

__all__ = ["split_sam_masa_state", "load_sam_masa", "save_sam_masa"]

logger = logging.getLogger(__name__)

#: Official `detector.*` prefixes -> `segment_anything` `Sam` prefixes.
_DETECTOR_TO_SAM = {
    "detector.backbone.": "image_encoder.",
    "detector.prompt_encoder.": "prompt_encoder.",
    "detector.mask_decoder.": "mask_decoder.",
}
_PROPOSER_PREFIXES = ("rpn_head.", "roi_head.bbox_head.")


def split_sam_masa_state(
    state: dict[str, Tensor],
) -> tuple[dict[str, Tensor], dict[str, Tensor], dict[str, Tensor], list[str]]:
    """Splits an official SAM-MASA state dict into its parts.

    Returns:
        (adapter, proposer, sam, unknown): the adapter's tensors under our module names; the
        detection head's under their official names; SAM's under `segment_anything` names (empty
        when the file carries no `detector.*`); keys that fit none of them.
    """
    adapter, set_aside, unknown = convert_official_masa_checkpoint(state)
    proposer, sam = {}, {}
    for key, value in set_aside.items():
        if key.startswith(_PROPOSER_PREFIXES):
            proposer[key] = value
            continue
        for old, new in _DETECTOR_TO_SAM.items():
            if key.startswith(old):
                sam[new + key[len(old):]] = value
                break
        else:
            unknown.append(key)
    return adapter, proposer, sam, unknown


def _build_proposer(adapter: MasaAdapter, state: dict[str, Tensor], path: Path) -> ObjectProposer:
    config = adapter.config
    fc = state.get("roi_head.bbox_head.shared_fcs.0.weight")
    proposer = ObjectProposer(
        config.strides, roi_levels=config.roi_levels, channels=config.channels,
        fc_channels=int(fc.shape[0]) if fc is not None else 1024,
    )
    strict_load(proposer, state, path)
    return proposer


def load_sam_masa(
    checkpoint: str | os.PathLike[str],
    *,
    sam: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
) -> SamMasa:
    """Builds SAM + adapter + detection head from one official-layout SAM-MASA checkpoint.

    Args:
        checkpoint: a file or a known name (`sam_vitb_masa`, `sam_vith_masa`).
        sam: SAM weights to use instead of the checkpoint's `detector.*` (a plain SAM checkpoint
            path or a `masa.segment.SAM_WEIGHTS` name); required when the file has none.
        device: where the model lives.

    Returns:
        SamMasa in eval mode; `proposer` is None when the file has no detection head.

    Raises:
        CheckpointError: not a SAM-MASA checkpoint, missing SAM weights, or any missing,
            unexpected or mis-shaped key (listed with official names).
    """
    path = resolve_checkpoint(checkpoint)
    state = read_checkpoint(path).state_dict
    if "masa_adapter.0.fpn1.0.weight" not in state:
        raise CheckpointError(
            f"{path} is not a SAM-MASA checkpoint (no SimpleFPN masa_adapter.0.fpn1.* keys)"
        )
    adapter_state, proposer_state, sam_state, unknown = split_sam_masa_state(state)
    if unknown:
        raise CheckpointError(
            f"{path} does not fit the model: {len(unknown)} unexpected key(s): "
            f"{', '.join(sorted(unknown)[:10])}"
        )
    adapter = MasaAdapter(official_adapter_config(state))
    strict_load(adapter, adapter_state, path, names=official_name)
    proposer = _build_proposer(adapter, proposer_state, path) if proposer_state else None
    if sam is not None:
        if sam_state:
            logger.info("%s: using SAM weights from %s instead of the checkpoint's detector.*", path, sam)
        sam_model = load_sam(sam)
    elif sam_state:
        sam_model = load_sam(sam_state)
    else:
        raise CheckpointError(
            f"{path} carries no SAM weights (detector.*): give SAM weights too (a SAM checkpoint path, "
            "sam_vit_b or sam_vit_h)"
        )
    return SamMasa(sam_model, adapter, proposer).to(device).eval()


def save_sam_masa(model: SamMasa, path: str | os.PathLike[str], *, with_sam: bool = True) -> Path:
    """Writes a model in the official SAM-MASA layout (a bare state dict, atomically).

    Args:
        model: the model to save.
        path: destination `.pth` file.
        with_sam: also write SAM under `detector.*` (one file is then enough to run).
    """
    state = {official_name(k): v for k, v in model.adapter.state_dict().items()}
    if model.proposer is not None:
        state.update(model.proposer.state_dict())
    if with_sam:
        sam_to_detector = {new: old for old, new in _DETECTOR_TO_SAM.items()}
        for key, value in model.sam.state_dict().items():
            prefix = next(p for p in sam_to_detector if key.startswith(p))
            state[sam_to_detector[prefix] + key[len(prefix):]] = value
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        torch.save({k: v.detach().cpu().contiguous() for k, v in state.items()}, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
