"""Segment and track anything: per frame, SAM's encoder once, boxes from one of three sources, SAM
masks, and adapter embeddings for the tracker.

`SamMasaSegmenter` is both the `detect` and the `embedder` of `masa.pipeline.track_frames`:

    segmenter = SamMasaSegmenter(load_sam_masa("sam_vitb_masa"), HeadProposals())
    for result in track_frames(frames, segmenter, segmenter, tracker): ...

Box sources:
- `HeadProposals`: MASA's detection head (RPN + box head) on the adapter's features.
- `DetectorBoxes`: any detector or a detections file (`(frame_idx, image) -> Detections`).
- `AutomaticMasks`: SAM's automatic mask generator (point grid), for comparison.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import numpy as np
import torch
from torch import Tensor

from masa.segment.model import EncodedFrame, SamMasa
from masa.segment.proposals import ProposalSettings
from masa.structures import Detections

__all__ = [
    "BoxSource",
    "HeadProposals",
    "DetectorBoxes",
    "AutomaticMasks",
    "SamMasaSegmenter",
    "remove_mask_overlaps",
    "masks_to_xyxy",
]


class BoxSource(Protocol):
    def detect(
        self, model: SamMasa, frame_idx: int, image: np.ndarray
    ) -> tuple[EncodedFrame, Detections]: ...


def remove_mask_overlaps(masks: Tensor, scores: Tensor) -> Tensor:
    """Gives each pixel to the highest-scoring mask that covers it (SPEC §6.4, MOTS).

    Args:
        masks (Tensor[N, H, W] bool): possibly overlapping masks.
        scores (Tensor[N]): their scores; ties go to the earlier mask.

    Returns:
        Tensor[N, H, W] bool: disjoint masks, in the input order (some may become empty).
    """
    out = torch.zeros_like(masks)
    claimed = torch.zeros(masks.shape[1:], dtype=torch.bool, device=masks.device)  # (H, W)
    for i in torch.argsort(scores, descending=True, stable=True).tolist():
        out[i] = masks[i] & ~claimed
        claimed |= masks[i]
    return out


def masks_to_xyxy(masks: Tensor) -> Tensor:
    """Tight boxes around masks, covering whole pixels: `x2 = last column + 1`.

    Args:
        masks (Tensor[N, H, W] bool).

    Returns:
        Tensor[N, 4] float32 xyxy; all zeros for an empty mask.
    """
    boxes = torch.zeros((masks.shape[0], 4), device=masks.device)
    for i, mask in enumerate(masks):
        ys, xs = torch.nonzero(mask, as_tuple=True)
        if xs.numel():
            boxes[i] = torch.stack([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]).float()
    return boxes


class HeadProposals:
    """Boxes from MASA's detection head (the default with an official SAM-MASA checkpoint).

    Args:
        settings: the head's test-time thresholds (official `configs/masa-sam` values by default).
    """

    def __init__(self, settings: ProposalSettings | None = None) -> None:
        self.settings = settings or ProposalSettings()

    def detect(self, model: SamMasa, frame_idx: int, image: np.ndarray) -> tuple[EncodedFrame, Detections]:
        encoded = model.encode(image)
        xyxy, scores = model.propose(encoded, self.settings)
        masks, _ = model.box_masks(encoded, xyxy)
        class_id = torch.zeros(len(xyxy), dtype=torch.int64, device=xyxy.device)
        return encoded, Detections(xyxy, scores, class_id, mask=masks)


class DetectorBoxes:
    """Boxes from any detector or a detections file; SAM turns each box into a mask.

    Args:
        detect: `(frame_idx, image) -> Detections` with `xyxy` in frame pixels (e.g. a
            `DetectionTable.get` wrapper or a detector of `masa detect-track`). Masks it may
            carry are replaced by SAM's.
    """

    def __init__(self, detect: Callable[[int, np.ndarray], Detections]) -> None:
        self._detect = detect

    @classmethod
    def from_detector(cls, detector: Callable[[list[np.ndarray]], list[Detections]]) -> DetectorBoxes:
        """Wraps a `masa.detectors` detector (`detector(images) -> list[Detections]`, the detectors
        of `masa detect-track`), called on one frame at a time."""
        return cls(lambda frame_idx, image: detector([image])[0])

    def detect(self, model: SamMasa, frame_idx: int, image: np.ndarray) -> tuple[EncodedFrame, Detections]:
        detections = self._detect(frame_idx, image).to(model.device)
        encoded = model.encode(image)
        masks, _ = model.box_masks(encoded, detections.xyxy)
        return encoded, detections.replace(mask=masks)


class AutomaticMasks:
    """SAM's automatic mask generator ("everything" mode) as the box and mask source.

    The generator runs SAM's image encoder itself (with SAM's own resizing); the adapter reads the
    tapped block outputs of that same pass. Boxes are tight boxes around the masks; scores are
    SAM's predicted IoU.

    Args:
        points_per_side: the point grid is `points_per_side` squared prompts.
        pred_iou_threshold: drop masks whose predicted IoU is below this (SAM: 0.88).
        stability_score_threshold: drop masks less stable than this (SAM: 0.95).
        box_nms_threshold: NMS IoU between the generated masks' boxes (SAM: 0.7).
        max_masks: keep at most this many masks per frame, best first (None: all).
    """

    def __init__(
        self, *, points_per_side: int = 32, pred_iou_threshold: float = 0.88,
        stability_score_threshold: float = 0.95, box_nms_threshold: float = 0.7, max_masks: int | None = None,
    ) -> None:
        self.options = dict(
            points_per_side=points_per_side, pred_iou_thresh=pred_iou_threshold,
            stability_score_thresh=stability_score_threshold, box_nms_thresh=box_nms_threshold,
        )
        self.max_masks = max_masks
        self._generator: Any = None
        self._sam: Any = None

    def _generator_for(self, model: SamMasa) -> Any:
        if self._sam is not model.sam:
            from segment_anything import SamAutomaticMaskGenerator

            self._generator = SamAutomaticMaskGenerator(model.sam, output_mode="binary_mask", **self.options)
            self._sam = model.sam
        return self._generator

    def detect(self, model: SamMasa, frame_idx: int, image: np.ndarray) -> tuple[EncodedFrame, Detections]:
        generator = self._generator_for(model)
        model.tap.reset()
        records = generator.generate(image)  # RGB, as SAM expects
        encoded = model.encode_levels(model.tap.levels(), image.shape[:2])
        records.sort(key=lambda r: -r["predicted_iou"])
        records = records[: self.max_masks] if self.max_masks is not None else records
        height, width = image.shape[:2]
        device = model.device
        if not records:
            empty = torch.zeros((0, height, width), dtype=torch.bool, device=device)
            return encoded, Detections.empty(device).replace(mask=empty)
        masks = torch.from_numpy(np.stack([r["segmentation"] for r in records])).to(device)  # (N, H, W)
        scores = torch.tensor([r["predicted_iou"] for r in records], dtype=torch.float32, device=device)
        class_id = torch.zeros(len(records), dtype=torch.int64, device=device)
        return encoded, Detections(masks_to_xyxy(masks), scores, class_id, mask=masks)


class SamMasaSegmenter:
    """The pipeline's `detect` and `embedder` in one: SAM's encoder runs once per frame.

    Calling it on a frame encodes the frame, gets boxes and masks from the box source, and keeps
    the encoded frame; `embed` on the same frame (the same array object) reuses it.

    Args:
        model: SAM + adapter (+ detection head).
        boxes: where boxes come from (`HeadProposals`, `DetectorBoxes`, `AutomaticMasks`).
        remove_overlaps: give each pixel to the highest-scoring mask only (MOTS requires
            disjoint masks); a detection whose mask becomes empty is kept.
    """

    def __init__(self, model: SamMasa, boxes: BoxSource, *, remove_overlaps: bool = True) -> None:
        self.model = model
        self.boxes = boxes
        self.remove_overlaps = remove_overlaps
        self._image: np.ndarray | None = None
        self._encoded: EncodedFrame | None = None

    def reset(self) -> None:
        """Forgets the last encoded frame."""
        self._image, self._encoded = None, None

    @torch.inference_mode()
    def __call__(self, frame_idx: int, image: np.ndarray) -> Detections:
        """Boxes and masks of one frame.

        Args:
            frame_idx: 0-based frame index.
            image (np.ndarray[H, W, 3] uint8): RGB frame.

        Returns:
            Detections on the model's device with `mask` Tensor[N, H, W] bool.
        """
        encoded, detections = self.boxes.detect(self.model, frame_idx, image)
        if self.remove_overlaps and len(detections):
            detections = detections.replace(mask=remove_mask_overlaps(detections.mask, detections.confidence))
        self._image, self._encoded = image, encoded
        return detections

    @torch.inference_mode()
    def embed(self, image: np.ndarray, boxes_xyxy: Tensor) -> Tensor:
        """Track-head embeddings `Tensor[N, D]` of boxes (Tensor[N, 4] xyxy frame pixels).

        Reuses the encoded frame of the last call when `image` is that frame; else encodes it.
        """
        encoded = self._encoded
        if image is not self._image or encoded is None:
            encoded = self.model.encode(image)
        return self.model.embed_boxes(encoded, torch.as_tensor(boxes_xyxy).reshape(-1, 4))
