"""SAM + the MASA-SAM adapter + MASA's detection head: one image-encoder pass per frame feeds the
adapter (embeddings, proposals) and SAM's mask decoder (masks)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from masa.adapter.model import AdapterConfig, MasaAdapter, sam_adapter_config
from masa.adapter.preprocess import preprocess_image, rescale_size
from masa.segment.proposals import ObjectProposer, ProposalSettings
from masa.segment.sam import BlockOutputTap, SamConfig, build_sam, predict_box_masks

__all__ = ["EncodedFrame", "SamMasa", "build_sam_masa"]


@dataclass(frozen=True, eq=False)
class EncodedFrame:
    """One frame after SAM's image encoder and the adapter.

    Attributes:
        image_embeddings (Tensor[1, P, g, g] | None): the encoder's final output (mask decoder
            input); None when the frame was encoded by SAM's automatic mask generator.
        fused: the adapter's levels `(1, C, H_l, W_l)`, strides 4, 8, 16, 32, 64.
        scale_factor: `(sx, sy)`, frame pixels -> encoder-input pixels.
        input_size: `(h, w)` of the resized frame inside the padded square input.
        original_size: `(H, W)` of the frame.
    """

    image_embeddings: Tensor | None
    fused: list[Tensor]
    scale_factor: tuple[float, float]
    input_size: tuple[int, int]
    original_size: tuple[int, int]

    def to_input(self, xyxy: Tensor) -> Tensor:
        """Tensor[N, 4] xyxy frame pixels -> encoder-input pixels."""
        sx, sy = self.scale_factor
        return xyxy * xyxy.new_tensor([sx, sy, sx, sy])

    def to_frame(self, xyxy: Tensor) -> Tensor:
        """Tensor[N, 4] xyxy encoder-input pixels -> frame pixels."""
        sx, sy = self.scale_factor
        return xyxy / xyxy.new_tensor([sx, sy, sx, sy])


def _global_blocks(image_encoder: nn.Module) -> tuple[int, ...]:
    """Indexes of the encoder blocks with global attention (`window_size == 0`)."""
    return tuple(i for i, block in enumerate(image_encoder.blocks) if block.window_size == 0)


class SamMasa(nn.Module):
    """SAM (`segment_anything.modeling.Sam`) with the MASA-SAM adapter on its global-attention
    block outputs, and optionally MASA's detection head as an object proposer.

    Args:
        sam: the SAM model; its image encoder runs once per frame.
        adapter: a MASA adapter with `neck="simple_fpn"` whose input width is the ViT width.
        proposer: the RPN + box head, or None (boxes must then come from elsewhere).

    Frames are resized and padded for SAM's encoder input (`img_size`, 1024 for SAM), whatever the
    adapter config's `resize` / `pad_divisor` say (they equal it for the official models).

    Raises:
        ValueError: the adapter does not fit the encoder (width, number of tapped blocks).
    """

    def __init__(self, sam: nn.Module, adapter: MasaAdapter, proposer: ObjectProposer | None = None) -> None:
        super().__init__()
        encoder = sam.image_encoder
        blocks = _global_blocks(encoder)
        width = encoder.patch_embed.proj.out_channels
        config = adapter.config
        if config.neck != "simple_fpn" or config.in_channels != (width,) * len(blocks) or len(blocks) != 4:
            raise ValueError(
                f"the adapter (neck {config.neck!r}, in_channels {config.in_channels}) does not fit a SAM "
                f"encoder of width {width} with global-attention blocks {blocks}"
            )
        self.sam = sam
        self.adapter = adapter
        self.proposer = proposer
        self.tap = BlockOutputTap(encoder, blocks)

    @property
    def img_size(self) -> int:
        """Side of SAM's square encoder input (1024)."""
        return int(self.sam.image_encoder.img_size)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def input_geometry(self, height: int, width: int) -> tuple[tuple[float, float], tuple[int, int]]:
        """`((sx, sy), (h, w))`: the resize factor and resized size of an `height` x `width` frame
        (longest side to `img_size`, as both mmdet's keep-ratio Resize and SAM's
        `ResizeLongestSide` compute it)."""
        new_h, new_w = rescale_size(height, width, (self.img_size, self.img_size))
        return (new_w / width, new_h / height), (new_h, new_w)

    def encode_levels(self, levels: list[Tensor], original_size: tuple[int, int],
                      image_embeddings: Tensor | None = None) -> EncodedFrame:
        """Runs the adapter on tapped block outputs `4 x (1, C, g, g)` of a frame of
        `original_size` `(H, W)`."""
        scale, input_size = self.input_geometry(*original_size)
        fused = self.adapter.adapt(levels)
        return EncodedFrame(image_embeddings, fused, scale, input_size, tuple(original_size))

    def encode(self, image: np.ndarray) -> EncodedFrame:
        """SAM's image encoder (once) and the adapter on one frame.

        Args:
            image (np.ndarray[H, W, 3] uint8): RGB frame. It is resized (longest side to
                `img_size`, bilinear on float32), normalised and zero-padded to a square as in
                MASA's SAM test configs (SPEC §1.3), then fed to SAM in RGB order.
        """
        images, _ = preprocess_image(
            image, scale=(self.img_size, self.img_size), pad_divisor=self.img_size, device=self.device
        )  # (1, 3, S, S)
        self.tap.reset()
        embeddings = self.sam.image_encoder(images)  # (1, P, g, g)
        return self.encode_levels(self.tap.levels(), image.shape[:2], embeddings)

    def propose(
        self, encoded: EncodedFrame, settings: ProposalSettings | None = None
    ) -> tuple[Tensor, Tensor]:
        """Object boxes from MASA's detection head.

        Returns:
            (xyxy, scores): Tensor[N, 4] in frame pixels, Tensor[N] in [0, 1], best first.

        Raises:
            RuntimeError: the model has no detection head.
        """
        if self.proposer is None:
            raise RuntimeError("this model has no detection head (rpn_head / roi_head): give boxes instead")
        boxes, scores = self.proposer(encoded.fused, encoded.input_size, settings)
        return encoded.to_frame(boxes), scores

    def box_masks(
        self, encoded: EncodedFrame, xyxy: Tensor, *, batch_size: int = 32
    ) -> tuple[Tensor, Tensor]:
        """SAM masks prompted by boxes (Tensor[N, 4] xyxy frame pixels).

        Returns:
            (masks, iou_predictions): Tensor[N, H, W] bool at frame resolution, Tensor[N].
        """
        if encoded.image_embeddings is None:
            raise RuntimeError("this frame was encoded without SAM's final embeddings; use encode()")
        return predict_box_masks(
            self.sam, encoded.image_embeddings, encoded.to_input(xyxy.to(self.device)),
            input_size=encoded.input_size, original_size=encoded.original_size, batch_size=batch_size,
        )

    def embed_boxes(self, encoded: EncodedFrame, xyxy: Tensor) -> Tensor:
        """Track-head embeddings of boxes (Tensor[N, 4] xyxy frame pixels).

        Returns:
            Tensor[N, D] float32: raw embeddings (not normalised), as the tracker expects.
        """
        boxes = encoded.to_input(xyxy.to(self.device).float())
        rois = torch.cat([boxes.new_zeros(len(boxes), 1), boxes], dim=1)  # (N, 5)
        return self.adapter.embed_rois(encoded.fused, rois).float()


def build_sam_masa(
    sam_config: SamConfig,
    adapter_config: AdapterConfig | None = None,
    *,
    proposer_fc_channels: int | None = 1024,
    device: str | torch.device = "cpu",
) -> SamMasa:
    """SAM + MASA-SAM adapter + detection head with random weights, in eval mode.

    Args:
        sam_config: SAM's architecture (`sam_vit_b_config()`, `sam_vit_h_config()`, or smaller).
        adapter_config: the adapter; by default the official MASA-SAM one for this ViT width.
        proposer_fc_channels: width of the box head's fully connected layers; None: no head.
        device: where the model lives.
    """
    config = adapter_config or sam_adapter_config(
        sam_config.embed_dim, pad_divisor=sam_config.img_size, resize=(sam_config.img_size,) * 2
    )
    proposer = None
    if proposer_fc_channels is not None:
        proposer = ObjectProposer(
            config.strides, roi_levels=config.roi_levels, channels=config.channels,
            fc_channels=proposer_fc_channels,
        )
    return SamMasa(build_sam(sam_config), MasaAdapter(config), proposer).to(device).eval()
