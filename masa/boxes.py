"""Box helpers, thin over `torchvision.ops`; all safe on empty input."""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import box_convert, box_iou

__all__ = ["box_iou", "xywh_to_xyxy", "xyxy_to_xywh", "box_centers", "clip_boxes"]


def xywh_to_xyxy(xywh: Tensor) -> Tensor:
    """`Tensor[N, 4]` `[x, y, w, h]` -> `Tensor[N, 4]` `[x1, y1, x2, y2]`."""
    return box_convert(xywh, "xywh", "xyxy")


def xyxy_to_xywh(xyxy: Tensor) -> Tensor:
    """`Tensor[N, 4]` `[x1, y1, x2, y2]` -> `Tensor[N, 4]` `[x, y, w, h]`."""
    return box_convert(xyxy, "xyxy", "xywh")


def box_centers(xyxy: Tensor) -> Tensor:
    """`Tensor[N, 4]` xyxy -> `Tensor[N, 2]` centres `(cx, cy)`."""
    return (xyxy[:, :2] + xyxy[:, 2:]) / 2


def clip_boxes(xyxy: Tensor, height: int, width: int) -> Tensor:
    """Clips `Tensor[N, 4]` xyxy boxes to an image of `height` x `width` pixels."""
    x = xyxy[:, 0::2].clamp(0, width)
    y = xyxy[:, 1::2].clamp(0, height)
    return torch.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], dim=1)
