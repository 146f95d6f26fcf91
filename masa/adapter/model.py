"""The MASA adapter: backbone features -> pyramid neck -> deformable fusion -> RoI embeddings."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from masa.adapter.backbones import CaffeResNet50, ResNet18, ShuffleNetV2
from masa.adapter.fusion import DeformFusion, DyHead
from masa.adapter.head import EmbedHead, extract_roi_features, map_rois_to_levels
from masa.adapter.necks import FPN, SimpleFPN
from masa.adapter.preprocess import preprocess_image

__all__ = [
    "AdapterConfig",
    "sam_adapter_config",
    "MasaAdapter",
    "build_masa_adapter",
]

#: Backbones an adapter can own, by the name stored in self-describing checkpoints.
BACKBONES: dict[str, type[nn.Module]] = {
    "resnet50_caffe": CaffeResNet50,
    "resnet18": ResNet18,
    "shufflenetv2_x0.5": ShuffleNetV2,
}


@dataclass(frozen=True)
class AdapterConfig:
    """Everything needed to rebuild an adapter; stored in the project's own checkpoints.

    Attributes:
        backbone: name of the adapter's own backbone (a key of `BACKBONES`), or None when the
            features come from a detector's frozen backbone (MASA's "unified" variants).
        in_channels: channels of the backbone levels fed to the neck, finest first.
        in_strides: strides of those levels.
        channels: channels of every neck/fusion level.
        num_outs: number of pyramid levels after the neck.
        fusion_blocks: number of fusion blocks (0 disables fusion).
        roi_levels: how many of the finest levels RoIs are pooled from.
        head_convs, head_conv_channels, head_fc_channels, embed_dim: the embed head.
        resize: keep-ratio resize target of the preprocessing.
        pad_divisor: padding multiple of the preprocessing.
        neck: "fpn" (mmdet FPN, SPEC §2.2) or "simple_fpn" (SAM ViT maps, SPEC §2.3).
        fusion: "deform_fusion" (MASA DeformFusion, SPEC §2.4) or "dyhead" (mmdet DyHead, §2.5).
    """

    backbone: str | None = "resnet50_caffe"
    in_channels: tuple[int, ...] = (256, 512, 1024, 2048)
    in_strides: tuple[int, ...] = (4, 8, 16, 32)
    channels: int = 256
    num_outs: int = 5
    fusion_blocks: int = 3
    roi_levels: int = 4
    head_convs: int = 4
    head_conv_channels: int = 256
    head_fc_channels: int = 1024
    embed_dim: int = 256
    resize: tuple[int, int] = (1024, 1024)
    pad_divisor: int = 32
    extra: dict[str, Any] = field(default_factory=dict)
    neck: str = "fpn"
    fusion: str = "deform_fusion"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> AdapterConfig:
        """Inverse of `to_dict`; unknown keys are an error."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown adapter config keys: {unknown}")
        tuples = {"in_channels", "in_strides", "resize"}
        return cls(**{k: (tuple(v) if k in tuples else v) for k, v in values.items()})

    @property
    def strides(self) -> tuple[int, ...]:
        """Strides of all `num_outs` pyramid levels."""
        if self.neck == "simple_fpn":  # x4, x2, x1, /2 of the ViT stride, then /2 per extra level
            return tuple(self.in_strides[0] * 2**i // 4 for i in range(self.num_outs))
        out = list(self.in_strides)
        while len(out) < self.num_outs:
            out.append(out[-1] * 2)
        return tuple(out)


class MasaAdapter(nn.Module):
    """MASA adapter + track head (SPEC §0, §2).

    Submodules (their parameter names map 1:1 onto the official keys, see `masa.adapter.official`):
    `backbone` (optional), `neck` (FPN or SimpleFPN, `masa_adapter.0`), `fusion` (DeformFusion or
    DyHead, `masa_adapter.1`), `head` (EmbedHead, `track_head.embed_head`).

    Args:
        config: the architecture.
    """

    def __init__(self, config: AdapterConfig) -> None:
        super().__init__()
        if config.backbone is not None and config.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {config.backbone!r}; known: {sorted(BACKBONES)}")
        self.config = config
        #: dtype of CPU/CUDA autocast in `embed`/`embed_batch` (None: float32, the exact path).
        self.autocast_dtype: torch.dtype | None = None
        self.backbone = BACKBONES[config.backbone]() if config.backbone else None
        self.neck = _build_neck(config)
        self.fusion = _build_fusion(config) if config.fusion_blocks else None
        self.head = EmbedHead(
            config.channels,
            num_convs=config.head_convs,
            conv_channels=config.head_conv_channels,
            fc_channels=config.head_fc_channels,
            embed_dim=config.embed_dim,
        )

    @property
    def roi_strides(self) -> tuple[int, ...]:
        """Strides of the levels RoIs are pooled from."""
        return self.config.strides[: self.config.roi_levels]

    @property
    def batch_frames(self) -> int:
        """Frames per `embed_batch` call in the overlapped loop: as many as keep the batch's
        input near one megapixel, 1 to 8 (a 1024-px MASA-R50 frame alone fills it)."""
        height, width = self.config.resize
        return max(1, min(8, 2**20 // (height * width)))

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def adapt(self, feats: list[Tensor], levels: Iterable[int] | None = None) -> list[Tensor]:
        """Neck + fusion on backbone features.

        Args:
            feats: `len(config.in_channels)` maps `(B, C_l, H_l, W_l)`, finest first.
            levels: the fused levels wanted (default all); the fusion skips work that only
                other levels need and returns None for them (same values for the rest).

        Returns:
            list[Tensor]: `num_outs` maps `(B, channels, H_l, W_l)`.
        """
        x = self.neck(feats)
        return self.fusion(x, levels) if self.fusion is not None else x

    def features(self, images: Tensor, levels: Iterable[int] | None = None) -> list[Tensor]:
        """Backbone + neck + fusion on preprocessed images `Tensor[B, 3, H, W]`; `levels` as in
        `adapt`."""
        if self.backbone is None:
            raise RuntimeError(
                "this adapter has no backbone of its own: "
                "pass a detector's backbone features to adapt()"
            )
        if images.device.type == "cpu":  # oneDNN's fast layout (fp32 ~15%, bf16 ~3x faster)
            images = images.contiguous(memory_format=torch.channels_last)  # no copy if already
        return self.adapt(self.backbone(images), levels)

    def roi_levels_of(self, rois: Tensor) -> list[int]:
        """The pyramid levels `embed_rois` pools `rois` (Tensor[K, 5]) from."""
        return map_rois_to_levels(rois, len(self.roi_strides)).unique().tolist()

    def embed_features(self, feats: list[Tensor], rois: Tensor) -> Tensor:
        """`embed_rois(adapt(feats), rois)`, computing only the fused levels the RoIs use."""
        return self.embed_rois(self.adapt(feats, self.roi_levels_of(rois)), rois)

    def embed_rois(self, fused: list[Tensor], rois: Tensor) -> Tensor:
        """Embeddings of RoIs pooled from fused maps.

        Args:
            fused: output of `adapt`/`features`.
            rois (Tensor[K, 5]): `(batch_idx, x1, y1, x2, y2)` in network-input pixels.

        Returns:
            Tensor[K, embed_dim]: raw embeddings (not normalised).
        """
        return self.head(extract_roi_features(fused, rois, self.roi_strides))

    def forward(self, images: Tensor, rois: Tensor) -> Tensor:
        """Embeds RoIs of preprocessed images; see `features` and `embed_rois` (only the fused
        levels the RoIs use are computed)."""
        return self.embed_rois(self.features(images, self.roi_levels_of(rois)), rois)

    def prepare(self, image: np.ndarray) -> tuple[Tensor, tuple[float, float]]:
        """Preprocesses one frame for `embed_batch`, on the CPU (safe in a background thread).

        Args:
            image (np.ndarray[H, W, 3] uint8): RGB frame at original resolution.

        Returns:
            (Tensor[1, 3, Hp, Wp] float32, (sx, sy)): see `preprocess_image`.
        """
        return preprocess_image(
            image, scale=self.config.resize, pad_divisor=self.config.pad_divisor
        )

    @torch.inference_mode()
    def embed_batch(
        self, prepared: Sequence[tuple[Tensor, tuple[float, float]]], boxes: Sequence[Any]
    ) -> list[Tensor]:
        """Embeds the boxes of several frames, one forward for each group of equally sized frames.

        Runs under autocast when `autocast_dtype` is set (e.g. `torch.bfloat16`).

        Args:
            prepared: `prepare(image)` of each frame.
            boxes: per frame, array-like `[N_i, 4]` boxes in original pixel coordinates.

        Returns:
            list[Tensor[N_i, embed_dim]] float32 on the adapter's device: raw embeddings.
        """
        device = self.device
        results = [torch.zeros((0, self.config.embed_dim), device=device)] * len(prepared)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, (frame_boxes, (images, _)) in enumerate(zip(boxes, prepared)):
            if len(frame_boxes):
                groups.setdefault(tuple(images.shape), []).append(i)
        dtype = self.autocast_dtype
        autocast = torch.autocast(device.type, dtype=dtype) if dtype else nullcontext()
        for members in groups.values():  # one group per frame size: padding stays per frame
            images = torch.cat([prepared[i][0] for i in members]).to(device)
            rois = []  # (batch index, x1, y1, x2, y2) in network pixels, built on the host
            for j, i in enumerate(members):  # per frame, not per box
                xyxy = np.asarray(boxes[i], dtype=np.float32).reshape(-1, 4)
                sx, sy = prepared[i][1]
                scaled = xyxy * np.array([sx, sy, sx, sy], dtype=np.float32)
                rois.append(np.concatenate([np.full((len(xyxy), 1), j, np.float32), scaled], 1))
            with autocast:  # one host-to-device copy of the RoIs per group
                embeddings = self.forward(images, torch.from_numpy(np.concatenate(rois)).to(device))
            for i, part in zip(members, embeddings.float().split([len(r) for r in rois])):
                results[i] = part
        return results

    def embed(self, image: np.ndarray, boxes_xyxy: Any) -> Tensor:
        """Embeds boxes of one frame exactly as the official track head does (SPEC §4.2 `E`).

        Args:
            image (np.ndarray[H, W, 3] uint8): RGB frame at original resolution.
            boxes_xyxy (array-like[N, 4]): boxes in original pixel coordinates.

        Returns:
            Tensor[N, embed_dim] float32 on the adapter's device: raw embeddings.
        """
        boxes = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4)
        if not len(boxes):
            return torch.zeros((0, self.config.embed_dim), device=self.device)
        return self.embed_batch([self.prepare(image)], [boxes])[0]


def build_masa_adapter(config: AdapterConfig, *, device: str | torch.device = "cpu") -> MasaAdapter:
    """Builds an adapter of any architecture with random weights, in eval mode."""
    return MasaAdapter(config).to(device).eval()


def sam_adapter_config(vit_width: int, **changes: Any) -> AdapterConfig:
    """The `AdapterConfig` of MASA-SAM for a ViT of width `vit_width`; `changes` override fields."""
    values: dict[str, Any] = dict(
        backbone=None,
        in_channels=(vit_width,) * 4,
        in_strides=(16,) * 4,
        neck="simple_fpn",
        fusion="dyhead",
        roi_levels=4,
        resize=(1024, 1024),
        pad_divisor=1024,
    )
    return AdapterConfig(**{**values, **changes})


def _build_neck(config: AdapterConfig) -> nn.Module:
    if config.neck == "fpn":
        return FPN(config.in_channels, config.channels, config.num_outs)
    if config.neck == "simple_fpn":
        return SimpleFPN(config.in_channels, config.channels, config.num_outs)
    raise ValueError(f"unknown neck {config.neck!r}; known: 'fpn', 'simple_fpn'")


def _build_fusion(config: AdapterConfig) -> nn.Module:
    if config.fusion == "deform_fusion":
        return DeformFusion(config.channels, config.fusion_blocks)
    if config.fusion == "dyhead":
        return DyHead(config.channels, config.fusion_blocks)
    raise ValueError(f"unknown fusion {config.fusion!r}; known: 'deform_fusion', 'dyhead'")
