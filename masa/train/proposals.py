"""Instance proposals for self-supervised training: COCO reading and validation, and making them.

Training images come with instance proposals in COCO format (SPEC §5.1): `images[]` with
`{id, file_name, width, height}` and `annotations[]` with `{id, image_id, bbox [x, y, w, h], area}`
(optionally `segmentation`). Any COCO instances file is accepted; categories are ignored, because
every instance is an object. Annotation ids must be unique and positive: they are the instance ids
that tie the two views of an image together.

`make_proposals` produces such a file from an image folder with one of three methods:
- `sam`: SAM's automatic mask generator (needs SAM weights), as the paper does;
- `selective-search`: a weight-free stand-in (`masa.train.selective_search`);
- `fastestdet`: FastestDet's detections as pseudo-boxes (a 1 MB COCO detector, no human labels
  on the images; `build_fastestdet_proposer`);
- `coco`: conversion of existing COCO instance annotations.
The file records a hash of its inputs and method; `make_proposals` reuses a file whose hash
matches and refuses to overwrite one whose hash differs unless asked to.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from masa.errors import InputError

__all__ = [
    "IMAGE_SUFFIXES",
    "METHODS",
    "ImageProposals",
    "ProposalSet",
    "ProposalError",
    "read_proposals",
    "list_images",
    "read_image",
    "make_proposals",
    "build_sam_generator",
    "build_fastestdet_proposer",
]

logger = logging.getLogger(__name__)

#: `RGB image (H, W, 3) uint8 -> [{"bbox": [x, y, w, h], "area": ..., ...}]`
Detect = Callable[[np.ndarray], list[dict[str, Any]]]
_Entry = tuple[dict[str, Any], list[dict[str, Any]]]  # (COCO image, its annotations)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
METHODS = ("sam", "selective-search", "fastestdet", "coco")


class ProposalError(InputError):
    """A proposals file that is unreadable or malformed (the message names file and entry)."""


@dataclass(frozen=True)
class ImageProposals:
    """The proposals of one image.

    Attributes:
        file_name: path relative to the image folder.
        width, height: image size in pixels, as the file states it.
        xyxy (np.ndarray[N, 4] float32): boxes in pixels.
        instance_id (np.ndarray[N] int64): annotation ids, > 0 and unique over the whole file.
    """

    file_name: str
    width: int
    height: int
    xyxy: np.ndarray
    instance_id: np.ndarray


@dataclass(frozen=True)
class ProposalSet:
    """A validated proposals file.

    Attributes:
        images: images with at least one usable proposal, in file order.
        method: how the proposals were made (`info.method`; "coco" for plain COCO files).
        path: the file.
        num_skipped: annotations skipped by the rules of SPEC §5.1 (ignore/crowd, empty, outside).
        num_empty_images: images left out because no proposal survived.
    """

    images: list[ImageProposals]
    method: str
    path: Path
    num_skipped: int = 0
    num_empty_images: int = 0


def _load_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"proposals file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ProposalError(f"{path}: not a readable JSON file ({e})") from None
    if not isinstance(data, dict):
        raise ProposalError(f"{path}: expected a COCO object with 'images' and 'annotations', "
                            f"got {type(data).__name__}")
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            raise ProposalError(f"{path}: '{key}' must be a list (COCO instances format)")
    return data


def _parse_images(path: Path, images: list[Any]) -> dict[int, dict[str, Any]]:
    by_id: dict[int, dict[str, Any]] = {}
    for i, image in enumerate(images):
        ok = (isinstance(image, dict) and isinstance(image.get("id"), int)
              and isinstance(image.get("file_name"), str)
              and all(isinstance(image.get(k), int) and image[k] > 0 for k in ("width", "height")))
        if not ok:
            raise ProposalError(f"{path}: images[{i}] must have int id, str file_name and positive "
                                "int width and height")
        if image["id"] in by_id:
            raise ProposalError(f"{path}: images[{i}]: duplicate image id {image['id']}")
        by_id[image["id"]] = image
    return by_id


def _usable(ann: dict[str, Any], x: float, y: float, w: float, h: float,
            image: dict[str, Any]) -> bool:
    """SPEC §5.1 skip rules: ignore/crowd, area <= 0, w or h < 1, no overlap with the image."""
    if ann.get("ignore") or ann.get("iscrowd"):
        return False
    area = ann.get("area", w * h)
    inter_w = min(x + w, image["width"]) - max(x, 0)
    inter_h = min(y + h, image["height"]) - max(y, 0)
    return area > 0 and w >= 1 and h >= 1 and inter_w > 0 and inter_h > 0


def read_proposals(path: str | os.PathLike[str]) -> ProposalSet:
    """Reads and validates a COCO-format proposals file (SPEC §5.1).

    Args:
        path: a COCO instances JSON file (from `masa proposals`, SAM-to-COCO, or any dataset).

    Returns:
        ProposalSet: boxes (xyxy) and instance ids per image; images without a usable box are
        left out and counted.

    Raises:
        FileNotFoundError: no such file.
        ProposalError: malformed JSON, a malformed or duplicate entry, an id <= 0, or no usable box.
    """
    path = Path(path)
    data = _load_json(path)
    images = _parse_images(path, data["images"])
    boxes: dict[int, list[list[float]]] = {k: [] for k in images}
    ids: dict[int, list[int]] = {k: [] for k in images}
    seen: set[int] = set()
    skipped = 0
    for i, ann in enumerate(data["annotations"]):
        where = f"{path}: annotations[{i}]"
        if not (isinstance(ann, dict) and isinstance(ann.get("id"), int)
                and isinstance(ann.get("image_id"), int)):
            raise ProposalError(f"{where} must have int 'id' and 'image_id'")
        if ann["id"] <= 0 or ann["id"] in seen:
            raise ProposalError(f"{where}: annotation id {ann['id']} must be positive and unique "
                                "(it is the instance id)")
        seen.add(ann["id"])
        if ann["image_id"] not in images:
            raise ProposalError(f"{where}: image_id {ann['image_id']} is not in 'images'")
        bbox = ann.get("bbox")
        numbers = isinstance(bbox, list) and all(isinstance(v, (int, float)) for v in bbox)
        if not (numbers and len(bbox) == 4):
            raise ProposalError(f"{where}: bbox must be [x, y, w, h] numbers, got {bbox!r}")
        x, y, w, h = (float(v) for v in bbox)
        if not np.isfinite([x, y, w, h]).all():
            raise ProposalError(f"{where}: bbox has a non-finite value {bbox!r}")
        if not _usable(ann, x, y, w, h, images[ann["image_id"]]):
            skipped += 1
            continue
        boxes[ann["image_id"]].append([x, y, x + w, y + h])
        ids[ann["image_id"]].append(ann["id"])
    result = [
        ImageProposals(image["file_name"], image["width"], image["height"],
                       np.asarray(boxes[k], np.float32).reshape(-1, 4),
                       np.asarray(ids[k], np.int64))
        for k, image in images.items() if boxes[k]
    ]
    if not result:
        raise ProposalError(f"{path}: no image has a usable proposal ({len(images)} images, "
                            f"{skipped} skipped boxes)")
    info = data.get("info") if isinstance(data.get("info"), dict) else {}
    method = str(info.get("method", "coco"))
    return ProposalSet(result, method, path, skipped, len(images) - len(result))


def list_images(image_dir: str | os.PathLike[str]) -> list[str]:
    """Image files under a folder (recursively), as sorted POSIX paths relative to it.

    Raises:
        NotADirectoryError: not a folder.
        InputError: no image files in it.
    """
    root = Path(image_dir)
    if not root.is_dir():
        raise NotADirectoryError(f"image folder not found: {root}")
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                   if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not names:
        raise InputError(f"{root}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    return names


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Reads an image file as RGB uint8 `(H, W, 3)`.

    Raises:
        InputError: the file is missing or cannot be decoded (the message names it).
    """
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{path}: cannot read image (missing, unreadable or not an image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _cache_key(method: str, params: dict[str, Any], image_dir: Path, names: list[str],
               coco_json: Path | None) -> str:
    """Hash of the method, its parameters and its inputs: each image's name, size and mtime
    (cheap for 500k images), or the COCO file's content."""
    settings = json.dumps({"method": method, "params": params}, sort_keys=True)
    digest = hashlib.sha256(settings.encode())
    if coco_json is not None:
        digest.update(_file_digest(coco_json).encode())
    for name in names:
        stat = (image_dir / name).stat()
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _existing_key(out: Path) -> str | None:
    try:
        info = json.loads(out.read_text()).get("info", {})
    except (OSError, ValueError, AttributeError):
        return None
    return info.get("cache_key") if isinstance(info, dict) else None


def _convert_coco(coco_json: Path, names: list[str]) -> Iterator[_Entry]:
    """COCO instances -> (image, annotations); checks that the listed images exist."""
    data = _load_json(coco_json)
    images = _parse_images(coco_json, data["images"])
    missing = sorted({im["file_name"] for im in images.values()} - set(names))
    if missing:
        raise InputError(f"{coco_json}: {len(missing)} listed image(s) are not in the image "
                         f"folder, e.g. {missing[:3]}")
    per_image: dict[int, list[dict[str, Any]]] = {k: [] for k in images}
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or ann.get("image_id") not in per_image:
            raise ProposalError(f"{coco_json}: annotations[{i}] has no valid image_id")
        keep = {k: ann[k] for k in ("id", "bbox", "area", "segmentation", "iscrowd") if k in ann}
        per_image[ann["image_id"]].append(keep)
    for k, image in images.items():
        yield {key: image[key] for key in ("file_name", "width", "height")}, per_image[k]


def _generate(
    names: list[str], image_dir: Path, detect: Detect,
    progress: Callable[[int, int], None] | None,
) -> Iterator[_Entry]:
    for i, name in enumerate(names):
        image = read_image(image_dir / name)
        yield {"file_name": name, "width": image.shape[1], "height": image.shape[0]}, detect(image)
        if progress is not None:
            progress(i + 1, len(names))


def _write(out: Path, entries: Iterator[_Entry], info: dict[str, Any]) -> int:
    """Writes a COCO file (atomically) with fresh image ids, and annotation ids where missing."""
    images, annotations, next_id = [], [], 1
    for image_id, (image, anns) in enumerate(entries, start=1):
        images.append({"id": image_id, **image})
        for ann in anns:
            ann_id = ann.get("id", next_id)
            next_id = max(next_id, ann_id) + 1
            x, y, w, h = (float(v) for v in ann["bbox"])
            annotations.append({**ann, "id": ann_id, "image_id": image_id, "bbox": [x, y, w, h],
                                "area": float(ann.get("area", w * h)), "category_id": 1,
                                "iscrowd": int(ann.get("iscrowd", 0))})
    data = {"info": info, "images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": "object"}]}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(json.dumps(data))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return len(annotations)


def build_sam_generator(checkpoint: str | os.PathLike[str], *, model_type: str = "vit_h",
                        device: str = "cpu", **amg_kwargs: Any) -> Detect:
    """SAM's automatic mask generator as `RGB image -> COCO annotations` (XYWH boxes, RLE masks).

    Args:
        checkpoint: SAM weights file (`sam_vit_h_4b8939.pth`, ...); required, never downloaded.
        model_type: a key of `segment_anything.sam_model_registry` ("vit_h" as in the paper).
        device: where SAM runs.
        **amg_kwargs: `SamAutomaticMaskGenerator` settings (points_per_side, pred_iou_thresh, ...).

    Raises:
        ImportError: segment-anything is not installed.
        FileNotFoundError: no such weights file.
    """
    try:
        from segment_anything import SamAutomaticMaskGenerator, sam_model_registry
    except ImportError:
        raise ImportError("SAM proposals need segment-anything: "
                          "pip install 'masa-track[sam]'") from None
    if model_type not in sam_model_registry:
        raise InputError(f"unknown SAM model {model_type!r}; known: {sorted(sam_model_registry)}")
    if not Path(checkpoint).is_file():
        raise FileNotFoundError(f"SAM weights not found: {checkpoint}")
    from masa.segment.sam import load_sam

    sam = load_sam(checkpoint, device=device)  # read safely; the architecture from the weights
    width = {"vit_b": 768, "vit_l": 1024}.get(model_type, 1280)
    if sam.image_encoder.patch_embed.proj.out_channels != width:
        raise InputError(f"{checkpoint} does not hold a SAM {model_type} (image encoder width "
                         f"{sam.image_encoder.patch_embed.proj.out_channels}, not {width})")
    generator = SamAutomaticMaskGenerator(sam, output_mode="coco_rle", **amg_kwargs)

    def detect(image: np.ndarray) -> list[dict[str, Any]]:
        masks = generator.generate(image)  # AMG boxes are XYWH, as COCO
        return [{"bbox": m["bbox"], "area": m["area"], "segmentation": m["segmentation"]}
                for m in masks]

    return detect


def build_fastestdet_proposer(weights: str | os.PathLike[str] | None = None, *,
                              score_threshold: float = 0.3,
                              num_threads: int | None = None) -> Detect:
    """FastestDet's detections (any of its 80 classes) as `RGB image -> COCO annotations`.

    Args:
        weights: see `masa.detectors.fastestdet.build_fastestdet_detector`.
        score_threshold: keep boxes scoring above this (lower than the tracking default 0.5:
            proposals want recall).
        num_threads: onnxruntime threads.
    """
    from torchvision.ops import box_convert

    from masa.detectors.fastestdet import build_fastestdet_detector

    detector = build_fastestdet_detector(weights=weights, score_threshold=score_threshold,
                                         num_threads=num_threads)

    def detect(image: np.ndarray) -> list[dict[str, Any]]:
        xywh = box_convert(detector([image])[0].xyxy.double(), "xyxy", "xywh")
        return [{"bbox": box, "area": box[2] * box[3]} for box in xywh.tolist()]

    return detect


def make_proposals(
    image_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    method: str,
    detect: Detect | None = None,
    params: dict[str, Any] | None = None,
    coco_json: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Path, bool]:
    """Makes (or reuses) a proposals file for every image under a folder.

    Args:
        image_dir: folder of training images (searched recursively).
        out: the COCO JSON to write.
        method: one of `METHODS`.
        detect: for "sam", "selective-search" and "fastestdet", `RGB image -> [{bbox: [x, y, w,
            h], area, ...}]` (see `build_sam_generator`, `build_fastestdet_proposer`,
            `masa.train.selective_search.selective_search_proposals`).
        params: the settings of `detect` (SAM model and weights file, ...); part of the cache key.
        coco_json: for "coco", the instances file to convert.
        overwrite: recompute when `out` exists but was made from other inputs or settings.
        progress: called with (done, total) after each image.

    Returns:
        (path, reused): the file, and whether an up-to-date file was reused.

    Raises:
        InputError: unknown method, missing method inputs, or an existing `out` made differently.
    """
    if method not in METHODS:
        raise InputError(f"unknown proposal method {method!r}; choose one of {', '.join(METHODS)}")
    image_dir, out = Path(image_dir), Path(out)
    names = list_images(image_dir)
    if method == "coco" and coco_json is None:
        raise InputError("method 'coco' needs the COCO instances file to convert (--coco-json)")
    if method != "coco" and detect is None:
        raise InputError(f"method {method!r} needs a proposal function")
    coco_path = Path(coco_json) if method == "coco" else None
    key = _cache_key(method, params or {}, image_dir, names, coco_path)
    if out.exists():
        if _existing_key(out) == key:
            logger.info("%s is up to date (same images, method and settings): reusing it", out)
            return out, True
        if not overwrite:
            raise InputError(f"{out} exists but was made from other images, method or settings; "
                             "pass --overwrite to recompute it, or choose another --out")
    if coco_path is not None:
        entries = _convert_coco(coco_path, names)
    else:
        assert detect is not None
        entries = _generate(names, image_dir, detect, progress)
    info = {"description": "instance proposals for masa train", "method": method,
            "params": params or {}, "cache_key": key, "image_root": str(image_dir)}
    count = _write(out, entries, info)
    logger.info("wrote %d proposals for %d images to %s", count, len(names), out)
    return out, False
