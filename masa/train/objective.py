"""MASA's training forward (`MASA.loss`, SPEC §5.3): adapter features of both views, object-prior
distillation (RPN + RoI box head) on the key view, and the track losses between the views."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from masa.adapter.model import MasaAdapter
from masa.adapter.preprocess import PIXEL_MEAN, PIXEL_STD
from masa.train.heads import ObjectPriorHeads
from masa.train.losses import margin_l2_loss, track_logits, unbiased_contrastive_loss
from masa.train.sampling import SampledBoxes, match_targets, sample_instance_balanced

__all__ = ["TrackLossConfig", "MasaObjective", "LOSS_NAMES", "jitter_box_candidates"]

#: The loss terms, in logging order; the total loss is their sum.
LOSS_NAMES = ("loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "loss_bbox", "loss_track",
              "loss_track_aux")


@dataclass(frozen=True)
class TrackLossConfig:
    """Track-head sampling and loss settings (SPEC §5.3, §5.4); defaults are the official ones.

    Attributes:
        num_samples, pos_fraction, neg_pos_ub: `CombinedSampler` per view and image.
        pos_iou_threshold, neg_iou_threshold, min_pos_iou: `MaxIoUAssigner`.
        track_weight: weight of the unbiased contrastive loss.
        aux_weight: weight of the margin-L2 auxiliary loss.
        jitter_boxes: extra candidate boxes per proposal box and view, drawn around it with
            `jitter_box_candidates` (0, the official setting: the candidates are the RPN's
            proposals alone). They stand in for the shifted proposals of a mature RPN: the
            assigner keeps only those with IoU >= `pos_iou_threshold` as positives, so the track
            loss also sees boxes that are not exactly aligned with the instance.
        jitter_shift, jitter_scale: see `jitter_box_candidates`.
    """

    num_samples: int = 512
    pos_fraction: float = 0.5
    neg_pos_ub: int = 3
    pos_iou_threshold: float = 0.7
    neg_iou_threshold: float = 0.3
    min_pos_iou: float = 0.5
    track_weight: float = 0.25
    aux_weight: float = 1.0
    jitter_boxes: int = 0
    jitter_shift: float = 0.15
    jitter_scale: float = 0.25


def jitter_box_candidates(xyxy: Tensor, per_box: int, *, shift: float, scale: float,
                          generator: torch.Generator | None = None) -> Tensor:
    """`per_box` random boxes around each box: the centre moved by up to `shift` of the box's
    width and height, each side length scaled by `exp(U(-scale, scale))`.

    Args:
        xyxy (Tensor[G, 4]): boxes.

    Returns:
        Tensor[G * per_box, 4] float32, box-major (the candidates of box 0 first).
    """
    boxes = xyxy.float().repeat_interleave(per_box, dim=0)  # (G * per_box, 4)
    size = boxes[:, 2:] - boxes[:, :2]  # (M, 2) width, height
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    u = torch.rand((len(boxes), 4), generator=generator).to(boxes.device) * 2 - 1  # U(-1, 1)
    centre = centre + u[:, :2] * shift * size
    size = size * torch.exp(u[:, 2:] * scale)
    return torch.cat([centre - size / 2, centre + size / 2], dim=1)


class MasaObjective(nn.Module):
    """Adapter + distillation heads -> the six weighted loss terms of `LOSS_NAMES`.

    Args:
        adapter: the adapter being trained (must own a backbone).
        heads: the distillation heads.
        config: track sampling and loss settings.
    """

    def __init__(self, adapter: MasaAdapter, heads: ObjectPriorHeads,
                 config: TrackLossConfig | None = None) -> None:
        super().__init__()
        self.adapter = adapter
        self.heads = heads
        self.config = config or TrackLossConfig()
        self.register_buffer("pixel_mean", torch.tensor(PIXEL_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("pixel_std", torch.tensor(PIXEL_STD).view(1, 3, 1, 1),
                             persistent=False)

    def _sample(self, proposals: Tensor, gt_xyxy: Tensor,
                generator: torch.Generator | None) -> SampledBoxes:
        c = self.config
        if c.jitter_boxes and len(gt_xyxy):
            jittered = jitter_box_candidates(gt_xyxy, c.jitter_boxes, shift=c.jitter_shift,
                                             scale=c.jitter_scale, generator=generator)
            proposals = torch.cat([proposals, jittered.to(proposals.dtype)])
        return sample_instance_balanced(
            proposals, gt_xyxy.float(), generator=generator, num=c.num_samples,
            pos_fraction=c.pos_fraction, neg_pos_ub=c.neg_pos_ub,
            pos_iou_threshold=c.pos_iou_threshold, neg_iou_threshold=c.neg_iou_threshold,
            min_pos_iou=c.min_pos_iou,
        )

    def _embed(self, feats: list[Tensor], boxes: list[Tensor]) -> list[Tensor]:
        """Embeddings of per-image boxes `(K_b, 4)` -> per-image `(K_b, D)` float32."""
        rois = torch.cat([torch.cat([b.new_full((len(b), 1), i), b], 1)
                          for i, b in enumerate(boxes)])  # (K, 5): batch index, x1, y1, x2, y2
        embeds = self.adapter.embed_rois([f.float() for f in feats], rois).float()  # (K, D)
        return list(embeds.split([len(b) for b in boxes]))

    def track_losses(
        self, key_feats: list[Tensor], ref_feats: list[Tensor], key_proposals: list[Tensor],
        ref_proposals: list[Tensor], key_xyxy: list[Tensor], key_ids: list[Tensor],
        ref_xyxy: list[Tensor], ref_ids: list[Tensor], generator: torch.Generator | None = None,
    ) -> dict[str, Tensor]:
        """Track losses averaged over the images (SPEC §5.3 step 6, §5.4).

        Key embeddings come from the sampled key positives, reference embeddings from all sampled
        reference boxes (positives first).

        Returns:
            `loss_track` (weighted contrastive) and `loss_track_aux` (weighted margin L2).
        """
        key_samples = [self._sample(p, g, generator) for p, g in zip(key_proposals, key_xyxy)]
        ref_samples = [self._sample(p, g, generator) for p, g in zip(ref_proposals, ref_xyxy)]
        key_embeds = self._embed(key_feats, [s.xyxy[: s.num_pos] for s in key_samples])
        ref_embeds = self._embed(ref_feats, [s.xyxy for s in ref_samples])
        track, aux = [], []
        for b in range(len(key_samples)):
            targets = match_targets(key_samples[b], key_ids[b], ref_samples[b], ref_ids[b])
            # targets: (P, R)
            logits, cosine = track_logits(key_embeds[b], ref_embeds[b])  # (P, R) each
            track.append(unbiased_contrastive_loss(logits, targets))
            aux.append(margin_l2_loss(cosine, targets))
        return {"loss_track": self.config.track_weight * torch.stack(track).mean(),
                "loss_track_aux": self.config.aux_weight * torch.stack(aux).mean()}

    def forward(
        self, key_images: Tensor, ref_images: Tensor, key_xyxy: list[Tensor], key_ids: list[Tensor],
        ref_xyxy: list[Tensor], ref_ids: list[Tensor], generator: torch.Generator | None = None,
    ) -> dict[str, Tensor]:
        """All training losses of a batch of view pairs.

        Args:
            key_images, ref_images (Tensor[B, 3, S, S] uint8): RGB views.
            key_xyxy, ref_xyxy: B tensors `(N_b, 4)` float32, proposal boxes in view pixels.
            key_ids, ref_ids: B tensors `(N_b,)` int64, their instance ids.
            generator: randomness of the track-head sampling.

        Returns:
            dict: the six scalar losses of `LOSS_NAMES`, weights applied.
        """
        batch = key_images.shape[0]
        images = torch.cat([key_images, ref_images]).float()  # (2B, 3, S, S): one pass for both
        fused = self.adapter.features((images - self.pixel_mean) / self.pixel_std)
        key_feats, ref_feats = [f[:batch] for f in fused], [f[batch:] for f in fused]
        image_size = (int(images.shape[-2]), int(images.shape[-1]))
        with torch.autocast(images.device.type, enabled=False):  # box decoding, losses: float32
            key_float, ref_float = [f.float() for f in key_feats], [f.float() for f in ref_feats]
            key_proposals, losses = self.heads.rpn_loss(key_float, image_size, key_xyxy)
            ref_proposals = self.heads.propose(ref_float, image_size)
            losses.update(self.heads.box_loss(key_float, key_proposals, key_xyxy))
        losses.update(self.track_losses(key_feats, ref_feats, key_proposals, ref_proposals,
                                        key_xyxy, key_ids, ref_xyxy, ref_ids, generator))
        return {name: losses[name] for name in LOSS_NAMES}
