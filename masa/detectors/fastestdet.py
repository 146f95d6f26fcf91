"""FastestDet: a 1 MB anchor-free COCO-80 detector run with onnxruntime, the CPU-friendly default.

Reference: github.com/dog-qiuqiu/FastestDet (BSD-3-Clause), `example/onnx-runtime/runtime.py`
(pre- and post-processing) and `module/custom_layers.py::DetectHead` (output layout).

The network takes a `(1, 3, 352, 352)` float image scaled to 0-1 and returns `(1, 85, 22, 22)`:
channel 0 is the objectness (after sigmoid), 1-4 the raw box regression, 5-84 the class
probabilities (after softmax). Decoding, per grid cell `(gy, gx)`:
`score = obj * max(cls)`, `cx = (gx + tanh(r0)) / 22`, `cy = (gy + tanh(r1)) / 22`,
`w = sigmoid(r2)`, `h = sigmoid(r3)` (fractions of the frame), then class-agnostic NMS at IoU 0.35.

The network was trained on images read with `cv2.imread` and never converted (`utils/datasets.py`),
and the reference demo feeds `cv2.imread` output too: its input is **BGR**, so RGB frames are
flipped here. The demo resizes with `cv2.INTER_AREA`; so do we. It truncates boxes to integer pixels
for drawing; we keep them as floats.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch

from masa.cache import WeightSpec, download_to_cache, masa_home
from masa.compute import configured_threads
from masa.detectors.base import check_images
from masa.errors import InputError
from masa.structures import Detections

__all__ = [
    "COCO80_NAMES",
    "KNOWN_FASTESTDET_WEIGHTS",
    "FastestDetDetector",
    "build_fastestdet_detector",
    "decode_fastestdet",
    "resolve_fastestdet_weights",
]

#: The public ONNX file. No checksum is published with it and it could not be downloaded and
#: compared from the machine this was written on, so the SHA-256 of the first download is
#: recorded and checked on every later use (see `masa.cache.WeightSpec`).
KNOWN_FASTESTDET_WEIGHTS: dict[str, WeightSpec] = {
    "fastestdet": WeightSpec(
        "https://raw.githubusercontent.com/dog-qiuqiu/FastestDet/main/example/onnx-runtime/FastestDet.onnx",
        "FastestDet.onnx",
    ),
}
_FILENAME = "FastestDet.onnx"

#: `coco.names` of FastestDet (Darknet order, 0-based).
# fmt: off
COCO80_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorbike", "aeroplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich",
    "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "sofa",
    "pottedplant", "bed", "diningtable", "toilet", "tvmonitor", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
)
# fmt: on


def resolve_fastestdet_weights(name_or_path: str | os.PathLike[str] | None = None) -> Path:
    """A local FastestDet ONNX file: a file, a folder holding `FastestDet.onnx`, or a known name
    (downloaded once into `$MASA_HOME/detectors`).

    Raises:
        FileNotFoundError: neither a file, a folder with the file, nor a known name.
        InputError: the download failed, was refused (`MASA_OFFLINE=1`) or failed its checksum.
    """
    key = "fastestdet" if name_or_path is None else str(name_or_path)
    path = Path(key).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        if (path / _FILENAME).is_file():
            return path / _FILENAME
        raise FileNotFoundError(f"{path} holds no {_FILENAME}")
    if key in KNOWN_FASTESTDET_WEIGHTS:
        try:
            return download_to_cache(KNOWN_FASTESTDET_WEIGHTS[key], masa_home() / "detectors")
        except (OSError, ValueError) as e:
            raise InputError(str(e)) from None
    raise FileNotFoundError(
        f"FastestDet weights {key!r} are neither a file, a folder with {_FILENAME}, "
        "nor a known name "
        f"(known: {', '.join(KNOWN_FASTESTDET_WEIGHTS)})"
    )


def decode_fastestdet(
    feature_map: np.ndarray,
    height: int,
    width: int,
    *,
    score_threshold: float,
    nms_iou_threshold: float,
) -> Detections:
    """Decodes one FastestDet output map into detections (reference: `runtime.py::detection`).

    Args:
        feature_map (np.ndarray[85, Hg, Wg] float32): objectness, 4 box terms, 80 class
            probabilities.
        height, width: size of the original frame in pixels.
        score_threshold: keep cells with `obj * max(cls)` above this.
        nms_iou_threshold: class-agnostic NMS IoU.

    Returns:
        Detections with `xyxy` in frame pixels, `confidence` and COCO-80 `class_id`.
    """
    from torchvision.ops import nms

    fm = torch.from_numpy(np.ascontiguousarray(feature_map)).float()
    _, grid_h, grid_w = fm.shape
    cls_probs, class_id = fm[5:].max(0)  # (Hg, Wg)
    scores = fm[0] * cls_probs
    keep = scores > score_threshold
    gy, gx = torch.meshgrid(torch.arange(grid_h), torch.arange(grid_w), indexing="ij")
    cx = (fm[1].tanh() + gx) / grid_w
    cy = (fm[2].tanh() + gy) / grid_h
    bw, bh = fm[3].sigmoid(), fm[4].sigmoid()
    xyxy_norm = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1)[
        keep
    ]  # (N, 4)
    xyxy = xyxy_norm * torch.tensor([width, height, width, height], dtype=torch.float32)
    xyxy[:, 0::2] = xyxy[:, 0::2].clamp(0, width)
    xyxy[:, 1::2] = xyxy[:, 1::2].clamp(0, height)
    order = nms(xyxy, scores[keep], nms_iou_threshold)
    return Detections(xyxy[order], scores[keep][order], class_id[keep][order].to(torch.int64))


class FastestDetDetector:
    """FastestDet through onnxruntime. The exported graph takes one image, so a batch is a loop.

    Args:
        session: an `onnxruntime.InferenceSession` of `FastestDet.onnx`.
        score_threshold: keep detections with `obj * cls` above this (the reference uses 0.65-0.8
            for pictures; people and cars in video score 0.5-0.8).
        nms_iou_threshold: class-agnostic NMS IoU (reference: 0.35).
    """

    def __init__(
        self, session: object, *, score_threshold: float = 0.5, nms_iou_threshold: float = 0.35
    ) -> None:
        self.session = session
        self.class_names = dict(enumerate(COCO80_NAMES))
        self.score_threshold = score_threshold
        self.nms_iou_threshold = nms_iou_threshold
        model_input = session.get_inputs()[0]  # type: ignore[attr-defined]
        self._input_name = model_input.name
        self._input_hw = tuple(int(s) for s in model_input.shape[2:4])  # (352, 352)

    def __call__(self, images: list[np.ndarray]) -> list[Detections]:
        check_images(images)
        return [self._detect(image) for image in images]

    def _detect(self, image: np.ndarray) -> Detections:
        height, width = image.shape[:2]
        in_h, in_w = self._input_hw
        bgr = np.ascontiguousarray(image[..., ::-1])
        resized = cv2.resize(bgr, (in_w, in_h), interpolation=cv2.INTER_AREA)
        x = resized.transpose(2, 0, 1)[None].astype(np.float32) / 255.0  # (1, 3, in_h, in_w)
        feature_map = self.session.run(None, {self._input_name: x})[0][0]  # type: ignore[attr-defined]
        return decode_fastestdet(
            feature_map,
            height,
            width,
            score_threshold=self.score_threshold,
            nms_iou_threshold=self.nms_iou_threshold,
        )


def build_fastestdet_detector(
    *,
    weights: str | os.PathLike[str] | None = None,
    score_threshold: float = 0.5,
    nms_iou_threshold: float = 0.35,
    device: str | torch.device = "cpu",
    num_threads: int | None = None,
) -> FastestDetDetector:
    """FastestDet (COCO-80, 352x352 input, ~1 MB) with onnxruntime.

    Args:
        weights: the ONNX file, a folder holding `FastestDet.onnx`, or a known name (default
            "fastestdet", downloaded to `$MASA_HOME/detectors` on first use).
        score_threshold, nms_iou_threshold: see `FastestDetDetector`.
        device: "cuda" uses onnxruntime's CUDA provider when it is installed, else the CPU.
        num_threads: onnxruntime intra-op threads; None: `masa.compute.set_threads`'s count if
            set, else onnxruntime's choice.

    Raises:
        ImportError: onnxruntime is not installed.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise ImportError(
            "FastestDet needs onnxruntime: pip install 'masa-track[fastestdet]'"
        ) from None
    path = resolve_fastestdet_weights(weights)
    options = ort.SessionOptions()
    num_threads = num_threads or configured_threads()
    if num_threads is not None:
        options.intra_op_num_threads = num_threads
    providers = ["CPUExecutionProvider"]
    if (
        torch.device(device).type == "cuda"
        and "CUDAExecutionProvider" in ort.get_available_providers()
    ):
        providers.insert(0, "CUDAExecutionProvider")
    try:
        session = ort.InferenceSession(str(path), options, providers=providers)
    except Exception as e:
        raise InputError(f"{path}: cannot load the ONNX model ({type(e).__name__}: {e})") from None
    return FastestDetDetector(
        session, score_threshold=score_threshold, nms_iou_threshold=nms_iou_threshold
    )
