"""Object-prior distillation heads (SPEC §2.9, §5.4): a class-agnostic RPN and RoI box head
trained on the proposals, on top of the adapter's fused features. Training only: they are kept in
the resume state, never in the adapter checkpoint that `masa track` loads.

What comes from torchvision and what does not:
- RPN: torchvision's `RegionProposalNetwork`, `RPNHead` and `AnchorGenerator` as they are
  (anchors 8x stride, ratios 0.5/1/2; Matcher 0.7/0.3 with low-quality matches; 256 anchors at
  1:1; per-level top-k and NMS 0.7). Two differences from mmdet: its box loss is SmoothL1 with
  beta 1/9 (the official GDINO/SAM/Detic setting; MASA-R50 uses L1), and its low-quality matching
  has no `min_pos_iou=0.3` floor.
- RoI box head: torchvision's `Matcher`, `BalancedPositiveNegativeSampler` and `BoxCoder`
  (weights 10, 10, 5, 5 = 1 / the target stds 0.1, 0.1, 0.2, 0.2). Not `RoIHeads`, whose loss is
  SmoothL1 and which also post-processes detections; the loss here is softmax CE + L1 as mmdet.
  Not `MultiScaleRoIAlign` either (`aligned=False`, scales guessed from feature shapes): RoIs are
  pooled with the adapter's own extractor, which the spec says the box head shares.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection._utils import BalancedPositiveNegativeSampler, BoxCoder, Matcher
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
from torchvision.ops import box_iou

from masa.adapter.head import extract_roi_features

__all__ = ["HeadsConfig", "BoxHead", "ObjectPriorHeads"]


@dataclass(frozen=True)
class HeadsConfig:
    """Architecture of the distillation heads.

    Attributes:
        channels: channels of the fused feature levels.
        anchor_strides: strides of all fused levels (the RPN uses every level).
        roi_strides: strides of the levels RoIs are pooled from.
        box_convs: shared 3x3 conv + BN + ReLU layers of the box head: 4 with one fc
            (`Shared4Conv1FCBBoxHead`, MASA-R50), or 0 with two fcs (`Shared2FCBBoxHead`).
        box_fc_channels: width of the box head's fully connected layers (1024 officially).
    """

    channels: int = 256
    anchor_strides: tuple[int, ...] = (4, 8, 16, 32, 64)
    roi_strides: tuple[int, ...] = (4, 8, 16, 32)
    box_convs: int = 4
    box_fc_channels: int = 1024


class _ConvBNReLU(nn.Module):
    """mmcv `ConvModule(conv3x3 no bias -> BN -> ReLU)`; keys `conv.*`, `bn.*`."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


class BoxHead(nn.Module):
    """mmdet `Shared4Conv1FCBBoxHead` / `Shared2FCBBoxHead` with `num_classes=1`, class-agnostic.

    Args:
        channels: channels of the pooled RoI features.
        num_convs: shared convs (4 -> one fc after them; 0 -> two fcs).
        fc_channels: width of the shared fcs.
        roi_size: side of the pooled features.
    """

    def __init__(self, channels: int, *, num_convs: int = 4, fc_channels: int = 1024,
                 roi_size: int = 7) -> None:
        super().__init__()
        self.shared_convs = nn.ModuleList(_ConvBNReLU(channels) for _ in range(num_convs))
        num_fcs = 1 if num_convs else 2
        flat = channels * roi_size * roi_size
        self.shared_fcs = nn.ModuleList(
            nn.Linear(flat if i == 0 else fc_channels, fc_channels) for i in range(num_fcs)
        )
        self.fc_cls = nn.Linear(fc_channels, 2)  # {background, object}
        self.fc_reg = nn.Linear(fc_channels, 4)
        for fc in self.shared_fcs:
            nn.init.xavier_uniform_(fc.weight)
            nn.init.zeros_(fc.bias)
        nn.init.normal_(self.fc_cls.weight, 0, 0.01)
        nn.init.normal_(self.fc_reg.weight, 0, 0.001)
        nn.init.zeros_(self.fc_cls.bias)
        nn.init.zeros_(self.fc_reg.bias)

    def forward(self, roi_feats: Tensor) -> tuple[Tensor, Tensor]:
        """Args:
            roi_feats (Tensor[K, C, 7, 7]): pooled RoI features.

        Returns:
            (logits, deltas): Tensor[K, 2] (background, object) and Tensor[K, 4] box deltas.
        """
        x = roi_feats
        for conv in self.shared_convs:
            x = conv(x)
        x = x.flatten(1)  # (K, C*7*7)
        for fc in self.shared_fcs:
            x = F.relu(fc(x))
        return self.fc_cls(x), self.fc_reg(x)


def _image_list(feats: list[Tensor], image_size: tuple[int, int]) -> ImageList:
    """What torchvision's RPN reads of the images: their batch size and (padded) size."""
    batch = feats[0].shape[0]
    return ImageList(feats[0].new_empty(batch, 3, *image_size), [image_size] * batch)


@contextmanager
def _inference_settings(module: nn.Module) -> Iterator[None]:
    """Runs torchvision's RPN with test-time top-k and no loss (it reads `self.training`)."""
    was_training = module.training
    module.train(False)
    try:
        yield
    finally:
        module.train(was_training)


class ObjectPriorHeads(nn.Module):
    """Class-agnostic RPN + RoI box head trained on the proposals ("object prior distillation").

    Args:
        config: the architecture.
    """

    def __init__(self, config: HeadsConfig) -> None:
        super().__init__()
        self.config = config
        anchors = AnchorGenerator(tuple((8 * s,) for s in config.anchor_strides),
                                  ((0.5, 1.0, 2.0),) * len(config.anchor_strides))
        self.rpn = RegionProposalNetwork(
            anchors, RPNHead(config.channels, 3), fg_iou_thresh=0.7, bg_iou_thresh=0.3,
            batch_size_per_image=256, positive_fraction=0.5,
            pre_nms_top_n={"training": 2000, "testing": 1000},
            post_nms_top_n={"training": 1000, "testing": 1000},
            nms_thresh=0.7,
        )
        self.box_head = BoxHead(config.channels, num_convs=config.box_convs,
                                fc_channels=config.box_fc_channels)
        self.box_matcher = Matcher(0.5, 0.5, allow_low_quality_matches=False)
        self.box_sampler = BalancedPositiveNegativeSampler(512, 0.25)
        self.box_coder = BoxCoder((10.0, 10.0, 5.0, 5.0))

    def rpn_loss(self, feats: list[Tensor], image_size: tuple[int, int], gt_xyxy: list[Tensor]
                 ) -> tuple[list[Tensor], dict[str, Tensor]]:
        """RPN proposals (training top-k: 2000 per level, 1000 after NMS) and losses.

        Args:
            feats: all fused levels `(B, C, H_l, W_l)`, float32.
            image_size: `(H, W)` of the (padded) input images.
            gt_xyxy: B tensors `(N_b, 4)` of proposal boxes to distill.

        Returns:
            (proposals, losses): B detached tensors `(K_b, 4)` xyxy; `loss_rpn_cls` and
            `loss_rpn_bbox`.
        """
        images = _image_list(feats, image_size)
        targets = [{"boxes": b.float()} for b in gt_xyxy]
        proposals, losses = self.rpn(images, {str(i): f for i, f in enumerate(feats)}, targets)
        return proposals, {"loss_rpn_cls": losses["loss_objectness"],
                           "loss_rpn_bbox": losses["loss_rpn_box_reg"]}

    @torch.no_grad()
    def propose(self, feats: list[Tensor], image_size: tuple[int, int]) -> list[Tensor]:
        """RPN proposals with test settings (1000 per level, 1000 after NMS), no loss.

        Returns:
            B tensors `(K_b, 4)` xyxy.
        """
        images = _image_list(feats, image_size)
        with _inference_settings(self.rpn):
            proposals, _ = self.rpn(images, {str(i): f for i, f in enumerate(feats)})
        return proposals

    def _sample_box_targets(self, proposals: Tensor, gt_xyxy: Tensor
                            ) -> tuple[Tensor, Tensor, Tensor]:
        """GT prepended; Matcher(0.5, 0.5); 512 RoIs at most 25% positive.

        Returns:
            (rois, labels, deltas): Tensor[S, 4], Tensor[S] (1 object, 0 background), Tensor[S, 4].
        """
        boxes = torch.cat([gt_xyxy.to(proposals.dtype), proposals])  # (G + K, 4)
        if gt_xyxy.shape[0] == 0:
            matched = torch.full((boxes.shape[0],), -1, dtype=torch.long, device=boxes.device)
        else:
            iou = box_iou(gt_xyxy.to(boxes.dtype), boxes)  # (G, G + K)
            matched = self.box_matcher(iou)  # (G + K,), -1 = background
        labels = (matched >= 0).long()
        pos, neg = self.box_sampler([labels])
        keep = (pos[0] | neg[0]).nonzero().flatten()
        targets = boxes.new_zeros(keep.numel(), 4)
        positive = labels[keep] > 0
        if positive.any():
            targets[positive] = self.box_coder.encode_single(
                gt_xyxy[matched[keep][positive]].to(boxes.dtype), boxes[keep][positive]
            )
        return boxes[keep], labels[keep], targets

    def box_loss(self, feats: list[Tensor], proposals: list[Tensor], gt_xyxy: list[Tensor]
                 ) -> dict[str, Tensor]:
        """RoI box head losses: softmax CE over {background, object} and L1 on normalised deltas,
        both averaged over all sampled RoIs (as mmdet's `avg_factor`).

        Args:
            feats: fused levels `(B, C, H_l, W_l)`, float32 (the first `len(roi_strides)` are used).
            proposals: B tensors `(K_b, 4)` from `rpn_loss`.
            gt_xyxy: B tensors `(N_b, 4)` of proposal boxes to distill.

        Returns:
            `loss_cls`, `loss_bbox`.
        """
        rois, labels, targets = [], [], []
        for b, (props, gt) in enumerate(zip(proposals, gt_xyxy)):
            boxes, lab, tgt = self._sample_box_targets(props, gt.float())
            rois.append(torch.cat([boxes.new_full((boxes.shape[0], 1), b), boxes], 1))  # (S_b, 5)
            labels.append(lab)
            targets.append(tgt)
        roi_feats = extract_roi_features(feats, torch.cat(rois), self.config.roi_strides)
        logits, deltas = self.box_head(roi_feats)  # (S, 2), (S, 4)
        labels_all, targets_all = torch.cat(labels), torch.cat(targets)
        positive = labels_all > 0
        loss_bbox = F.l1_loss(deltas[positive], targets_all[positive], reduction="sum")
        loss_bbox = loss_bbox / max(1, labels_all.numel())
        return {"loss_cls": F.cross_entropy(logits, labels_all), "loss_bbox": loss_bbox}
