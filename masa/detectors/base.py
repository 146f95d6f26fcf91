"""The detector interface: a batch of RGB frames in, one `Detections` per frame out.

Any object with `class_names` and `__call__(images) -> list[Detections]` is a detector, so a user
can plug in their own model with `CallableDetector`, which wraps a plain function returning
`(boxes, scores, labels)` per image:

    >>> from masa.detectors import CallableDetector
    >>> def my_model(image):  # image: uint8 (H, W, 3) RGB
    ...     return [[10, 20, 50, 80]], [0.9], [0]  # xyxy pixels, scores, class ids
    >>> detector = CallableDetector(my_model, class_names={0: "person"})
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from masa.errors import InputError
from masa.structures import Detections

__all__ = [
    "CallableDetector",
    "Detector",
    "FilteredDetector",
    "check_images",
    "detections_from_outputs",
    "filter_detections",
    "resolve_class_ids",
]


@runtime_checkable
class Detector(Protocol):
    """What every detector provides.

    Attributes:
        class_names: name of each class id the detector can output.
    """

    class_names: dict[int, str]

    def __call__(self, images: list[np.ndarray]) -> list[Detections]:
        """Detects objects in a batch of frames.

        Args:
            images: B frames, each uint8 `(H, W, 3)` RGB; sizes may differ.

        Returns:
            B `Detections` with `xyxy` in each frame's pixels, `confidence` and `class_id`.
        """
        ...


def check_images(images: Sequence[np.ndarray]) -> None:
    """Raises ValueError unless every image is uint8 `(H, W, 3)`."""
    for i, image in enumerate(images):
        if (
            not isinstance(image, np.ndarray)
            or image.ndim != 3
            or image.shape[2] != 3
            or image.dtype != np.uint8
        ):
            got = (
                f"{image.dtype} {image.shape}"
                if isinstance(image, np.ndarray)
                else type(image).__name__
            )
            raise ValueError(f"images[{i}] must be uint8 with shape (H, W, 3), but got {got}")


def detections_from_outputs(boxes: Any, scores: Any, labels: Any | None = None) -> Detections:
    """Validates one image's raw detector outputs and builds `Detections` on the CPU.

    Args:
        boxes: array-like `(N, 4)` xyxy in pixels.
        scores: array-like `(N,)`.
        labels: array-like `(N,)` of integer class ids; zeros when None.

    Raises:
        ValueError: shapes that do not agree, or boxes with x2 < x1 or y2 < y1.
    """
    to_tensor = lambda x: x.detach() if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))  # noqa: E731
    xyxy = to_tensor(boxes).float().cpu()
    if xyxy.numel() == 0:
        xyxy = xyxy.reshape(0, 4)
    if xyxy.ndim != 2 or xyxy.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), but got shape {tuple(xyxy.shape)}")
    n = xyxy.shape[0]
    confidence = to_tensor(scores).float().cpu().reshape(-1)
    class_id = (
        torch.zeros(n, dtype=torch.int64) if labels is None else to_tensor(labels).cpu().reshape(-1)
    )
    if confidence.shape[0] != n or class_id.shape[0] != n:
        raise ValueError(
            f"boxes, scores and labels must have the same length, but got {n}, "
            f"{confidence.shape[0]} and {class_id.shape[0]}"
        )
    if n and bool(((xyxy[:, 2:] - xyxy[:, :2]) < 0).any()):
        raise ValueError("boxes must be xyxy with x1 <= x2 and y1 <= y2")
    return Detections(xyxy, confidence, class_id.to(torch.int64))


class CallableDetector:
    """Turns any function into a `Detector`.

    Args:
        fn: per image (default), `fn(image) -> (boxes, scores, labels)` with `image` uint8
            `(H, W, 3)` RGB and boxes xyxy in pixels; with `batched=True`,
            `fn(images) -> [(boxes, scores, labels), ...]`, one per image. A `Detections` is
            accepted in place of a tuple.
        class_names: names of the class ids `fn` returns; default `{0: "object"}`.
        batched: whether `fn` takes the whole batch.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        class_names: dict[int, str] | None = None,
        batched: bool = False,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"fn must be callable, but got {type(fn).__name__}")
        self.fn = fn
        self.class_names = dict(class_names) if class_names is not None else {0: "object"}
        self.batched = batched

    def __call__(self, images: list[np.ndarray]) -> list[Detections]:
        check_images(images)
        outputs = self.fn(images) if self.batched else [self.fn(image) for image in images]
        outputs = list(outputs)
        if len(outputs) != len(images):
            raise ValueError(
                f"the detector returned {len(outputs)} results for {len(images)} images"
            )
        return [_to_detections(out) for out in outputs]


def _to_detections(output: Any) -> Detections:
    if isinstance(output, Detections):
        return output
    if not isinstance(output, (tuple, list)) or len(output) not in (2, 3):
        raise TypeError(
            "a detector must return (boxes, scores, labels) or Detections, "
            f"but got {type(output).__name__}"
        )
    return detections_from_outputs(*output)


def filter_detections(
    detections: Detections,
    *,
    class_ids: Sequence[int] | None = None,
    score_threshold: float | None = None,
    nms_iou_threshold: float | None = None,
) -> Detections:
    """Keeps the wanted classes and scores, then runs class-agnostic NMS.

    Args:
        detections: one frame's N detections.
        class_ids: classes to keep; None keeps all.
        score_threshold: drop detections scoring at or below this; None keeps all.
        nms_iou_threshold: class-agnostic NMS (`torchvision.ops.nms`): of two boxes overlapping
            with IoU above this, the lower-scoring one is dropped. None disables it.

    Returns:
        The kept detections, in descending score order when NMS ran, else in input order.
    """
    from torchvision.ops import nms

    keep = torch.ones(len(detections), dtype=torch.bool, device=detections.xyxy.device)
    if class_ids is not None:
        wanted = torch.as_tensor(list(class_ids), dtype=torch.int64, device=keep.device)
        keep &= torch.isin(detections.class_id, wanted)
    if score_threshold is not None:
        keep &= detections.confidence > score_threshold
    kept = detections[keep]
    if nms_iou_threshold is not None and len(kept) > 1:
        kept = kept[nms(kept.xyxy.float(), kept.confidence.float(), nms_iou_threshold)]
    return kept


class FilteredDetector:
    """A detector followed by `filter_detections` on every frame.

    Args:
        detector: the wrapped detector.
        class_ids, score_threshold, nms_iou_threshold: see `filter_detections`.
    """

    def __init__(
        self,
        detector: Detector,
        *,
        class_ids: Sequence[int] | None = None,
        score_threshold: float | None = None,
        nms_iou_threshold: float | None = None,
    ) -> None:
        self.detector = detector
        self.class_ids = None if class_ids is None else tuple(class_ids)
        self.score_threshold = score_threshold
        self.nms_iou_threshold = nms_iou_threshold

    @property
    def class_names(self) -> dict[int, str]:
        return self.detector.class_names

    def __call__(self, images: list[np.ndarray]) -> list[Detections]:
        return [
            filter_detections(
                dets,
                class_ids=self.class_ids,
                score_threshold=self.score_threshold,
                nms_iou_threshold=self.nms_iou_threshold,
            )
            for dets in self.detector(images)
        ]


def resolve_class_ids(classes: Sequence[str], class_names: dict[int, str]) -> tuple[int, ...]:
    """Maps class names (case-insensitive) or integer ids to the detector's class ids.

    Raises:
        InputError: a name or id the detector does not know (the message lists the known names).
    """
    by_name = {name.lower(): class_id for class_id, name in class_names.items()}
    ids = []
    for item in classes:
        key = item.strip().lower()
        if key in by_name:
            ids.append(by_name[key])
        elif key.lstrip("-").isdigit() and int(key) in class_names:
            ids.append(int(key))
        else:
            known = ", ".join(sorted(by_name))
            raise InputError(
                f"--classes: {item.strip()!r} is not a class of this detector (known: {known})"
            )
    return tuple(dict.fromkeys(ids))
