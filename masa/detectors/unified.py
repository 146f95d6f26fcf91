"""MASA's unified mode: the detector's backbone runs once per frame and also feeds the adapter.

`UnifiedEmbedder` is both the detector of the batch (`__call__`) and the pipeline's `embedder`
(`embed`). Detecting a batch keeps the detector's backbone maps; embedding a frame's boxes then runs
only the adapter's neck, fusion and track head on those maps (`MasaAdapter.adapt` + `embed_rois`),
never a second backbone. This is the path of the official `gdino_masa.pth` (SPEC §4.1 Path C).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from masa.errors import InputError
from masa.structures import Detections

__all__ = ["FeatureBatch", "FeatureDetector", "UnifiedEmbedder", "check_unified_compatible"]


@dataclass
class FeatureBatch:
    """A batch's detections and the backbone maps they were computed from.

    Attributes:
        detections: one `Detections` per frame, `xyxy` in frame pixels.
        features: L maps `Tensor[B, C_l, H_l, W_l]`, finest first, in network-input pixels.
        scale_factors: per frame `(sx, sy)`, frame pixels -> network-input pixels.
    """

    detections: list[Detections]
    features: list[Tensor]
    scale_factors: list[tuple[float, float]]


class FeatureDetector(Protocol):
    """A detector that can hand out the backbone maps of the frames it detected."""

    class_names: dict[int, str]
    feature_channels: tuple[int, ...]
    feature_strides: tuple[int, ...]

    def detect_with_features(self, images: list[np.ndarray]) -> FeatureBatch: ...


def check_unified_compatible(detector: FeatureDetector, adapter: torch.nn.Module) -> None:
    """Checks that an adapter without a backbone fits the detector's backbone maps.

    Raises:
        InputError: the adapter has its own backbone, or channels or strides differ.
    """
    config = adapter.config
    if config.backbone is not None:
        raise InputError(
            "this adapter has its own backbone; it runs plug-and-play, not on detector features"
        )
    channels, strides = tuple(detector.feature_channels), tuple(detector.feature_strides)
    if channels != tuple(config.in_channels) or strides != tuple(config.in_strides):
        raise InputError(
            f"the adapter expects backbone maps with channels {tuple(config.in_channels)} "
            f"at strides {tuple(config.in_strides)}, but the detector gives channels {channels} "
            f"at strides {strides} (the gdino_masa adapter needs a Swin-B Grounding DINO, "
            "e.g. IDEA-Research/grounding-dino-base)"
        )


class UnifiedEmbedder:
    """Detects with a `FeatureDetector` and embeds boxes from the maps it computed.

    Args:
        detector: e.g. a `GroundingDinoDetector`.
        adapter: a `MasaAdapter` without a backbone whose inputs match the detector's maps.

    Raises:
        InputError: see `check_unified_compatible`.
    """

    def __init__(self, detector: FeatureDetector, adapter: torch.nn.Module) -> None:
        check_unified_compatible(detector, adapter)
        self.detector = detector
        self.adapter = adapter
        self._batch: FeatureBatch | None = None
        self._images: list[np.ndarray] = []

    @property
    def class_names(self) -> dict[int, str]:
        return self.detector.class_names

    def __call__(self, images: list[np.ndarray]) -> list[Detections]:
        """Detects a batch and keeps its backbone maps until the next batch."""
        self._batch = self.detector.detect_with_features(images)
        self._images = list(images)
        return self._batch.detections

    @torch.inference_mode()
    def embed(self, image: np.ndarray, boxes_xyxy: Tensor) -> Tensor:
        """Raw embeddings of one frame's boxes, from the maps of the batch it was detected in.

        Args:
            image: the frame, the very array object passed to the last `__call__`.
            boxes_xyxy (Tensor[N, 4]): boxes in frame pixels.

        Returns:
            Tensor[N, D] float32 on the adapter's device.

        Raises:
            RuntimeError: the frame was not part of the last detected batch.
        """
        index = next((i for i, seen in enumerate(self._images) if seen is image), None)
        if self._batch is None or index is None:
            raise RuntimeError(
                "embed() needs the frame to be detected first, in the last batch of this object"
            )
        device = self.adapter.device
        boxes = torch.as_tensor(boxes_xyxy, dtype=torch.float32).reshape(-1, 4).to(device)
        if boxes.shape[0] == 0:
            return torch.zeros((0, self.adapter.config.embed_dim), device=device)
        feats = [
            level[index : index + 1].to(device, torch.float32) for level in self._batch.features
        ]
        sx, sy = self._batch.scale_factors[index]
        scale = torch.tensor([sx, sy, sx, sy], device=device)
        rois = torch.cat([boxes.new_zeros(len(boxes), 1), boxes * scale], dim=1)  # (N, 5)
        return self.adapter.embed_features(feats, rois).float()
