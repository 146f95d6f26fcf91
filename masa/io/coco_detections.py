"""Reader for COCO / TAO results JSON detections (boxes, scores, classes, optional track ids
and RLE or polygon masks), validated up front: a one-line `InputError` names the file and the
offending annotation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from masa.errors import InputError
from masa.io.detection_table import MAX_MASK_PIXELS, DetectionTable, read_text

__all__ = ["read_coco_detections"]

_AGNOSTIC_NAMES = {0: "object"}


def _load_json(path: Path) -> Any:
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from e
    except RecursionError:
        raise InputError(f"{path}: invalid JSON (nested too deeply)") from None


def _coco_parts(path: Path, obj: Any) -> tuple[list, list | None, list | None, bool]:
    """(annotations, images, categories, is_results_list) of a COCO results list or dataset dict."""
    if isinstance(obj, list):
        return obj, None, None, True
    if not isinstance(obj, dict) or not isinstance(obj.get("annotations"), list):
        raise InputError(f"{path}: expected a list of detections or a dict with 'annotations'")
    for key in ("images", "categories"):
        if key in obj and not isinstance(obj[key], list):
            raise InputError(f"{path}: '{key}' must be a list")
    return obj["annotations"], obj.get("images"), obj.get("categories"), False


def _image_table(path: Path, images: list) -> dict[Any, dict[str, Any]]:
    """image id -> {frame, video_id, height, width}; see `read_coco_detections` for frames."""
    table: dict[Any, dict[str, Any]] = {}
    for i, image in enumerate(images):
        if not isinstance(image, dict) or "id" not in image:
            raise InputError(f"{path}: image {i}: missing key 'id'")
        if not (_is_key(image["id"]) and _is_key(image.get("video_id"))):
            raise InputError(f"{path}: image {i}: 'id' and 'video_id' must be numbers or strings")
        frame = image.get("frame_index", image.get("frame_id"))
        table[image["id"]] = {
            "frame": frame,
            "video_id": image.get("video_id"),
            "height": image.get("height"),
            "width": image.get("width"),
        }
    positional = [k for k, v in table.items() if v["frame"] is None]
    for video in {table[k]["video_id"] for k in positional}:
        ids = sorted((k for k in positional if table[k]["video_id"] == video), key=_sortable)
        for position, k in enumerate(ids):
            table[k]["frame"] = position
    return table


def _sortable(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, (int, float)) else (1, str(value))


def _to_rle(where: str, seg: Any, size: tuple[int, int] | None) -> dict[str, Any]:
    """COCO segmentation (compressed/uncompressed RLE or polygons) -> compressed RLE dict."""
    from pycocotools import mask as mask_utils

    if isinstance(seg, dict):
        size, counts = seg.get("size"), seg.get("counts")
        if not (isinstance(size, list) and len(size) == 2 and all(_is_int(v) for v in size)):
            raise InputError(f"{where}: RLE segmentation needs 'size' [height, width]")
        h, w = _mask_size(where, size[0], size[1])
        runs = counts if isinstance(counts, list) else _rle_runs(where, counts)
        if not all(isinstance(r, int) and r >= 0 for r in runs) or sum(runs) != h * w:
            raise InputError(f"{where}: RLE counts do not cover the {h}x{w} mask exactly")
        if isinstance(counts, list):
            return mask_utils.frPyObjects(seg, h, w)
        return {"size": [h, w], "counts": counts.encode("ascii")}
    if not isinstance(seg, list) or not seg:
        raise InputError(f"{where}: segmentation must be an RLE dict or a list of polygons")
    if size is None:
        raise InputError(
            f"{where}: polygon segmentation needs the frame size: add height/width to 'images' "
            "or pass image_size"
        )
    size = _mask_size(where, *size)
    reach = 2 * max(size)  # pycocotools rasterises the outline: bound it
    for poly in seg:
        if not isinstance(poly, list) or len(poly) < 6 or len(poly) % 2:
            raise InputError(f"{where}: a polygon must be a flat list of at least 3 x,y pairs")
        if not all(isinstance(v, (int, float)) and -reach <= v <= reach for v in poly):
            raise InputError(f"{where}: polygon coordinates must be numbers within the frame")
    return mask_utils.merge(mask_utils.frPyObjects(seg, *size))


def _mask_size(where: str, height: Any, width: Any) -> tuple[int, int]:
    """(height, width) of a mask, refusing sizes that are not a frame's (a hostile file must not
    make masa allocate more than `MAX_MASK_PIXELS` bytes per decoded mask)."""
    if not (_is_int(height) and _is_int(width) and height >= 1 and width >= 1):
        raise InputError(f"{where}: mask height and width must be integers >= 1")
    if height * width > MAX_MASK_PIXELS:
        raise InputError(
            f"{where}: mask size {int(height)}x{int(width)} is larger than {MAX_MASK_PIXELS} pixels"
        )
    return int(height), int(width)


def _rle_runs(where: str, counts: Any) -> list[int]:
    """Run lengths of a compressed COCO RLE string (pycocotools `rleFrString`, in Python).

    Checked here because pycocotools decodes malformed counts into uninitialised memory.
    """
    if not isinstance(counts, str) or not counts.isascii():
        raise InputError(f"{where}: RLE counts must be a list of ints or an ASCII string")
    data, runs, p = counts.encode("ascii"), [], 0
    while p < len(data):
        x, k, more = 0, 0, True
        while more:
            if p >= len(data):
                raise InputError(f"{where}: RLE counts string is truncated")
            c = data[p] - 48
            x |= (c & 0x1F) << (5 * k)
            more, p, k = bool(c & 0x20), p + 1, k + 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        runs.append(x + runs[-2] if len(runs) > 2 else x)
    return runs


def _parse_annotation(
    path: Path, i: int, ann: Any, images: dict | None, need_score: bool
) -> dict[str, Any]:
    where = f"{path}: annotation {i}"
    if not isinstance(ann, dict):
        raise InputError(f"{where}: expected an object, but got {type(ann).__name__}")
    required = ["bbox", "category_id"] + (["score"] if need_score else [])
    if "frame_index" not in ann and "frame_id" not in ann:
        required.append("image_id")
    missing = [k for k in required if k not in ann]
    if missing:
        raise InputError(f"{where}: missing key {missing[0]!r}")
    try:
        bbox = np.asarray(ann["bbox"], dtype=np.float64).reshape(4)
        score = float(ann.get("score", 1.0))
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{where}: bbox must be 4 numbers [x, y, w, h], score a number") from None
    if not (np.isfinite(bbox).all() and np.isfinite(score)):
        raise InputError(f"{where}: NaN or infinite value in bbox or score")
    if bbox[2] <= 0 or bbox[3] <= 0:
        raise InputError(f"{where}: width and height must be > 0, but got {bbox[2]:g}x{bbox[3]:g}")
    if not (_is_key(ann.get("image_id")) and _is_key(ann.get("video_id"))):
        raise InputError(f"{where}: image_id and video_id must be numbers or strings")
    image = None
    if images is not None and "image_id" in ann:
        image = images.get(ann["image_id"])
        if image is None and "frame_index" not in ann and "frame_id" not in ann:
            raise InputError(f"{where}: image_id {ann['image_id']!r} is not in 'images'")
    frame = ann.get("frame_index", ann.get("frame_id"))
    if frame is None:
        frame = image["frame"] if image is not None else _image_id_frame(where, ann["image_id"])
    if not _is_int(frame) or frame < 0:
        raise InputError(f"{where}: frame index must be an integer >= 0, but got {frame!r}")
    if not _is_int(ann["category_id"]):
        raise InputError(f"{where}: category_id must be an integer, not {ann['category_id']!r}")
    return {
        "frame": int(frame),
        "bbox": bbox,
        "score": score,
        "category_id": int(ann["category_id"]),
        "video_id": ann.get("video_id", None if image is None else image["video_id"]),
        "track_id": ann.get("track_id", ann.get("instance_id")),
        "image": image,
        "segmentation": ann.get("segmentation") or None,  # [] (CVAT's COCO boxes): no mask
    }


def _is_int(value: Any) -> bool:
    """`value` is a whole number that fits in int64 (an int, or a float such as 3.0)."""
    if isinstance(value, float):
        return value.is_integer() and abs(value) < 2**63
    return isinstance(value, int) and -(2**63) <= value < 2**63


def _is_key(value: Any) -> bool:
    """`value` can identify an image or a video: None (absent), a number or a string."""
    return value is None or isinstance(value, (int, float, str))


def _image_id_frame(where: str, image_id: Any) -> int:
    if not isinstance(image_id, int) or not _is_int(image_id) or image_id < 1:
        raise InputError(f"{where}: without 'images', image_id must be an integer >= 1")
    return image_id - 1


def _select_video(path: Path, rows: list[dict[str, Any]], video_id: Any) -> list[dict[str, Any]]:
    if video_id is not None:
        return [r for r in rows if r["video_id"] == video_id]
    videos = sorted({r["video_id"] for r in rows if r["video_id"] is not None}, key=_sortable)
    if len(videos) > 1:
        shown = ", ".join(map(str, videos[:5])) + (", ..." if len(videos) > 5 else "")
        raise InputError(f"{path}: detections cover {len(videos)} videos ({shown}); pick one")
    return rows


def _class_names(path: Path, categories: list | None, rows: list[dict[str, Any]]) -> dict[int, str]:
    if categories is None:
        return {r["category_id"]: str(r["category_id"]) for r in rows}
    names: dict[int, str] = {}
    for i, cat in enumerate(categories):
        if not isinstance(cat, dict) or not _is_int(cat.get("id")) or "name" not in cat:
            raise InputError(f"{path}: category {i}: needs an integer 'id' and a 'name'")
        names[int(cat["id"])] = str(cat["name"])
    unknown = next((r for r in rows if r["category_id"] not in names), None)
    if unknown is not None:
        raise InputError(
            f"{path}: annotation {unknown['index']}: category_id {unknown['category_id']} "
            "is not in 'categories'"
        )
    return names


def _masks(
    path: Path, rows: list[dict[str, Any]], image_size: tuple[int, int] | None
) -> list[dict[str, Any]] | None:
    """Compressed RLEs of all rows, or None when no row has a segmentation."""
    with_seg = [r["segmentation"] is not None for r in rows]
    if not any(with_seg):
        return None
    if not all(with_seg):
        where = f"{path}: annotation {rows[with_seg.index(False)]['index']}"
        raise InputError(f"{where}: no segmentation while others have one; pass load_masks=False")
    rles, frame_sizes = [], {}
    for r in rows:
        where, image = f"{path}: annotation {r['index']}", r["image"]
        size = image_size
        if image and image["height"] and image["width"]:
            size = (image["height"], image["width"])
        rle = _to_rle(where, r["segmentation"], size)
        seen = frame_sizes.setdefault(r["frame"], tuple(rle["size"]))
        if seen != tuple(rle["size"]):
            raise InputError(f"{where}: mask size {list(rle['size'])} differs from {list(seen)}")
        rles.append(rle)
    return rles


def read_coco_detections(
    path: str | Path,
    *,
    min_confidence: float | None = None,
    video_id: int | None = None,
    load_masks: bool = True,
    image_size: tuple[int, int] | None = None,
) -> DetectionTable:
    """Reads COCO / TAO-style detections: a results list or a dataset dict with `annotations`.

    Frame index of an annotation, first match wins: its own `frame_index` or `frame_id`; else its
    image in `images` (`frame_index` (TAO, 0-based), `frame_id` (mmdet cocovid, 0-based), else the
    image's position among the video's images sorted by id); else `image_id - 1` (1-based ids).
    `class_id` is the `category_id` as given; names come from `categories` (else `str(id)`).
    `score` is required in a results list and defaults to 1.0 in a dataset dict. If every kept
    annotation has `track_id` (or `instance_id`) they go to `data["source_id"]`.

    Masks: `segmentation` as RLE (counts str or list) or polygons is decoded with pycocotools to
    `Detections.mask` Tensor[n, H, W] bool. RLE carries its size; polygons need the frame size
    from `images` (`height`, `width`) or `image_size`. Either every annotation has one or none.

    Args:
        path: the JSON file.
        min_confidence: drop annotations whose score is below this value.
        video_id: keep only this video's annotations (required when the file covers several).
        load_masks: decode `segmentation`; False ignores it.
        image_size: `(height, width)` of the frames, for polygon segmentations.

    Raises:
        InputError: unreadable JSON, wrong layout, missing keys, NaN/inf, w or h <= 0, negative
            frame, unknown image or category id, several videos without `video_id`; the message
            names the file and the annotation index.
    """
    path = Path(path)
    annotations, images, categories, is_results = _coco_parts(path, _load_json(path))
    image_table = None if images is None else _image_table(path, images)
    rows = []
    for i, ann in enumerate(annotations):
        row = _parse_annotation(path, i, ann, image_table, need_score=is_results)
        row["index"] = i
        rows.append(row)
    if not rows:
        raise InputError(f"{path}: no detections (the annotation list is empty)")
    class_names = _class_names(path, categories, rows)
    rows = _select_video(path, rows, video_id)
    if min_confidence is not None:
        rows = [r for r in rows if r["score"] >= min_confidence]
    xyxy = np.array([r["bbox"] for r in rows], dtype=np.float64).reshape(-1, 4)  # (N, 4) xywh
    xyxy[:, 2:] += xyxy[:, :2]
    track_ids = [r["track_id"] for r in rows]
    has_tracks = bool(rows) and all(isinstance(t, int) and _is_int(t) for t in track_ids)
    return DetectionTable(
        np.array([r["frame"] for r in rows], dtype=np.int64),
        xyxy,
        np.array([r["score"] for r in rows]),
        np.array([r["category_id"] for r in rows], np.int64),
        class_names,
        source_id=np.array(track_ids, dtype=np.int64) if has_tracks else None,
        rles=_masks(path, rows, image_size) if load_masks else None,
    )
