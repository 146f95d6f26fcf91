"""Segment and track anything: SAM's image encoder once per frame, MASA's detection head (or any
detector, or SAM's automatic mask generator) for boxes, SAM's mask decoder for masks, and the
MASA-SAM adapter for the tracker's embeddings. Needs the `sam` extra (segment-anything)."""

from __future__ import annotations

from masa.segment.checkpoint import load_sam_masa, save_sam_masa, split_sam_masa_state
from masa.segment.model import EncodedFrame, SamMasa, build_sam_masa
from masa.segment.proposals import ObjectProposer, ProposalSettings
from masa.segment.sam import (
    SAM_WEIGHTS,
    BlockOutputTap,
    SamConfig,
    build_sam,
    load_sam,
    predict_box_masks,
    sam_config_from_state,
    sam_vit_b_config,
    sam_vit_h_config,
)
from masa.segment.segmenter import (
    AutomaticMasks,
    DetectorBoxes,
    HeadProposals,
    SamMasaSegmenter,
    masks_to_xyxy,
    remove_mask_overlaps,
)

__all__ = [
    "SAM_WEIGHTS",
    "AutomaticMasks",
    "BlockOutputTap",
    "DetectorBoxes",
    "EncodedFrame",
    "HeadProposals",
    "ObjectProposer",
    "ProposalSettings",
    "SamConfig",
    "SamMasa",
    "SamMasaSegmenter",
    "build_sam",
    "build_sam_masa",
    "load_sam",
    "load_sam_masa",
    "masks_to_xyxy",
    "predict_box_masks",
    "remove_mask_overlaps",
    "sam_config_from_state",
    "sam_vit_b_config",
    "sam_vit_h_config",
    "save_sam_masa",
    "split_sam_masa_state",
]
