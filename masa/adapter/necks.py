"""Pyramid necks of the MASA adapter (`masa_adapter.0`): mmdet's FPN (SPEC §2.2)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["FPN"]


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
