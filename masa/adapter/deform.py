"""Modulated deformable convolution: torchvision's kernel on GPUs and for training, a fast CPU path
for inference with the same numbers.

torchvision's CPU `deform_conv2d` fills a zeroed `(Cin * K, H * W)` column buffer with one scalar
loop and then runs one GEMM, so on MASA-R50's DeformFusion neck (one 1024x768 frame, torch.profiler)
it spent 9.9 s in its own loop and 4.0 s in `fill_` for 2.7 s of GEMM. Here the same function is
three library calls per block of output points:

- `bilinear_taps`: the 4 bilinear corners of each of the `K = kh * kw` taps, as row indices into
  the channels-last input and weights (bilinear weight x modulation mask; a corner outside the
  image gets weight 0, exactly torchvision's `bilinear_interpolate`);
- `F.embedding_bag(mode="sum", per_sample_weights=...)` gathers and sums those rows: the
  sampled columns `(P, K * Cin)`, in blocks of `CHUNK_BYTES` that stay in cache;
- one GEMM per block (per conv group) with the weight laid out `(K * Cin, Cout)`.

The output is a channels-last `(B, Cout, Ho, Wo)` tensor, so a chain of them (DeformFusion) never
transposes. The result equals torchvision's up to float rounding (tests/adapter/test_deform.py).
Under CPU autocast the sampling and the GEMM run in the autocast dtype (bf16 uses AMX).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import deform_conv2d as tv_deform_conv2d

__all__ = ["deform_conv2d", "bilinear_taps", "cpu_channels_last"]

#: Size in bytes of one block of sampled columns (small enough to stay in cache for its GEMM).
CHUNK_BYTES = 16 * 2**20


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def cpu_channels_last(maps: list[Tensor]) -> list[Tensor]:
    """CPU maps in channels-last memory (the fast path's own layout, so no DCN copies its input);
    other devices' maps unchanged."""
    return [
        m.contiguous(memory_format=torch.channels_last) if m.device.type == "cpu" else m
        for m in maps
    ]


def deform_conv2d(
    input: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    mask: Tensor | None = None,
) -> Tensor:
    """`torchvision.ops.deform_conv2d` with a fast CPU inference path; same arguments and result.

    The fast path runs on CPU tensors when no gradient is needed; CUDA tensors and autograd go
    to torchvision's kernel.

    Args:
        input (Tensor[B, Cin, H, W]): input maps.
        offset (Tensor[B, 2 * G * kh * kw, Ho, Wo]): (dy, dx) of each tap, G offset groups.
        weight (Tensor[Cout, Cin / groups, kh, kw]): convolution weights.
        bias (Tensor[Cout] | None): added to the output.
        stride, padding, dilation: as in `nn.Conv2d`.
        mask (Tensor[B, G * kh * kw, Ho, Wo] | None): modulation of each tap (DCNv2); None = 1.

    Returns:
        Tensor[B, Cout, Ho, Wo]
    """
    tensors = (input, offset, weight, bias, mask)
    needs_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    if input.device.type != "cpu" or needs_grad:
        conv: Any = tv_deform_conv2d
    else:
        conv = _deform_conv2d_cpu
    return conv(input, offset, weight, bias, _pair(stride), _pair(padding), _pair(dilation), mask)


def bilinear_taps(
    offset: Tensor,
    mask: Tensor | None,
    in_size: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
) -> tuple[Tensor, Tensor]:
    """Where each tap of a deformable convolution reads its input, as 4 weighted pixels.

    Sampling follows torchvision's `bilinear_interpolate`: the tap `(i, j)` of output `(y, x)`
    reads `p = (y * s - pad + i * d + dy, x * s - pad + j * d + dx)`; its 4 integer neighbours get
    the usual bilinear weights, a neighbour outside the image contributes 0 (so a tap at or
    beyond -1 or H reads 0), and the mask multiplies all four.

    Args:
        offset (Tensor[B, 2 * G * K, Ho, Wo]): offsets, K = kh * kw taps, G offset groups; any
            memory layout (channels-last maps need no copy).
        mask (Tensor[B, G * K, Ho, Wo] | None): modulation; None = 1.
        in_size: (H, W) of the input.
        kernel, stride, padding, dilation: the convolution's (vertical, horizontal) settings.

    Returns:
        (index, weight): `Tensor[B, Ho, Wo, K, G, 4]` int64 pixel indices `b * H * W + y * W + x`
        (clamped into the image where the weight is 0) and float32 weights (mask included).
    """
    batch, _, out_h, out_w = offset.shape
    height, width = in_size
    taps = kernel[0] * kernel[1]
    device = offset.device
    off = (
        offset.float().permute(0, 2, 3, 1).reshape(batch, out_h, out_w, -1, taps, 2)
    )  # (B, Ho, Wo, G, K, 2)
    groups = off.shape[3]
    tap_i = torch.arange(kernel[0], device=device).repeat_interleave(kernel[1]) * dilation[0]
    tap_j = torch.arange(kernel[1], device=device).repeat(kernel[0]) * dilation[1]
    rows = torch.arange(out_h, device=device) * stride[0] - padding[0]
    cols = torch.arange(out_w, device=device) * stride[1] - padding[1]
    # Integer base + float offset, added as torchvision adds them; every map is (B, Ho, Wo, G, K).
    y = (rows.view(out_h, 1, 1, 1) + tap_i).float() + off[..., 0]
    x = (cols.view(out_w, 1, 1) + tap_j).float() + off[..., 1]
    y0, x0 = y.floor(), x.floor()
    wy1, wx1 = y - y0, x - x0
    wy0, wx0 = 1 - wy1, 1 - wx1
    # A corner outside the image contributes 0 (torchvision's corner checks and early return).
    wy0 = wy0 * ((y0 >= 0) & (y0 <= height - 1))
    wy1 = wy1 * ((y0 >= -1) & (y0 <= height - 2))
    wx0 = wx0 * ((x0 >= 0) & (x0 <= width - 1))
    wx1 = wx1 * ((x0 >= -1) & (x0 <= width - 2))
    if mask is not None:
        m = mask.float().permute(0, 2, 3, 1).reshape(batch, out_h, out_w, groups, taps)
        wy0, wy1 = wy0 * m, wy1 * m
    image = (torch.arange(batch, device=device) * (height * width)).view(batch, 1, 1, 1, 1)
    iy0 = y0.clamp(0, height - 1).long() * width + image
    iy1 = (y0 + 1).clamp(0, height - 1).long() * width + image
    ix0 = x0.clamp(0, width - 1).long()
    ix1 = (x0 + 1).clamp(0, width - 1).long()
    index = torch.stack([iy0 + ix0, iy0 + ix1, iy1 + ix0, iy1 + ix1], dim=-1)
    weights = torch.stack([wy0 * wx0, wy0 * wx1, wy1 * wx0, wy1 * wx1], dim=-1)
    if groups > 1:  # columns are ordered (tap, channel), channels grouped by offset group
        index, weights = index.transpose(3, 4).contiguous(), weights.transpose(3, 4).contiguous()
    else:
        index, weights = (
            index.view(batch, out_h, out_w, taps, 1, 4),
            weights.view(batch, out_h, out_w, taps, 1, 4),
        )
    return index, weights


def _deform_conv2d_cpu(
    input: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    mask: Tensor | None,
) -> Tensor:
    batch, in_channels, height, width = input.shape
    out_channels, group_channels, kh, kw = weight.shape
    groups = in_channels // group_channels
    taps = kh * kw
    offset_groups = offset.shape[1] // (2 * taps)
    out_h = (height + 2 * padding[0] - (dilation[0] * (kh - 1) + 1)) // stride[0] + 1
    out_w = (width + 2 * padding[1] - (dilation[1] * (kw - 1) + 1)) // stride[1] + 1
    _check_shapes(input, offset, weight, mask, groups, offset_groups, (out_h, out_w))
    dtype = _compute_dtype(input, weight)
    index, weights = bilinear_taps(
        offset, mask, (height, width), (kh, kw), stride, padding, dilation
    )
    x = input.to(dtype).permute(0, 2, 3, 1).contiguous()  # (B, H, W, Cin)
    w = weight.to(dtype)
    out = _sample_then_apply(x, w, index, weights.to(dtype), offset_groups, groups)
    if bias is not None:
        out = out + bias.to(out.dtype)
    return out.view(batch, out_h, out_w, out_channels).permute(0, 3, 1, 2)  # channels-last strides


def _sample_then_apply(
    x: Tensor, weight: Tensor, index: Tensor, weights: Tensor, offset_groups: int, groups: int
) -> Tensor:
    """Samples columns `(P, K * Cin)` in chunks, then one GEMM per conv group per chunk.

    Returns:
        Tensor[P, Cout], P = B * Ho * Wo.
    """
    out_channels, group_channels, kh, kw = weight.shape
    taps = kh * kw
    in_channels = x.shape[-1]
    table = x.view(-1, in_channels // offset_groups)  # row pixel * G + g
    if offset_groups > 1:
        index = index * offset_groups + torch.arange(offset_groups, device=x.device).view(
            offset_groups, 1
        )
    rows = index.view(-1, taps * offset_groups, 4)  # (P, K * G, 4)
    weights = weights.view(-1, taps * offset_groups, 4)
    # (groups, K * Cin/groups, Cout/groups): column (k, c) of group j multiplies weight[o, c, k].
    w = (
        weight.view(groups, out_channels // groups, group_channels, taps)
        .permute(0, 3, 2, 1)
        .reshape(groups, taps * group_channels, out_channels // groups)
    )
    points = rows.shape[0]
    out = x.new_empty(points, out_channels)
    step = max(1, CHUNK_BYTES // (taps * in_channels * x.element_size()))
    for start in range(0, points, step):
        stop = min(points, start + step)
        columns = F.embedding_bag(
            rows[start:stop].reshape(-1, 4),
            table,
            per_sample_weights=weights[start:stop].reshape(-1, 4),
            mode="sum",
        ).view(stop - start, taps, in_channels)
        if groups == 1:
            torch.mm(columns.view(stop - start, -1), w[0], out=out[start:stop])
            continue
        for j in range(groups):
            part = columns[:, :, j * group_channels : (j + 1) * group_channels].reshape(
                stop - start, -1
            )
            out[start:stop, j * (out_channels // groups) : (j + 1) * (out_channels // groups)] = (
                part @ w[j]
            )
    return out


def _compute_dtype(input: Tensor, weight: Tensor) -> torch.dtype:
    """float32 unless CPU autocast asks for bfloat16/float16, or the tensors are float64."""
    if torch.is_autocast_enabled("cpu"):
        return torch.get_autocast_dtype("cpu")
    return torch.promote_types(input.dtype, weight.dtype)


def _check_shapes(
    input: Tensor,
    offset: Tensor,
    weight: Tensor,
    mask: Tensor | None,
    groups: int,
    offset_groups: int,
    out_size: tuple[int, int],
) -> None:
    batch, in_channels = input.shape[:2]
    taps = weight.shape[2] * weight.shape[3]
    problems = []
    if in_channels % weight.shape[1] or weight.shape[0] % groups:
        problems.append(
            f"weight {tuple(weight.shape)} does not divide input channels {in_channels}"
        )
    if (
        offset.shape[1] != 2 * offset_groups * taps
        or in_channels % max(offset_groups, 1)
        or not offset_groups
    ):
        problems.append(
            f"offset channels {offset.shape[1]} are not 2 * {taps} taps * offset groups"
        )
    if tuple(offset.shape[-2:]) != out_size or offset.shape[0] != batch:
        problems.append(
            f"offset {tuple(offset.shape)} does not match the output {(batch, *out_size)}"
        )
    if mask is not None and tuple(mask.shape) != (batch, offset_groups * taps, *out_size):
        problems.append(
            f"mask {tuple(mask.shape)} is not {(batch, offset_groups * taps, *out_size)}"
        )
    if problems:
        raise RuntimeError("deform_conv2d: " + "; ".join(problems))
