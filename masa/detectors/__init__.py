"""Detectors: one call from a batch of RGB frames to one `Detections` per frame.

- `build_fastestdet_detector`: FastestDet (COCO-80, onnxruntime), the CPU-friendly default.
- `build_{fasterrcnn_v2,retinanet_v2,fcos,ssdlite}_detector`: torchvision's COCO detectors.
- `build_grounding_dino_detector`: text-prompted Grounding DINO (`transformers`, extra [gdino]).
- `CallableDetector`: any function returning `(boxes, scores, labels)` per image.
- `FilteredDetector`: class filter, score threshold and class-agnostic NMS over any detector.
- `DetectAhead`: runs a detector on batches under the per-frame pipeline.
- `UnifiedEmbedder`: detector + adapter sharing one backbone (MASA-GDINO).

Optional dependencies (onnxruntime, transformers) are imported only when a detector is built.
"""

from __future__ import annotations

from masa.detectors.base import (
    CallableDetector,
    Detector,
    FilteredDetector,
    detections_from_outputs,
    filter_detections,
    resolve_class_ids,
)
from masa.detectors.batching import DetectAhead
from masa.detectors.fastestdet import FastestDetDetector, build_fastestdet_detector
from masa.detectors.grounding_dino import GroundingDinoDetector, build_grounding_dino_detector
from masa.detectors.torchvision_models import (
    TorchvisionDetector,
    build_fasterrcnn_v2_detector,
    build_fcos_detector,
    build_retinanet_v2_detector,
    build_ssdlite_detector,
)
from masa.detectors.unified import FeatureBatch, UnifiedEmbedder

__all__ = [
    "CallableDetector",
    "DetectAhead",
    "Detector",
    "FastestDetDetector",
    "FeatureBatch",
    "FilteredDetector",
    "GroundingDinoDetector",
    "TorchvisionDetector",
    "UnifiedEmbedder",
    "build_fasterrcnn_v2_detector",
    "build_fastestdet_detector",
    "build_fcos_detector",
    "build_grounding_dino_detector",
    "build_retinanet_v2_detector",
    "build_ssdlite_detector",
    "detections_from_outputs",
    "filter_detections",
    "resolve_class_ids",
]
