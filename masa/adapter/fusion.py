"""Deformable fusion necks of the MASA adapter (`masa_adapter.1`): MASA's DeformFusion (SPEC §2.4)
and mmdet's DyHead with scale- and task-aware attention (SPEC §2.5, the SAM variants).

mmcv's `ModulatedDeformConv2d` is expressed with `torchvision.ops.deform_conv2d`, which uses the
same offset layout (channel 2k = dy, 2k+1 = dx of tap k) and the same sampling (SPEC §2.6);
`masa.adapter.deform` runs it (torchvision's kernel on GPUs, an equivalent faster one on CPUs,
where the fusion keeps its maps channels-last).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from masa.adapter.deform import cpu_channels_last, deform_conv2d

__all__ = ["DeformFusion", "DyHead", "DyDCNv2", "DyReLU", "levels_per_block", "reinterpret_as_flat"]


class _DeformConv(nn.Module):
    """The weight holder of mmcv `ModulatedDeformConv2d(C, C, 3, padding=1, bias=False)`."""

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.weight = nn.Parameter(torch.empty(channels, channels, 3, 3))
        bound = 1.0 / math.sqrt(channels * 9)  # mmcv's own init, not the Conv2d one
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, x: Tensor, offset: Tensor, mask: Tensor) -> Tensor:
        if offset.dtype != x.dtype:  # mmcv casts input, weight and mask to the offset's dtype
            x, mask = x.to(offset.dtype), mask.to(offset.dtype)
        return deform_conv2d(
            x, offset, self.weight.to(offset.dtype), stride=self.stride, padding=1, mask=mask
        )


class DyDCNv2(nn.Module):
    """mmdet `DyDCNv2`: modulated deformable 3x3 conv (no bias) + GroupNorm(16).

    Keys `conv.*`, `norm.*`.
    """

    def __init__(self, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = _DeformConv(channels, stride)
        self.norm = nn.GroupNorm(16, channels)

    def forward(self, x: Tensor, offset: Tensor, mask: Tensor) -> Tensor:
        """Args:
        x (Tensor[B, C, H, W]); offset (Tensor[B, 18, Ho, Wo]); mask (Tensor[B, 9, Ho, Wo]).
        """
        return self.norm(self.conv(x, offset, mask))


def levels_per_block(
    levels: Iterable[int] | None, num_levels: int, num_blocks: int
) -> list[set[int] | None]:
    """The levels each fusion block must compute so that the last one gives `levels`.

    Output level l of a block reads levels l-1, l and l+1 of its input, and each branch's
    GroupNorm spans only its own level, so dropping the other levels changes no value: the RoI
    head pools from one level per box (mostly the finest), and whatever it does not read need not
    be computed. On a 1024x768 frame whose boxes all map to level 0 this skips about a tenth of
    MASA-R50's work.

    Returns:
        one set per block, first block first (None: every level).
    """
    if levels is None:
        return [None] * num_blocks
    wanted = {level for level in levels if 0 <= level < num_levels}
    sets = []
    for _ in range(num_blocks):
        sets.append(wanted)
        wanted = {
            n for level in wanted for n in (level - 1, level, level + 1) if 0 <= n < num_levels
        }
    return sets[::-1]


def reinterpret_as_flat(maps: Tensor, channels: int, height: int, width: int) -> Tensor:
    """What mmcv's DCN kernel reads when handed maps larger than its output (SPEC §2.4, §7.2).

    mmcv reads each sample's offset/mask through its raw pointer as a contiguous
    `(channels, height, width)` buffer, so the values used are the first
    `channels * height * width` values of the sample's row-major memory, not a spatial crop.

    Args:
        maps (Tensor[B, K, H, W]): full-resolution offsets or masks (K >= channels).
        channels, height, width: the shape the kernel expects per sample.

    Returns:
        Tensor[B, channels, height, width]
    """
    b = maps.shape[0]
    flat = maps.contiguous().reshape(b, -1)  # (B, K*H*W)
    return flat[:, : channels * height * width].reshape(b, channels, height, width)


class _LevelwiseBlock(nn.Module):
    """A fusion block whose output level l reads its input levels l - 1, l and l + 1."""

    def forward(
        self, feats: list[Tensor | None], wanted: set[int] | None = None
    ) -> list[Tensor | None]:
        """Args:
            feats: L maps `(B, C, H_l, W_l)`, finest first (None where not computed).
            wanted: levels to compute (default all); each needs its input and both neighbours.
        Returns L maps of the same shapes, None for the levels not wanted.
        """
        return [
            self._level(feats, level) if wanted is None or level in wanted else None
            for level in range(len(feats))
        ]

    def _level(self, feats: list[Tensor | None], level: int) -> Tensor:
        raise NotImplementedError


class DeformFusionBlock(_LevelwiseBlock):
    """One block of MASA's DeformFusion: DyHead without scale/task attention, per-branch offsets."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.spatial_conv_high = DyDCNv2(channels)
        self.spatial_conv_mid = DyDCNv2(channels)
        self.spatial_conv_low = DyDCNv2(channels, stride=2)
        self.spatial_conv_offset = nn.Conv2d(channels, 27 * 3, 3, padding=1)
        nn.init.zeros_(self.spatial_conv_offset.weight)
        nn.init.zeros_(self.spatial_conv_offset.bias)

    def _level(self, feats: list[Tensor | None], level: int) -> Tensor:
        """Output level `level`, from input levels `level - 1`, `level` and `level + 1`."""
        x, num_levels = feats[level], len(feats)
        om = self.spatial_conv_offset(x)  # (B, 81, H, W)
        offset = om[:, :54]
        mask = om[:, 54:].sigmoid()  # (B, 27, H, W), a new contiguous tensor
        summed = self.spatial_conv_mid(x, offset[:, 0:18], mask[:, 0:9])
        count = 1
        if level > 0:
            summed = summed + self.spatial_conv_low(
                feats[level - 1], offset[:, 18:36], mask[:, 9:18]
            )
            count += 1
        if level < num_levels - 1:
            upper = feats[level + 1]
            h, w = upper.shape[-2:]
            high = self.spatial_conv_high(
                upper,
                reinterpret_as_flat(offset[:, 36:54], 18, h, w),
                reinterpret_as_flat(mask[:, 18:27], 9, h, w),
            )
            summed = summed + F.interpolate(
                high, size=x.shape[-2:], mode="bilinear", align_corners=True
            )
            count += 1
        return summed / count


class _BlockStack(nn.Module):
    """Sequential fusion blocks (`dyhead_blocks`) over a pyramid, computing only wanted levels."""

    dyhead_blocks: nn.ModuleList

    def forward(
        self, feats: list[Tensor], levels: Iterable[int] | None = None
    ) -> list[Tensor | None]:
        """Args:
            feats: L maps `(B, C, H_l, W_l)`, finest first.
            levels: the output levels wanted (default all); see `levels_per_block`.
        Returns L maps of the same shapes, None for the levels not wanted.
        """
        out: list[Tensor | None] = list(cpu_channels_last(feats))
        for block, wanted in zip(
            self.dyhead_blocks, levels_per_block(levels, len(feats), len(self.dyhead_blocks))
        ):
            out = block(out, wanted)
        return out


class DeformFusion(_BlockStack):
    """MASA `DeformFusion(num_blocks)`: sequential fusion blocks over a 5-level pyramid (SPEC §2.4).

    Keys `dyhead_blocks.{i}.*` as in the official checkpoints.
    """

    def __init__(self, channels: int = 256, num_blocks: int = 3) -> None:
        super().__init__()
        self.dyhead_blocks = nn.ModuleList(DeformFusionBlock(channels) for _ in range(num_blocks))


def hard_sigmoid(x: Tensor) -> Tensor:
    """mmcv `HSigmoid(bias=3, divisor=6)`: `clamp((x + 3) / 6, 0, 1)`."""
    return ((x + 3.0) / 6.0).clamp(0.0, 1.0)


class _HSigmoid(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return hard_sigmoid(x)


class _ConvAct(nn.Module):
    """mmcv `ConvModule(1x1 conv with bias -> act)` without norm; key `conv.*`."""

    def __init__(self, in_channels: int, out_channels: int, act: nn.Module) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1)
        self.act = act

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv(x))


class DyReLU(nn.Module):
    """mmdet `DyReLU(channels, ratio=4)`: the task-aware attention of DyHead (SPEC §2.5).

    `coef = HSigmoid(conv2(ReLU(conv1(avgpool(x))))) - 0.5` split into a1, b1, a2, b2;
    output `max(x * (2 a1 + 1) + b1, x * 2 a2 + b2)`. Keys `conv1.conv.*`, `conv2.conv.*`.
    """

    def __init__(self, channels: int, ratio: int = 4) -> None:
        super().__init__()
        self.channels = channels
        self.conv1 = _ConvAct(channels, channels // ratio, nn.ReLU())
        self.conv2 = _ConvAct(channels // ratio, channels * 4, _HSigmoid())

    def forward(self, x: Tensor) -> Tensor:
        """Args:
        x (Tensor[B, C, H, W]). Returns Tensor[B, C, H, W].
        """
        coef = self.conv2(self.conv1(F.adaptive_avg_pool2d(x, 1))) - 0.5  # (B, 4C, 1, 1)
        a1, b1, a2, b2 = torch.split(coef, self.channels, dim=1)
        return torch.maximum(x * (a1 * 2.0 + 1.0) + b1, x * (a2 * 2.0) + b2)


class DyHeadBlock(_LevelwiseBlock):
    """One mmdet `DyHeadBlock`: shared offsets/mask for all three DCN branches, scale attention on
    each branch, DyReLU on the level average (SPEC §2.5)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.spatial_conv_high = DyDCNv2(channels)
        self.spatial_conv_mid = DyDCNv2(channels)
        self.spatial_conv_low = DyDCNv2(channels, stride=2)
        self.spatial_conv_offset = nn.Conv2d(channels, 27, 3, padding=1)
        self.scale_attn_module = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, 1, 1), nn.ReLU(), _HSigmoid()
        )
        self.task_attn_module = DyReLU(channels)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)
        nn.init.zeros_(self.spatial_conv_offset.weight)

    def _scaled(self, x: Tensor) -> Tensor:
        return x * self.scale_attn_module(x)  # (B, C, H, W) * (B, 1, 1, 1)

    def _level(self, feats: list[Tensor | None], level: int) -> Tensor:
        """Output level `level`, from input levels `level - 1`, `level` and `level + 1`."""
        x, num_levels = feats[level], len(feats)
        om = self.spatial_conv_offset(x)  # (B, 27, H, W)
        offset, mask = om[:, :18], om[:, 18:].sigmoid()
        summed = self._scaled(self.spatial_conv_mid(x, offset, mask))
        count = 1
        if level > 0:
            summed = summed + self._scaled(self.spatial_conv_low(feats[level - 1], offset, mask))
            count += 1
        if level < num_levels - 1:
            upper = feats[level + 1]
            h, w = upper.shape[-2:]
            # The full-resolution offset/mask go to the half-resolution conv; mmcv reads them
            # through raw pointers as flat memory (SPEC §2.5 [derived]). The parity fixture
            # (mmdet 3.3.0) shows the mask is read flat too, not cropped.
            high = self.spatial_conv_high(
                upper, reinterpret_as_flat(om, 18, h, w), reinterpret_as_flat(mask, 9, h, w)
            )
            high = F.interpolate(high, size=x.shape[-2:], mode="bilinear", align_corners=True)
            summed = summed + self._scaled(high)
            count += 1
        return self.task_attn_module(summed / count)


class DyHead(_BlockStack):
    """mmdet `DyHead(in=out=channels, num_blocks)`, `masa_adapter.1` of SAM-MASA (SPEC §2.5).

    Keys `dyhead_blocks.{i}.*` as in the official checkpoints.
    """

    def __init__(self, channels: int = 256, num_blocks: int = 3) -> None:
        super().__init__()
        self.dyhead_blocks = nn.ModuleList(DyHeadBlock(channels) for _ in range(num_blocks))
