"""RoI feature extraction and the MASA track (embedding) head (SPEC §2.7, §2.8)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import roi_align

__all__ = ["EmbedHead", "map_rois_to_levels", "extract_roi_features"]

FINEST_SCALE = 56


def map_rois_to_levels(rois: Tensor, num_levels: int) -> Tensor:
    """mmdet `SingleRoIExtractor.map_roi_levels` with `finest_scale=56`.

    Args:
        rois (Tensor[K, 5]): `(batch_idx, x1, y1, x2, y2)` in network-input pixels.
        num_levels: number of pyramid levels used for RoI pooling.

    Returns:
        Tensor[K] int64: level index per RoI (scale < 112 -> 0, < 224 -> 1, < 448 -> 2, else 3).
    """
    scale = torch.sqrt((rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2]))
    levels = torch.floor(torch.log2(scale / FINEST_SCALE + 1e-6))
    return levels.clamp(min=0, max=num_levels - 1).long()


def extract_roi_features(
    feats: list[Tensor], rois: Tensor, strides: tuple[int, ...], output_size: int = 7
) -> Tensor:
    """Pools each RoI from its level with `roi_align(aligned=True, sampling_ratio=0)` (SPEC §2.7).

    Args:
        feats: at least `len(strides)` maps `(B, C, H_l, W_l)`; only the first `len(strides)` are
            used, and a level no RoI maps to may be None.
        rois (Tensor[K, 5]): `(batch_idx, x1, y1, x2, y2)` in network-input pixels.
        strides: stride of each used level.

    Returns:
        Tensor[K, C, output_size, output_size]
    """
    first = next(f for f in feats if f is not None)  # levels no RoI uses may be None
    out = first.new_zeros(rois.shape[0], first.shape[1], output_size, output_size)
    if rois.shape[0] == 0:
        return out
    levels = map_rois_to_levels(rois, len(strides))
    for level, stride in enumerate(strides):
        inds = (levels == level).nonzero().flatten()
        if inds.numel():
            out[inds] = roi_align(
                feats[level],
                rois[inds].to(feats[level].dtype),
                output_size,
                spatial_scale=1.0 / stride,
                sampling_ratio=0,
                aligned=True,
            )
    return out


class ConvGNReLU(nn.Module):
    """mmcv `ConvModule(conv3x3 no bias -> GroupNorm(32) -> ReLU)`; keys `conv.*`, `gn.*`."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.gn = nn.GroupNorm(32, out_channels)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.gn(self.conv(x)))


class EmbedHead(nn.Module):
    """mmdet `QuasiDenseEmbedHead(num_convs=4, num_fcs=1, embed_channels=256, norm=GN32)`
    (SPEC §2.8).

    Keys `convs.{i}.{conv,gn}.*`, `fcs.0.*`, `fc_embed.*` (the official `track_head.embed_head.*`).

    Args:
        in_channels: channels of the pooled RoI features.
        num_convs: number of 3x3 conv + GN + ReLU layers.
        conv_channels: channels of those convs.
        fc_channels: width of the hidden fully connected layer.
        embed_dim: size of the output embedding.
        roi_size: side of the pooled RoI features.
    """

    def __init__(
        self,
        in_channels: int = 256,
        *,
        num_convs: int = 4,
        conv_channels: int = 256,
        fc_channels: int = 1024,
        embed_dim: int = 256,
        roi_size: int = 7,
    ) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            ConvGNReLU(in_channels if i == 0 else conv_channels, conv_channels)
            for i in range(num_convs)
        )
        flat = (conv_channels if num_convs else in_channels) * roi_size * roi_size
        self.fcs = nn.ModuleList([nn.Linear(flat, fc_channels)])
        self.fc_embed = nn.Linear(fc_channels, embed_dim)
        nn.init.xavier_uniform_(self.fcs[0].weight)
        nn.init.zeros_(self.fcs[0].bias)
        nn.init.normal_(self.fc_embed.weight, 0, 0.01)
        nn.init.zeros_(self.fc_embed.bias)

    def forward(self, roi_feats: Tensor) -> Tensor:
        """Args:
            roi_feats (Tensor[K, C, 7, 7]): pooled RoI features.

        Returns:
            Tensor[K, embed_dim]: raw embeddings (no normalisation, no activation).
        """
        x = roi_feats
        for conv in self.convs:
            x = conv(x)
        x = x.flatten(1)  # (K, C*7*7), channel-major
        x = F.relu(self.fcs[0](x))
        return self.fc_embed(x)
