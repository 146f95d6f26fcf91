"""Official MASA checkpoints (SPEC §3) for our adapter: key renaming and the architecture read
from the keys and shapes, kept beside the model they target (as timm keeps
`checkpoint_filter_fn` beside each model)."""

from __future__ import annotations

from torch import Tensor

from masa.adapter.model import AdapterConfig, sam_adapter_config
from masa.weights import CheckpointError

__all__ = ["convert_official_masa_checkpoint", "official_adapter_config", "official_name"]

# Official key prefixes -> our module names (SPEC §3.2); the rest is set aside by name.
_OFFICIAL_PREFIXES = {
    "backbone.": "backbone.",
    "masa_adapter.0.": "neck.",
    "masa_adapter.1.": "fusion.",
    "track_head.embed_head.": "head.",
}
_SET_ASIDE_PREFIXES = ("rpn_head.", "roi_head.", "detector.")


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


def official_name(key: str) -> str:
    """Our module key -> the official checkpoint's key (inverse of the renaming)."""
    for old, new in _OFFICIAL_PREFIXES.items():
        if key.startswith(new):
            return old + key[len(new):]
    return key


def official_adapter_config(state_dict: dict[str, Tensor]) -> AdapterConfig:
    """Infers the `AdapterConfig` of an official checkpoint from its keys and shapes (SPEC §3).

    Raises:
        CheckpointError: not a MASA checkpoint, or an incomplete SAM-MASA one.
    """
    if "masa_adapter.0.fpn1.0.weight" in state_dict:
        return _sam_adapter_config(state_dict)
    lateral = sorted(
        k for k in state_dict
        if k.startswith("masa_adapter.0.lateral_convs.") and k.endswith("conv.weight")
    )
    if not lateral:
        raise CheckpointError(
            "not a MASA checkpoint: no masa_adapter.0.lateral_convs.*.conv.weight keys"
        )
    in_channels = tuple(int(state_dict[k].shape[1]) for k in lateral)
    if "backbone.conv1.weight" in state_dict:
        return AdapterConfig(backbone="resnet50_caffe", in_channels=in_channels,
                             in_strides=(4, 8, 16, 32), roi_levels=4)
    return AdapterConfig(
        backbone=None, in_channels=in_channels, in_strides=(8, 16, 32), roi_levels=3,
        resize=(1333, 800),
    )


def _sam_adapter_config(state_dict: dict[str, Tensor]) -> AdapterConfig:
    """SAM-MASA (SimpleFPN + DyHead, SPEC §3.4): ViT width from `fpn1`, the other widths and the
    block counts from the keys (the official files have 256 channels, 3 blocks, 4 convs)."""

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
            head_conv_channels=(
                int(state_dict[head + "convs.0.conv.weight"].shape[0]) if convs else 256
            ),
            head_fc_channels=int(state_dict[head + "fcs.0.weight"].shape[0]),
            embed_dim=int(state_dict[head + "fc_embed.weight"].shape[0]),
        )
    except KeyError as e:
        raise CheckpointError(f"incomplete SAM-MASA checkpoint: no {e.args[0]} key") from None
