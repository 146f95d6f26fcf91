"""MASA's class-agnostic detection head, used as an object proposer (SPEC §2.9).

The official checkpoints carry an RPN (`rpn_head.*`) and a 2-FC RoI box head
(`roi_head.bbox_head.*`) trained on SAM's boxes ("object prior distillation"); official MASA never
runs them at inference. Here they propose the boxes that SAM's mask decoder turns into masks.
Test-time settings are those of the `configs/masa-sam` test configs (mmdet `test_cfg`).

Anchors and box decoding are written out to match mmdet exactly: torchvision's `AnchorGenerator`
rounds base anchors to integers and its `BoxCoder` clamps only large log-size deltas, mmdet does
neither. NMS is torchvision's (`batched_nms`, the same suppression rule as mmcv).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import batched_nms, clip_boxes_to_image, nms

from masa.adapter.head import extract_roi_features

__all__ = ["ProposalSettings", "ObjectProposer", "level_anchors", "decode_deltas"]

_MAX_LOG_RATIO = abs(math.log(16 / 1000))  # mmdet DeltaXYWHBBoxCoder wh_ratio_clip


@dataclass(frozen=True)
class ProposalSettings:
    """Test-time settings (mmdet `test_cfg` of `configs/masa-sam/**`).

    Attributes:
        num_rpn_pre_nms: best RPN boxes kept per level before NMS (`rpn.nms_pre`).
        num_rpn_proposals: RPN boxes kept after NMS (`rpn.max_per_img`).
        rpn_iou_threshold: RPN NMS IoU, per level (`rpn.nms.iou_threshold`).
        score_threshold: final boxes must score above this (`rcnn.score_thr`). Higher: fewer,
            surer objects; lower: more masks, more clutter.
        iou_threshold: class-agnostic NMS IoU of the final boxes (`rcnn.nms.iou_threshold`).
            Lower: fewer overlapping proposals.
        max_detections: final boxes kept per frame (`rcnn.max_per_img`).
    """

    num_rpn_pre_nms: int = 1000
    num_rpn_proposals: int = 1000
    rpn_iou_threshold: float = 0.7
    score_threshold: float = 0.02
    iou_threshold: float = 0.5
    max_detections: int = 50


def level_anchors(
    height: int, width: int, stride: int, *, scales: tuple[float, ...] = (8.0,),
    ratios: tuple[float, ...] = (0.5, 1.0, 2.0), device: torch.device | str = "cpu",
) -> Tensor:
    """mmdet `AnchorGenerator` anchors of one level (center offset 0, no rounding).

    Returns:
        Tensor[H * W * A, 4] xyxy in input pixels, location-major (row, column), then ratio,
        then scale: the order of the RPN's flattened `(H, W, A)` outputs.
    """
    h_ratios = torch.sqrt(torch.tensor(ratios, device=device))
    w_ratios = 1 / h_ratios
    scale = torch.tensor(scales, device=device)
    ws = (stride * w_ratios[:, None] * scale[None, :]).reshape(-1)  # (A,)
    hs = (stride * h_ratios[:, None] * scale[None, :]).reshape(-1)
    base = torch.stack([-0.5 * ws, -0.5 * hs, 0.5 * ws, 0.5 * hs], dim=1)  # (A, 4)
    ys = torch.arange(height, device=device, dtype=torch.float32) * stride
    xs = torch.arange(width, device=device, dtype=torch.float32) * stride
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    shifts = torch.stack([xx, yy, xx, yy], dim=-1).reshape(-1, 1, 4)  # (H*W, 1, 4)
    return (shifts + base[None]).reshape(-1, 4)


def decode_deltas(boxes: Tensor, deltas: Tensor, stds: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)) -> Tensor:
    """mmdet `DeltaXYWHBBoxCoder.decode` (means 0): `(dx, dy, dw, dh)` deltas applied to boxes.

    Args:
        boxes (Tensor[K, 4]): reference boxes, xyxy.
        deltas (Tensor[K, 4]): predicted deltas, before multiplying by `stds`.

    Returns:
        Tensor[K, 4] xyxy (not clipped).
    """
    deltas = deltas * deltas.new_tensor(stds)
    centers = (boxes[:, :2] + boxes[:, 2:]) * 0.5  # (K, 2)
    sizes = boxes[:, 2:] - boxes[:, :2]
    new_centers = centers + sizes * deltas[:, :2]
    new_sizes = sizes * deltas[:, 2:].clamp(-_MAX_LOG_RATIO, _MAX_LOG_RATIO).exp()
    return torch.cat([new_centers - new_sizes * 0.5, new_centers + new_sizes * 0.5], dim=1)


class RPNHead(nn.Module):
    """mmdet `RPNHead` with one 3x3 conv; keys `rpn_conv`, `rpn_cls`, `rpn_reg` (sigmoid scores)."""

    def __init__(self, channels: int = 256, num_anchors: int = 3) -> None:
        super().__init__()
        self.rpn_conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.rpn_cls = nn.Conv2d(channels, num_anchors, 1)
        self.rpn_reg = nn.Conv2d(channels, num_anchors * 4, 1)
        for conv in (self.rpn_conv, self.rpn_cls, self.rpn_reg):
            nn.init.normal_(conv.weight, 0, 0.01)
            nn.init.zeros_(conv.bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Args:
            x (Tensor[B, C, H, W]). Returns logits Tensor[B, A, H, W] and deltas Tensor[B, 4A, H, W].
        """
        x = F.relu(self.rpn_conv(x))
        return self.rpn_cls(x), self.rpn_reg(x)


class BBoxHead(nn.Module):
    """mmdet `Shared2FCBBoxHead(num_classes=1)`, class-agnostic regression; keys `shared_fcs.{0,1}`,
    `fc_cls` (object, background logits), `fc_reg`."""

    def __init__(self, channels: int = 256, fc_channels: int = 1024, roi_size: int = 7) -> None:
        super().__init__()
        self.shared_fcs = nn.ModuleList(
            [nn.Linear(channels * roi_size * roi_size, fc_channels), nn.Linear(fc_channels, fc_channels)]
        )
        self.fc_cls = nn.Linear(fc_channels, 2)
        self.fc_reg = nn.Linear(fc_channels, 4)
        for fc in self.shared_fcs:  # mmdet's init: Xavier for shared fcs, Normal for the outputs
            nn.init.xavier_uniform_(fc.weight)
            nn.init.zeros_(fc.bias)
        for fc, std in ((self.fc_cls, 0.01), (self.fc_reg, 0.001)):
            nn.init.normal_(fc.weight, 0, std)
            nn.init.zeros_(fc.bias)

    def forward(self, roi_feats: Tensor) -> tuple[Tensor, Tensor]:
        """Args:
            roi_feats (Tensor[K, C, 7, 7]). Returns logits Tensor[K, 2] and deltas Tensor[K, 4].
        """
        x = roi_feats.flatten(1)  # (K, C*7*7), channel-major
        for fc in self.shared_fcs:
            x = F.relu(fc(x))
        return self.fc_cls(x), self.fc_reg(x)


class _RoIHead(nn.Module):
    """Holds the box head under the official name `roi_head.bbox_head`."""

    def __init__(self, channels: int, fc_channels: int) -> None:
        super().__init__()
        self.bbox_head = BBoxHead(channels, fc_channels)


class ObjectProposer(nn.Module):
    """RPN + RoI box head on the adapter's fused pyramid: class-agnostic object boxes.

    Parameter names equal the official keys (`rpn_head.*`, `roi_head.bbox_head.*`).

    Args:
        strides: strides of the fused levels (SAM-MASA: 4, 8, 16, 32, 64); the RPN uses every
            level, the box head the first `roi_levels`.
        roi_levels: levels RoIs are pooled from (4).
        channels: channels of the fused levels.
        fc_channels: width of the box head's fully connected layers.
    """

    def __init__(
        self, strides: tuple[int, ...], *, roi_levels: int = 4, channels: int = 256, fc_channels: int = 1024
    ) -> None:
        super().__init__()
        self.strides = tuple(strides)
        self.roi_levels = roi_levels
        self.rpn_head = RPNHead(channels)
        self.roi_head = _RoIHead(channels, fc_channels)

    def rpn_proposals(
        self, feats: list[Tensor], image_size: tuple[int, int], settings: ProposalSettings
    ) -> Tensor:
        """mmdet `RPNHead.predict_by_feat` for one image.

        Args:
            feats: the fused levels `(1, C, H_l, W_l)`.
            image_size: `(h, w)` of the resized image (before padding); boxes are clipped to it.

        Returns:
            Tensor[K, 4] xyxy proposals in input pixels, best first (K <= num_rpn_proposals).
        """
        boxes, scores, level_ids = [], [], []
        for level, (x, stride) in enumerate(zip(feats, self.strides)):
            logits, deltas = self.rpn_head(x)
            level_scores = logits[0].permute(1, 2, 0).reshape(-1).sigmoid()  # (H*W*A,)
            level_deltas = deltas[0].permute(1, 2, 0).reshape(-1, 4)  # (H*W*A, 4)
            anchors = level_anchors(x.shape[-2], x.shape[-1], stride, device=x.device)
            if level_scores.numel() > settings.num_rpn_pre_nms:
                level_scores, top = level_scores.topk(settings.num_rpn_pre_nms)
                level_deltas, anchors = level_deltas[top], anchors[top]
            boxes.append(decode_deltas(anchors, level_deltas))
            scores.append(level_scores)
            level_ids.append(torch.full_like(level_scores, level, dtype=torch.int64))
        proposals = clip_boxes_to_image(torch.cat(boxes), image_size)
        scores_, levels = torch.cat(scores), torch.cat(level_ids)
        valid = (proposals[:, 2] > proposals[:, 0]) & (proposals[:, 3] > proposals[:, 1])  # min_bbox_size 0
        proposals, scores_, levels = proposals[valid], scores_[valid], levels[valid]
        keep = batched_nms(proposals, scores_, levels, settings.rpn_iou_threshold)
        return proposals[keep[: settings.num_rpn_proposals]]

    def forward(
        self, feats: list[Tensor], image_size: tuple[int, int], settings: ProposalSettings | None = None
    ) -> tuple[Tensor, Tensor]:
        """Object boxes of one image (mmdet `StandardRoIHead.predict_bbox`, one class).

        Args:
            feats: the adapter's fused levels `(1, C, H_l, W_l)`, finest first.
            image_size: `(h, w)` of the resized image inside the padded input.
            settings: test-time thresholds; the official ones when None.

        Returns:
            (boxes, scores): Tensor[N, 4] xyxy in input pixels and Tensor[N] object
            probabilities, best first, N <= max_detections.
        """
        settings = settings or ProposalSettings()
        proposals = self.rpn_proposals(feats, image_size, settings)
        rois = torch.cat([proposals.new_zeros(len(proposals), 1), proposals], dim=1)  # (K, 5)
        roi_feats = extract_roi_features(feats, rois, self.strides[: self.roi_levels])
        logits, deltas = self.roi_head.bbox_head(roi_feats)
        scores = logits.softmax(dim=1)[:, 0]  # column 1 is background
        boxes = clip_boxes_to_image(decode_deltas(proposals, deltas, (0.1, 0.1, 0.2, 0.2)), image_size)
        valid = scores > settings.score_threshold
        boxes, scores = boxes[valid], scores[valid]
        keep = nms(boxes, scores, settings.iou_threshold)[: settings.max_detections]
        return boxes[keep], scores[keep]
