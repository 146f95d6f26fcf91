"""Pyramid necks of the MASA adapter (`masa_adapter.0`): mmdet's FPN (SPEC §2.2) and MASA's
ViTDet-style SimpleFPN for SAM features (SPEC §2.3)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["FPN", "SimpleFPN"]


class ConvNorm(nn.Module):
    """mmcv `ConvModule(conv -> norm)` without activation; keys `conv.*` and `bn.*` (SPEC §3.2)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=1e-5)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.conv(x))


class FPN(nn.Module):
    """mmdet `FPN(in_channels, out_channels, num_outs, norm_cfg=BN)` with nearest upsampling.

    Lateral 1x1 conv + BN, top-down nearest upsample-and-add, 3x3 output conv + BN, no
    activations; extra levels are `max_pool2d(kernel=1, stride=2)` of the last output.

    Args:
        in_channels: channels of each input level, finest first.
        out_channels: channels of every output level.
        num_outs: number of output levels (>= len(in_channels)).
    """

    def __init__(self, in_channels: tuple[int, ...], out_channels: int = 256, num_outs: int = 5) -> None:
        super().__init__()
        if num_outs < len(in_channels):
            raise ValueError(f"num_outs must be >= {len(in_channels)}, but got {num_outs}")
        self.num_outs = num_outs
        self.lateral_convs = nn.ModuleList(ConvNorm(c, out_channels, 1) for c in in_channels)
        self.fpn_convs = nn.ModuleList(ConvNorm(out_channels, out_channels, 3) for _ in in_channels)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        """Args:
            feats: `len(in_channels)` maps `(B, C_l, H_l, W_l)`, finest first.

        Returns:
            list[Tensor]: `num_outs` maps `(B, out_channels, H_l, W_l)`, finest first.
        """
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, feats)]
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(
                laterals[i], size=laterals[i - 1].shape[-2:], mode="nearest"
            )
        outs = [conv(x) for conv, x in zip(self.fpn_convs, laterals)]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], kernel_size=1, stride=2))
        return outs


class _Conv(nn.Module):
    """mmcv `ConvModule(conv)` with bias and neither norm nor activation; key `conv.*`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        nn.init.xavier_uniform_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Norm2d(nn.Module):
    """LayerNorm over channels of a `(B, C, H, W)` map, applied channels-last; key `ln.*`."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(channels, eps=1e-6)

    def forward(self, x: Tensor) -> Tensor:
        return self.ln(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # (B, C, H, W)


class SimpleFPN(nn.Module):
    """MASA `SimpleFPN` (ViTDet style) on four same-stride ViT maps (SPEC §2.3).

    Input i goes through `fpn{i+1}`: x4 upsampling (ConvTranspose, LayerNorm, GELU, ConvTranspose),
    x2 upsampling (ConvTranspose), identity, 2x2 max pooling; then 1x1 lateral convs (with bias),
    top-down nearest upsample-and-add, 3x3 output convs (with bias), and extra levels made by
    `max_pool2d(kernel=1, stride=2)`. Stride-16 inputs give strides 4, 8, 16, 32 (, 64, ...).

    Args:
        in_channels: channels of the four inputs (all equal: the ViT width C).
        out_channels: channels of every output level.
        num_outs: number of output levels (>= 4).
    """

    def __init__(self, in_channels: tuple[int, ...], out_channels: int = 256, num_outs: int = 5) -> None:
        super().__init__()
        if len(in_channels) != 4 or len(set(in_channels)) != 1:
            raise ValueError(f"in_channels must be 4 equal widths, but got {tuple(in_channels)}")
        if num_outs < 4:
            raise ValueError(f"num_outs must be >= 4, but got {num_outs}")
        c = in_channels[0]
        self.num_outs = num_outs
        self.lateral_convs = nn.ModuleList(_Conv(c, out_channels, 1) for _ in range(4))
        self.fpn_convs = nn.ModuleList(_Conv(out_channels, out_channels, 3) for _ in range(4))
        self.fpn1 = nn.Sequential(
            nn.ConvTranspose2d(c, c, kernel_size=2, stride=2), Norm2d(c), nn.GELU(),
            nn.ConvTranspose2d(c, c, kernel_size=2, stride=2),
        )
        self.fpn2 = nn.Sequential(nn.ConvTranspose2d(c, c, kernel_size=2, stride=2))
        self.fpn3 = nn.Identity()
        self.fpn4 = nn.MaxPool2d(kernel_size=2, stride=2)

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        """Args:
            feats: four ViT maps `(B, C, h, w)` (SAM: `h = w = 64`, stride 16).

        Returns:
            list[Tensor]: `num_outs` maps `(B, out_channels, H_l, W_l)`, finest first
            (`4h, 2h, h, h/2, h/4, ...`).
        """
        if len(feats) != 4:
            raise ValueError(f"SimpleFPN takes 4 maps, but got {len(feats)}")
        ops = (self.fpn1, self.fpn2, self.fpn3, self.fpn4)
        laterals = [conv(op(x)) for conv, op, x in zip(self.lateral_convs, ops, feats)]
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(
                laterals[i], size=laterals[i - 1].shape[-2:], mode="nearest"
            )
        outs = [conv(x) for conv, x in zip(self.fpn_convs, laterals)]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], kernel_size=1, stride=2))
        return outs
