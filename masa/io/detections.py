"""Readers for precomputed detections: MOTChallenge txt (here) and COCO / TAO results JSON
(`masa.io.coco_detections`), chosen by extension in `read_detections`.

Every reader validates its whole input up front and raises `InputError` with a one-line message
naming the file and the offending line (txt) or annotation (json). Frame indices are 0-based in
memory; MOT's 1-based frame numbers exist only inside this module.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from masa.errors import InputError
from masa.io.coco_detections import read_coco_detections
from masa.io.detection_table import DetectionTable, check_frames, read_text

__all__ = [
    "MOT_CLASS_NAMES",
    "DetectionTable",
    "read_detections",
    "read_mot_detections",
    "read_coco_detections",
    "check_frames",
]

# MOT16/17/20 ground-truth classes (TrackEval `mot_challenge_2d_box.py`).
MOT_CLASS_NAMES = {
    1: "pedestrian",
    2: "person_on_vehicle",
    3: "car",
    4: "bicycle",
    5: "motorbike",
    6: "non_mot_vehicle",
    7: "static_person",
    8: "distractor",
    9: "occluder",
    10: "occluder_on_ground",
    11: "occluder_full",
    12: "reflection",
    13: "crowd",
}
_AGNOSTIC_NAMES = {0: "object"}
_MAX_INDEX = 2**31  # frames, ids and classes in a txt file are whole numbers up to this
_SPLIT = re.compile(r"[,\s]+")


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
    values, line_no = _parse_mot_rows(path, read_text(path))
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
        frame[keep].astype(np.int64) - 1,
        xyxy[keep],
        values[keep, 6],
        class_id[keep],
        class_names,
        source_id=ids[keep].astype(np.int64) if is_gt else None,
        frame_base=1,
    )


def _is_class_column(column: np.ndarray) -> bool:
    """A det-layout column 8 holds class ids when every value is an integer >= 1 (MOT15 det files
    put world coordinates there, -1 when unknown)."""
    whole = (column >= 1) & (column == np.round(column)) & (column <= _MAX_INDEX)
    return bool(len(column)) and bool(np.all(whole))


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
