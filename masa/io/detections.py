"""Readers for precomputed detections: MOTChallenge txt and COCO / TAO results JSON.

Every reader validates its whole input up front and raises `InputError` with a one-line message
naming the file and the offending line (txt) or annotation (json). Frame indices are 0-based in
memory; MOT's 1-based frame numbers exist only inside this module.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from masa.errors import InputError
from masa.structures import Detections

__all__ = [
    "MOT_CLASS_NAMES", "DetectionTable", "read_detections", "read_mot_detections",
    "read_coco_detections", "check_frames",
]

# MOT16/17/20 ground-truth classes (TrackEval `mot_challenge_2d_box.py`).
MOT_CLASS_NAMES = {
    1: "pedestrian", 2: "person_on_vehicle", 3: "car", 4: "bicycle", 5: "motorbike",
    6: "non_mot_vehicle", 7: "static_person", 8: "distractor", 9: "occluder",
    10: "occluder_on_ground", 11: "occluder_full", 12: "reflection", 13: "crowd",
}
_AGNOSTIC_NAMES = {0: "object"}
_MAX_INDEX = 2**31  # frames, ids and classes in a txt file are whole numbers up to this
#: Largest mask read from a file, in pixels (8192 x 8192; an 8K UHD frame has 33 M).
MAX_MASK_PIXELS = 2**26
_SPLIT = re.compile(r"[,\s]+")


class DetectionTable:
    """All detections of one video, looked up per frame.

    Rows are kept as flat numpy arrays sorted by frame; `get` builds one frame's `Detections`.

    Args:
        frame_idx: int array `(N,)`, 0-based frame of each row.
        xyxy: float array `(N, 4)`, boxes `[x1, y1, x2, y2]` in pixels.
        confidence: float array `(N,)`.
        class_id: int array `(N,)`.
        class_names: class id -> name, covering every id in `class_id`.
        source_id: int array `(N,)` of identities from the file (ground-truth or tracker ids),
            exposed per frame as `Detections.data["source_id"]` (Tensor[n] int64); None if the
            file has none.
        rles: one COCO compressed RLE dict per row (`{"size": [H, W], "counts": bytes}`), decoded
            per frame to `Detections.mask`; None for box-only files.
        frame_base: how the file numbers frames (1 for MOT txt, 0 otherwise), used in messages.
    """

    def __init__(
        self, frame_idx: np.ndarray, xyxy: np.ndarray, confidence: np.ndarray, class_id: np.ndarray,
        class_names: dict[int, str], *, source_id: np.ndarray | None = None,
        rles: list[dict[str, Any]] | None = None, frame_base: int = 0,
    ) -> None:
        order = np.argsort(frame_idx, kind="stable")
        self._frame_idx = np.asarray(frame_idx, dtype=np.int64)[order]
        self._xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)[order]  # (N, 4)
        self._confidence = np.asarray(confidence, dtype=np.float32)[order]
        self._class_id = np.asarray(class_id, dtype=np.int64)[order]
        self._source_id = None if source_id is None else np.asarray(source_id, np.int64)[order]
        self._rles = None if rles is None else [rles[i] for i in order]
        self.class_names = dict(class_names)
        self.frame_base = frame_base
        frames, starts, counts = np.unique(self._frame_idx, return_index=True, return_counts=True)
        self._spans = {int(f): (int(s), int(s + c)) for f, s, c in zip(frames, starts, counts)}
        self.frame_indices: list[int] = [int(f) for f in frames]

    @property
    def num_detections(self) -> int:
        return int(self._frame_idx.shape[0])

    @property
    def max_frame_idx(self) -> int:
        """Largest 0-based frame index with a detection; -1 when the table is empty."""
        return self.frame_indices[-1] if self.frame_indices else -1

    @property
    def num_frames(self) -> int:
        """Frames the table spans from frame 0: `max_frame_idx + 1`."""
        return self.max_frame_idx + 1

    def get(self, frame_idx: int) -> Detections:
        """Detections of one 0-based frame (empty `Detections` for a frame without boxes).

        Returns:
            Detections with `xyxy` Tensor[n, 4] float32, `confidence`, `class_id`, optional
            `mask` Tensor[n, H, W] bool and optional `data["source_id"]` Tensor[n] int64.
        """
        lo, hi = self._spans.get(int(frame_idx), (0, 0))
        data = {}
        if self._source_id is not None:
            data["source_id"] = torch.from_numpy(self._source_id[lo:hi].copy())
        mask = None
        if self._rles is not None and hi > lo:
            from pycocotools import mask as mask_utils

            mask = mask_utils.decode(self._rles[lo:hi]).transpose(2, 0, 1).astype(bool)  # (n, H, W)
        return Detections.from_arrays(  # copies, so callers cannot edit the table in place
            self._xyxy[lo:hi].copy(), self._confidence[lo:hi].copy(), self._class_id[lo:hi].copy(),
            mask=mask, data=data,
        )

    def __repr__(self) -> str:
        return (
            f"DetectionTable(detections={self.num_detections}, frames={len(self.frame_indices)}, "
            f"max_frame_idx={self.max_frame_idx}, classes={len(self.class_names)})"
        )


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read as UTF-8 text ({e.__class__.__name__})") from e


def _parse_mot_rows(path: Path, text: str) -> tuple[np.ndarray, np.ndarray]:
    """Returns (values float64 `(N, C)`, 1-based line numbers `(N,)`) of the non-blank lines."""
    numbered = [(i + 1, ln.strip()) for i, ln in enumerate(text.splitlines()) if ln.strip()]
    if not numbered:
        raise InputError(f"{path}: file is empty (no detection lines)")
    line_no = np.array([n for n, _ in numbered])
    rows = [_SPLIT.split(ln) for _, ln in numbered]
    counts = np.array([len(r) for r in rows])
    if not 7 <= counts[0] <= 10:
        raise InputError(f"{path}:{line_no[0]}: expected 7 to 10 columns, but got {counts[0]}")
    bad = np.flatnonzero(counts != counts[0])
    if bad.size:
        i = bad[0]
        raise InputError(
            f"{path}:{line_no[i]}: expected {counts[0]} columns (as on line {line_no[0]}), "
            f"but got {counts[i]}"
        )
    try:
        values = np.array(rows, dtype=np.float64)  # (N, C)
    except ValueError:
        for (n, _), row in zip(numbered, rows):
            for field in row:
                try:
                    float(field)
                except ValueError:
                    raise InputError(f"{path}:{n}: {field!r} is not a number") from None
        raise  # pragma: no cover - numpy refused a row that float() accepts
    bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if bad.size:
        raise InputError(f"{path}:{line_no[bad[0]]}: NaN or infinite value")
    return values, line_no


def _first_bad(
    path: Path, line_no: np.ndarray, bad: np.ndarray, problem: str, values: np.ndarray
) -> None:
    """Raises for the first row where `bad` `(N,)` is True, quoting `values[row]`."""
    rows = np.flatnonzero(bad)
    if rows.size:
        raise InputError(f"{path}:{line_no[rows[0]]}: {problem}, but got {values[rows[0]]:g}")


def read_mot_detections(path: str | Path, *, min_confidence: float | None = None) -> DetectionTable:
    """Reads a MOTChallenge txt file (`det.txt`, `gt.txt` or tracker output).

    Columns (comma or whitespace separated, 7 to 10 per line, the same on every line):
    `frame, id, x, y, w, h, score[, class, visibility, z]`. Frames are 1-based on disk and become
    0-based `frame_idx`. Boxes `xywh` become `xyxy`.

    - det layout (every id is -1): class-agnostic, `class_id` 0 named "object"; except when an
      8th column holds only integers >= 1: a detector's class ids, kept as `class_id` and named
      by their number (rename them with `--class-names`).
    - gt / tracker layout (some id != -1): ids go to `Detections.data["source_id"]`
      (Tensor[n] int64). Column 7 is used as the score (the "consider" flag 0/1 in `gt.txt`).
      With 8+ columns whose class values are all >= 1 (MOT16/17/20 gt), they become `class_id`
      with `MOT_CLASS_NAMES`; a class column of -1 (MOT15, tracker output) means class-agnostic.

    Args:
        path: the txt file.
        min_confidence: drop rows whose score is below this value.

    Raises:
        InputError: missing or empty file, wrong column count, non-numbers, NaN/inf, frame < 1,
            non-integer frame/id/class, frame/id/class beyond 2**31, w <= 0 or h <= 0; the
            message names `file:line`.
    """
    path = Path(path)
    values, line_no = _parse_mot_rows(path, _read_text(path))
    frame, ids = values[:, 0], values[:, 1]
    _first_bad(path, line_no, frame < 1, "frame must be >= 1", frame)
    _first_bad(path, line_no, frame > _MAX_INDEX, f"frame must be <= {_MAX_INDEX}", frame)
    _first_bad(path, line_no, np.abs(ids) > _MAX_INDEX, f"id must be within +-{_MAX_INDEX}", ids)
    _first_bad(path, line_no, frame != np.round(frame), "frame must be an integer", frame)
    _first_bad(path, line_no, ids != np.round(ids), "id must be an integer", ids)
    _first_bad(path, line_no, values[:, 4] <= 0, "width must be > 0", values[:, 4])
    _first_bad(path, line_no, values[:, 5] <= 0, "height must be > 0", values[:, 5])
    is_gt = bool((ids != -1).any())
    class_id = np.zeros(len(values), dtype=np.int64)
    class_names = dict(_AGNOSTIC_NAMES)
    if is_gt and values.shape[1] >= 8 and (values[:, 7] >= 1).any():
        cls = values[:, 7]
        bad_class = (cls < 1) | (cls != np.round(cls)) | (cls > _MAX_INDEX)
        _first_bad(path, line_no, bad_class, "class must be an integer >= 1", cls)
        class_id = cls.astype(np.int64)
        class_names = {int(c): MOT_CLASS_NAMES.get(int(c), str(c)) for c in np.unique(class_id)}
    elif not is_gt and values.shape[1] >= 8 and _is_class_column(values[:, 7]):
        class_id = values[:, 7].astype(np.int64)  # a detector's own class ids
        class_names = {int(c): str(int(c)) for c in np.unique(class_id)}
    keep = np.full(len(values), True) if min_confidence is None else values[:, 6] >= min_confidence
    xyxy = values[:, 2:6].copy()  # (N, 4) xywh -> xyxy
    xyxy[:, 2:] += xyxy[:, :2]
    return DetectionTable(
        frame[keep].astype(np.int64) - 1, xyxy[keep], values[keep, 6], class_id[keep], class_names,
        source_id=ids[keep].astype(np.int64) if is_gt else None, frame_base=1,
    )


def _is_class_column(column: np.ndarray) -> bool:
    """A det-layout column 8 holds class ids when every value is an integer >= 1 (MOT15 det files
    put world coordinates there, -1 when unknown)."""
    whole = (column >= 1) & (column == np.round(column)) & (column <= _MAX_INDEX)
    return bool(len(column)) and bool(np.all(whole))


def _load_json(path: Path) -> Any:
    text = _read_text(path)
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
            "frame": frame, "video_id": image.get("video_id"),
            "height": image.get("height"), "width": image.get("width"),
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
        "frame": int(frame), "bbox": bbox, "score": score, "category_id": int(ann["category_id"]),
        "video_id": ann.get("video_id", None if image is None else image["video_id"]),
        "track_id": ann.get("track_id", ann.get("instance_id")), "image": image,
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
    path: str | Path, *, min_confidence: float | None = None, video_id: int | None = None,
    load_masks: bool = True, image_size: tuple[int, int] | None = None,
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
        np.array([r["frame"] for r in rows], dtype=np.int64), xyxy,
        np.array([r["score"] for r in rows]), np.array([r["category_id"] for r in rows], np.int64),
        class_names, source_id=np.array(track_ids, dtype=np.int64) if has_tracks else None,
        rles=_masks(path, rows, image_size) if load_masks else None,
    )


def read_detections(path: str | Path, **kwargs: Any) -> DetectionTable:
    """Reads detections by extension: `.txt` as MOTChallenge, `.json` as COCO / TAO.

    Args:
        path: the detections file.
        **kwargs: passed to `read_mot_detections` or `read_coco_detections`.

    Raises:
        InputError: a missing file or an unsupported extension, or any error of the reader.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return read_mot_detections(path, **kwargs)
    if suffix == ".json":
        return read_coco_detections(path, **kwargs)
    raise InputError(
        f"{path}: unsupported detections format {suffix or '(no extension)'!r}; "
        "use .txt (MOTChallenge) or .json (COCO/TAO)"
    )


def check_frames(table: DetectionTable, num_frames: int, path: str | Path) -> None:
    """Checks that every detection lies within a video of `num_frames` frames.

    Raises:
        InputError: naming `path` and the first frame past the end, numbered as in the file
            (1-based for MOT txt).
    """
    if table.max_frame_idx < num_frames:
        return
    first = next(f for f in table.frame_indices if f >= num_frames)
    base = table.frame_base
    unit = "frame" if base == 1 else "frame index"
    raise InputError(
        f"{path}: detections reference {unit} {first + base}, but the video has only {num_frames} "
        f"frames ({unit}s {base}..{num_frames - 1 + base})"
    )
