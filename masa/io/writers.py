"""Atomic result writers: MOTChallenge txt, TAO results JSON and an H.264 overlay video.

Every writer writes to a hidden temporary file in the destination folder and renames it over the
destination on a successful `close()`. On an exception inside `with`, or on `abort()`, the
temporary files are deleted and no output file appears. 1-based frame numbers and BGR pixels exist
only inside this module.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from collections import Counter
from fractions import Fraction
from pathlib import Path
from typing import IO

import cv2
import numpy as np

from masa.boxes import xyxy_to_xywh
from masa.io.atomic_folder import AtomicOutput
from masa.structures import Detections

__all__ = [
    "MotTxtWriter",
    "TaoJsonWriter",
    "OverlayVideoWriter",
    "output_track_ids",
    "remove_temporaries",
]

#: Names `_temp_path` (and `masa.io.mots`' temporary folders) give: `.NAME.<8 hex>.tmp|.jsonl`.
_TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{8}\.(tmp|jsonl)$")


def _temp_path(destination: Path, suffix: str = ".tmp") -> Path:
    """Creates an empty hidden file next to `destination`, with the user's umask permissions.

    (`tempfile.mkstemp` would make it 0600, which the rename would carry to the output.)
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = destination.parent / f".{destination.name}.{secrets.token_hex(4)}{suffix}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue


def remove_temporaries(folder: Path) -> list[Path]:
    """Deletes the temporary files and folders that writers of a killed run left in `folder`.

    Returns:
        What was deleted.
    """
    stale = [p for p in folder.iterdir() if _TEMPORARY.match(p.name)] if folder.is_dir() else []
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return stale


def output_track_ids(detections: Detections) -> list[int]:
    """The track ids every output shows: `tracker_id + 1`, MOTChallenge's 1-based numbering.

    The trackers number tracks from 0; the MOT txt, TAO/COCO JSON, MOTS, CVAT, Label Studio and
    YOLO files, PNG id maps and the overlay labels all use this one numbering, so a track has
    the same id in every output.
    """
    if detections.tracker_id is None:
        raise ValueError("detections must have tracker_id to be written as tracks")
    return (detections.tracker_id.cpu() + 1).tolist()


def _tracked(detections: Detections) -> Detections:
    """The detections with `tracker_id >= 0`."""
    if detections.tracker_id is None:
        raise ValueError("detections must have tracker_id to be written as tracks")
    return detections[detections.tracker_id >= 0]


class _AtomicWriter(AtomicOutput):
    """Base of file outputs: a temp file `self._tmp`, renamed to `self.path` by `close()`."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, _temp_path(Path(path)))

    def _finish(self) -> None:
        raise NotImplementedError

    def _commit(self) -> None:
        os.replace(self._tmp, self.path)

    def _remove_tmp(self) -> None:
        self._tmp.unlink(missing_ok=True)


class MotTxtWriter(_AtomicWriter):
    """Writes tracks as MOTChallenge lines `frame,id,x,y,w,h,score,-1,-1,-1`.

    `frame` is `frame_idx + 1` and `id` is `tracker_id + 1` (`output_track_ids`), so both start at
    1 as in MOTChallenge ground truth (the evaluation accepts any non-negative id). Only detections
    with `tracker_id >= 0` are written; boxes get 2 decimals, scores 4.

    Args:
        path: destination `.txt` file; its folder is created if needed.
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self._file: IO[str] = open(self._tmp, "w", encoding="utf-8")

    def _write(self, frame_idx: int, detections: Detections, image: np.ndarray | None) -> None:
        tracked = _tracked(detections)
        xywh = xyxy_to_xywh(tracked.xyxy.float()).cpu().numpy()  # (N, 4)
        scores = tracked.confidence.cpu().numpy()
        self._file.writelines(
            f"{frame_idx + 1},{tid},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{s:.4f},-1,-1,-1\n"
            for tid, (x, y, w, h), s in zip(
                output_track_ids(tracked), xywh.tolist(), scores.tolist()
            )
        )

    def _finish(self) -> None:
        self._file.close()

    def _discard(self) -> None:
        self._file.close()


class TaoJsonWriter(_AtomicWriter):
    """Writes tracks as a TAO results JSON list (SPEC §6.2).

    Each tracked detection becomes `{image_id, video_id, track_id, bbox: [x, y, w, h], score,
    category_id[, category_name]}` with `image_id = frame_idx + image_id_offset` and `track_id`
    the 1-based id of `output_track_ids` (the MOT txt's id). Entries stream to a temporary
    JSON-lines file while running; `close()` applies temporal class consistency and writes the
    final list, so memory stays flat apart from a per-track category counter.

    Args:
        path: destination `.json` file; its folder is created if needed.
        video_name: the video's name (kept on the writer for callers and logs).
        class_names: category id -> name, for `category_name`.
        video_id: `video_id` of every entry.
        image_id_offset: added to the 0-based frame index to form `image_id` (1 matches
            `read_coco_detections`' `image_id - 1` rule).
        temporal_class_consistency: set every entry's category to its track's most frequent one,
            ties to the smallest category id (the pandas mode MASA uses).
        write_category_names: add `category_name` to each entry.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        video_name: str,
        class_names: dict[int, str],
        video_id: int = 1,
        image_id_offset: int = 1,
        temporal_class_consistency: bool = True,
        write_category_names: bool = True,
    ) -> None:
        super().__init__(path)
        self.video_name = video_name
        self.class_names = dict(class_names)
        self.video_id = video_id
        self.image_id_offset = image_id_offset
        self.temporal_class_consistency = temporal_class_consistency
        self.write_category_names = write_category_names
        self._lines_path = _temp_path(self.path, suffix=".jsonl")
        self._lines: IO[str] = open(self._lines_path, "w", encoding="utf-8")
        self._votes: dict[int, Counter[int]] = {}

    def _write(self, frame_idx: int, detections: Detections, image: np.ndarray | None) -> None:
        tracked = _tracked(detections)
        xywh = xyxy_to_xywh(tracked.xyxy.float()).cpu().numpy()  # (N, 4)
        for tid, box, score, cid in zip(
            output_track_ids(tracked),
            xywh.tolist(),
            tracked.confidence.tolist(),
            tracked.class_id.tolist(),
        ):
            self._votes.setdefault(tid, Counter())[cid] += 1
            entry = {
                "image_id": frame_idx + self.image_id_offset,
                "video_id": self.video_id,
                "track_id": tid,
                "bbox": [round(v, 2) for v in box],
                "score": round(score, 5),
                "category_id": cid,
            }
            self._lines.write(json.dumps(entry) + "\n")

    def track_categories(self) -> dict[int, int]:
        """Track id (1-based, as written) -> its most frequent category id so far (ties to the
        smallest id)."""
        return {tid: min(votes, key=lambda c: (-votes[c], c)) for tid, votes in self._votes.items()}

    def _finish(self) -> None:
        self._lines.close()
        category = self.track_categories() if self.temporal_class_consistency else {}
        with open(self._lines_path, encoding="utf-8") as lines, open(self._tmp, "w") as out:
            out.write("[")
            for i, line in enumerate(lines):
                entry = json.loads(line)
                cid = entry["category_id"] = category.get(entry["track_id"], entry["category_id"])
                if self.write_category_names:
                    entry["category_name"] = self.class_names.get(cid, str(cid))
                out.write(("," if i else "") + "\n" + json.dumps(entry))
            out.write("\n]\n")
        self._lines_path.unlink()

    def _discard(self) -> None:
        self._lines.close()
        self._lines_path.unlink(missing_ok=True)


class OverlayVideoWriter(_AtomicWriter):
    """Draws tracks on frames and encodes an H.264 (libx264, yuv420p) mp4 through PyAV.

    Boxes, masks and labels `#id class score` (the 1-based id of `output_track_ids`, as in the MOT
    txt) are coloured by track id, with a trace of the last `trace_length` box centres
    (supervision annotators). Detections with `tracker_id` -1 are not drawn; without `tracker_id`
    every detection is drawn, coloured by class. An odd width or height is padded by one black
    pixel, as yuv420p needs even sizes. Frames are encoded as they come.

    Args:
        path: destination `.mp4` file; its folder is created if needed.
        fps: frame rate of the output.
        width: frame width in pixels.
        height: frame height in pixels.
        class_names: class id -> name for labels.
        trace_length: frames of trace behind each track.
        crf: x264 constant rate factor (lower is better quality, bigger file).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        fps: float,
        width: int,
        height: int,
        class_names: dict[int, str],
        trace_length: int = 30,
        crf: int = 23,
    ) -> None:
        import av
        import supervision as sv

        if not fps > 0 or width < 1 or height < 1:
            raise ValueError(f"fps, width, height must be > 0, but got {fps}, {width}, {height}")
        super().__init__(path)
        self.width, self.height = width, height
        self.class_names = dict(class_names)
        self._container = None
        try:
            self._container = av.open(
                str(self._tmp), mode="w", format="mp4", options={"movflags": "+faststart"}
            )
            rate = Fraction(fps).limit_denominator(1001)
            self._stream = self._container.add_stream(
                "libx264", rate=rate, options={"crf": str(crf), "preset": "veryfast"}
            )
            self._stream.width, self._stream.height = width + width % 2, height + height % 2
            self._stream.pix_fmt = "yuv420p"
        except BaseException:
            self.abort()
            raise
        lookup = sv.ColorLookup.INDEX
        self._mask = sv.MaskAnnotator(color_lookup=lookup)
        self._box = sv.BoxAnnotator(color_lookup=lookup)
        self._label = sv.LabelAnnotator(color_lookup=lookup, text_scale=0.5, text_padding=4)
        self._trace = sv.TraceAnnotator(color_lookup=lookup, trace_length=trace_length)

    def _labels(self, detections: Detections) -> list[str]:
        n = len(detections)
        ids = [None] * n if detections.tracker_id is None else output_track_ids(detections)
        classes, scores = detections.class_id.tolist(), detections.confidence.tolist()
        return [
            ("" if tid is None else f"#{tid} ") + f"{self.class_names.get(cid, cid)} {score:.2f}"
            for tid, cid, score in zip(ids, classes, scores)
        ]

    def _annotate_bgr(self, detections: Detections, image: np.ndarray) -> np.ndarray:
        """Draws `detections` on a copy of `image` (uint8 `(H, W, 3)` RGB); returns it BGR."""
        if detections.tracker_id is not None:
            detections = detections[detections.tracker_id >= 0]
        scene = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)  # supervision draws on BGR arrays
        sv_dets = detections.to_supervision()
        by_track = sv_dets.tracker_id is not None
        colors = np.asarray(sv_dets.tracker_id if by_track else sv_dets.class_id, np.int64)  # (N,)
        if sv_dets.mask is not None:
            scene = self._mask.annotate(scene, sv_dets, custom_color_lookup=colors)
        scene = self._box.annotate(scene, sv_dets, custom_color_lookup=colors)
        if by_track:
            scene = self._trace.annotate(scene, sv_dets, custom_color_lookup=colors)
        labels = self._labels(detections)
        return self._label.annotate(scene, sv_dets, labels=labels, custom_color_lookup=colors)

    def _write(self, frame_idx: int, detections: Detections, image: np.ndarray | None) -> None:
        import av

        if image is None or image.shape != (self.height, self.width, 3) or image.dtype != np.uint8:
            got = None if image is None else (image.shape, image.dtype)
            raise ValueError(f"image must be uint8 ({self.height}, {self.width}, 3), but got {got}")
        scene = self._annotate_bgr(detections, image)  # (H, W, 3) BGR
        pad_h, pad_w = self.height % 2, self.width % 2
        if pad_h or pad_w:  # yuv420p needs even sizes: one black row / column at the bottom / right
            scene = cv2.copyMakeBorder(scene, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(scene), format="bgr24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def _finish(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def _discard(self) -> None:
        if self._container is None:
            return
        try:
            self._container.close()
        except Exception:  # noqa: BLE001 - the file is deleted anyway
            pass
