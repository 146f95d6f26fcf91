"""torchvision's COCO detectors (Faster R-CNN v2, RetinaNet v2, FCOS, SSDlite) behind `Detector`.

Weights come from torchvision's own cache (`$TORCH_HOME/hub/checkpoints`, where torchvision itself
looks), downloaded through `masa.cache` on first use, so `MASA_OFFLINE=1` and download failures give
one-line errors and a corrupt file is caught; or from a local state-dict file; or nowhere (random
weights, for tests). Class ids are torchvision's COCO category indices (1 = person, 3 = car, ...).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from masa.cache import WeightSpec, download_to_cache, file_digest
from masa.detectors.base import check_images
from masa.errors import InputError
from masa.safe_load import load_weights_file
from masa.structures import Detections

__all__ = [
    "TorchvisionDetector",
    "build_fasterrcnn_v2_detector",
    "build_fcos_detector",
    "build_retinanet_v2_detector",
    "build_ssdlite_detector",
]

#: Marks "use torchvision's pretrained weights" (the enum's DEFAULT entry).
DEFAULT_WEIGHTS = "DEFAULT"


class TorchvisionDetector:
    """A torchvision detection model in eval mode; frames go through it as one batch.

    Args:
        model: e.g. `torchvision.models.detection.fasterrcnn_resnet50_fpn_v2(...)`; it resizes
            and normalises internally and returns boxes in input pixels.
        class_names: name of each label index the model returns.
    """

    def __init__(self, model: nn.Module, class_names: dict[int, str]) -> None:
        self.model = model.eval()
        self.class_names = dict(class_names)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.inference_mode()
    def __call__(self, images: list[np.ndarray]) -> list[Detections]:
        check_images(images)
        if not images:
            return []
        device = self.device
        tensors = [
            torch.from_numpy(image).to(device).permute(2, 0, 1).float().div_(255)
            for image in images
        ]  # (3, H, W)
        outputs = self.model(tensors)
        return [
            Detections(out["boxes"].float(), out["scores"].float(), out["labels"].to(torch.int64))
            for out in outputs
        ]


def _category_names(weights_enum: Any) -> dict[int, str]:
    categories = weights_enum.DEFAULT.meta["categories"]
    return {i: name for i, name in enumerate(categories) if name not in ("__background__", "N/A")}


def _cached_torchvision_weights(weights: Any) -> Path:
    """The weights file, where torchvision keeps it, fetched through the masa download cache;
    checks the SHA-256 prefix torchvision writes into its file names."""
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    filename = os.path.basename(weights.url)
    try:
        path = download_to_cache(WeightSpec(weights.url, filename), folder)
    except (OSError, ValueError) as e:
        raise InputError(f"{e}; or pass a state-dict file with --detector-weights") from None
    match = re.search(r"-([a-f0-9]{6,})\.", filename)
    if match:
        recorded = path.with_name(path.name + ".sha256")
        digest = (
            recorded.read_text().split()[0] if recorded.is_file() else file_digest(path, "sha256")
        )
        if not digest.startswith(match.group(1)):
            raise InputError(
                f"{path}: checksum does not start with {match.group(1)}; delete the file and retry"
            )
    return path


def _load_state_dict_file(model: nn.Module, path: Path) -> None:
    """Strict loading that tolerates only BatchNorm's `num_batches_tracked` counters being absent
    (weights saved from frozen-BN models, as torchvision's pretrained FCOS)."""
    state = load_weights_file(path, what="detector weights")
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise InputError(f"{path}: expected a state dict, but got {type(state).__name__}")
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches
        raise InputError(
            f"{path} does not fit the model: {str(e).splitlines()[-1].strip()}"
        ) from None
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        raise InputError(
            f"{path} does not fit the model: missing {missing[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}"
        )


def _build(
    builder: Callable[..., nn.Module],
    weights_enum: Any,
    weights: str | os.PathLike[str] | None,
    device: str | torch.device,
) -> TorchvisionDetector:
    names = _category_names(weights_enum)
    path = None if weights is None else Path(weights).expanduser()
    if path is not None and not path.is_file():
        key = str(weights)
        if key not in weights_enum.__members__:
            raise FileNotFoundError(
                f"detector weights {key!r} are neither a file nor one of "
                f"{', '.join(weights_enum.__members__)}"
            )
        # read by masa's safe loader too: torchvision's own loading unpickles without weights_only
        path = _cached_torchvision_weights(weights_enum[key])
    model = builder(
        weights=None,
        weights_backbone=None,
        num_classes=len(weights_enum.DEFAULT.meta["categories"]),
    )
    if path is not None:
        _load_state_dict_file(model, path)
    return TorchvisionDetector(model.to(device), names)


def build_fasterrcnn_v2_detector(
    *, weights: str | os.PathLike[str] | None = DEFAULT_WEIGHTS, device: str | torch.device = "cpu"
) -> TorchvisionDetector:
    """Faster R-CNN ResNet-50 FPN v2 (COCO box AP 46.7, the most accurate here).

    Args:
        weights: "DEFAULT" / "COCO_V1" (torchvision's pretrained weights), a state-dict file, or
            None for random weights.
        device: where the model runs.
    """
    from torchvision.models import detection

    return _build(
        detection.fasterrcnn_resnet50_fpn_v2,
        detection.FasterRCNN_ResNet50_FPN_V2_Weights,
        weights,
        device,
    )


def build_retinanet_v2_detector(
    *, weights: str | os.PathLike[str] | None = DEFAULT_WEIGHTS, device: str | torch.device = "cpu"
) -> TorchvisionDetector:
    """RetinaNet ResNet-50 FPN v2 (COCO box AP 41.5).

    Arguments as `build_fasterrcnn_v2_detector`.
    """
    from torchvision.models import detection

    return _build(
        detection.retinanet_resnet50_fpn_v2,
        detection.RetinaNet_ResNet50_FPN_V2_Weights,
        weights,
        device,
    )


def build_fcos_detector(
    *, weights: str | os.PathLike[str] | None = DEFAULT_WEIGHTS, device: str | torch.device = "cpu"
) -> TorchvisionDetector:
    """FCOS ResNet-50 FPN (COCO box AP 39.2). Arguments as `build_fasterrcnn_v2_detector`."""
    from torchvision.models import detection

    return _build(detection.fcos_resnet50_fpn, detection.FCOS_ResNet50_FPN_Weights, weights, device)


def build_ssdlite_detector(
    *, weights: str | os.PathLike[str] | None = DEFAULT_WEIGHTS, device: str | torch.device = "cpu"
) -> TorchvisionDetector:
    """SSDlite320 MobileNetV3-Large (COCO box AP 21.3, the fastest). Arguments as
    `build_fasterrcnn_v2_detector`."""
    from torchvision.models import detection

    return _build(
        detection.ssdlite320_mobilenet_v3_large,
        detection.SSDLite320_MobileNet_V3_Large_Weights,
        weights,
        device,
    )
