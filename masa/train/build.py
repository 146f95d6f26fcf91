"""Builders of the trainable models: the official R50 architecture and a small ShuffleNetV2 adapter.

One builder with the backbone, channel widths and embedding size as arguments, mapped onto
`AdapterConfig` and `HeadsConfig`; no model code is copied.
"""

from __future__ import annotations

import logging
import os

from masa.adapter.backbones import ShuffleNetV2, load_imagenet_shufflenetv2
from masa.adapter.model import AdapterConfig, MasaAdapter
from masa.errors import InputError
from masa.train.heads import HeadsConfig, ObjectPriorHeads

__all__ = ["MODELS", "adapter_config_for", "heads_config_for", "build_training_models"]

logger = logging.getLogger(__name__)

#: Trainable architectures: "r50" is MASA-R50 (SPEC §1.1); "lite" a CPU-sized adapter.
MODELS = ("r50", "lite")


def adapter_config_for(model: str, *, channels: int | None = None, embed_dim: int | None = None,
                       size: int | None = None, fusion_blocks: int | None = None) -> AdapterConfig:
    """The adapter architecture of a trainable model.

    Args:
        model: "r50": caffe ResNet-50 (trained), 4-in FPN, 3 DeformFusion blocks, 4-conv embed
            head, 256 channels, 256-d embeddings, 1024 px. "lite": ShuffleNetV2 0.5x (strides
            8/16/32), 3-in FPN with 5 outputs, no DeformFusion, 1-conv embed head with a
            256-wide fc, 64 channels, 128-d embeddings, 640 px (1.15 M parameters, 4.6 MB fp32).
        channels: neck, fusion and embed-head channels (a multiple of 32; None: model default).
        embed_dim: embedding size (None: the model's default).
        size: training view side and inference resize target (None: the model's default).
        fusion_blocks: DeformFusion blocks (None: the model's default). "lite" has none by default
            because torchvision's CPU `deform_conv2d` backward is slow: one 64-channel block makes
            a CPU training step about 6x slower (measured at 512 px). On a GPU, 1 is affordable.

    Raises:
        InputError: unknown model, or channels not a positive multiple of 32 (GroupNorm(32) layers).
    """
    if model not in MODELS:
        raise InputError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    if channels is not None and (channels <= 0 or channels % 32):
        raise InputError(f"channels must be a positive multiple of 32 (GroupNorm), got {channels}")
    if embed_dim is not None and embed_dim <= 0:
        raise InputError(f"embed_dim must be positive, got {embed_dim}")
    if fusion_blocks is not None and fusion_blocks < 0:
        raise InputError(f"fusion_blocks must be >= 0, got {fusion_blocks}")
    if model == "r50":
        width, side = channels or 256, size or 1024
        return AdapterConfig(
            backbone="resnet50_caffe", in_channels=(256, 512, 1024, 2048),
            in_strides=(4, 8, 16, 32),
            channels=width, num_outs=5, fusion_blocks=3 if fusion_blocks is None else fusion_blocks,
            roi_levels=4, head_convs=4, head_conv_channels=width, head_fc_channels=1024,
            embed_dim=embed_dim or 256, resize=(side, side), pad_divisor=32,
        )
    width, side = channels or 64, size or 640
    return AdapterConfig(
        backbone="shufflenetv2_x0.5", in_channels=ShuffleNetV2.out_channels,
        in_strides=ShuffleNetV2.strides,
        channels=width, num_outs=5, fusion_blocks=fusion_blocks or 0, roi_levels=3, head_convs=1,
        head_conv_channels=width, head_fc_channels=256, embed_dim=embed_dim or 128,
        resize=(side, side), pad_divisor=32,
    )


def heads_config_for(model: str, adapter: AdapterConfig) -> HeadsConfig:
    """Distillation heads on an adapter: `Shared4Conv1FCBBoxHead` (1024) for r50, a 2-fc head of
    width 256 for lite."""
    strides = adapter.strides
    roi_strides = strides[: adapter.roi_levels]
    if model == "r50":
        return HeadsConfig(adapter.channels, strides, roi_strides, box_convs=4,
                           box_fc_channels=1024)
    return HeadsConfig(adapter.channels, strides, roi_strides, box_convs=0, box_fc_channels=256)


def build_training_models(
    model: str,
    *,
    channels: int | None = None,
    embed_dim: int | None = None,
    size: int | None = None,
    fusion_blocks: int | None = None,
    backbone_weights: str | os.PathLike[str] | None = None,
    init_checkpoint: str | os.PathLike[str] | None = None,
) -> tuple[MasaAdapter, ObjectPriorHeads]:
    """A trainable adapter and its distillation heads, in train mode, on the CPU.

    Args:
        model, channels, embed_dim, size, fusion_blocks: see `adapter_config_for`.
        backbone_weights: ImageNet initialisation of the backbone: megvii ShuffleNetV2 0.5x weights
            for "lite" (e.g. FastestDet's `shufflenetv2.pth`), a torchvision-layout ResNet-50 state
            dict for "r50". None: random (the official R50 config has no backbone init).
        init_checkpoint: start from these adapter weights instead (a masa `.safetensors`, an
            official MASA `.pth`, or a known name such as "masa_r50"), e.g. to fine-tune.

    Raises:
        InputError: bad architecture options or weights that do not fit.
    """
    config = adapter_config_for(model, channels=channels, embed_dim=embed_dim, size=size,
                                fusion_blocks=fusion_blocks)
    adapter = MasaAdapter(config)
    if backbone_weights is not None:
        _load_backbone(adapter, model, backbone_weights)
    if init_checkpoint is not None:
        from masa.adapter.loading import load_adapter_weights
        from masa.weights import resolve_checkpoint

        load_adapter_weights(adapter, resolve_checkpoint(init_checkpoint))
    heads = ObjectPriorHeads(heads_config_for(model, config))
    return adapter.train(), heads.train()


def _load_backbone(adapter: MasaAdapter, model: str, path: str | os.PathLike[str]) -> None:
    if model == "lite":
        load_imagenet_shufflenetv2(path, adapter.backbone)  # type: ignore[arg-type]
    else:
        from masa.safe_load import load_weights_file

        state = load_weights_file(path, what="backbone weights")
        if not isinstance(state, dict):
            raise InputError(f"{path}: expected a state dict, but got {type(state).__name__}")
        state = {k.removeprefix("backbone."): v for k, v in state.items()
                 if not k.startswith("fc.")}
        assert adapter.backbone is not None
        try:
            result = adapter.backbone.load_state_dict(state, strict=False)
        except RuntimeError as e:  # shape mismatches
            raise InputError(f"{path} does not fit the ResNet-50 backbone: {e}") from None
        if result.missing_keys or result.unexpected_keys:
            raise InputError(f"{path} does not fit the ResNet-50 backbone: missing "
                             f"{result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}")
    logger.info("backbone initialised from %s", path)
