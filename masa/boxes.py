"""Box helpers, thin over `torchvision.ops`; all safe on empty input."""

from __future__ import annotations

from torch import Tensor
from torchvision.ops import box_convert, box_iou

__all__ = ["box_iou", "xywh_to_xyxy", "xyxy_to_xywh"]


def xywh_to_xyxy(xywh: Tensor) -> Tensor:
    """`Tensor[N, 4]` `[x, y, w, h]` -> `Tensor[N, 4]` `[x1, y1, x2, y2]`."""
    return box_convert(xywh, "xywh", "xyxy")


def xyxy_to_xywh(xyxy: Tensor) -> Tensor:
    """`Tensor[N, 4]` `[x1, y1, x2, y2]` -> `Tensor[N, 4]` `[x, y, w, h]`."""
    return box_convert(xyxy, "xyxy", "xywh")
