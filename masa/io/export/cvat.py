"""CVAT for video 1.1 XML: one `<track>` per track, the format CVAT imports as "CVAT for video 1.1".

Layout (CVAT's own video export, which datumaro's `cvat` format also reads):

    <annotations>
      <version>1.1</version>
      <meta><task>... <labels><label><name>car</name>...</label></labels>
        <original_size><width>W</width><height>H</height></original_size></task></meta>
      <track id="1" label="car" source="auto">
        <box frame="0" keyframe="1" outside="0" occluded="0" xtl=".." ytl=".." xbr=".." ybr=".."/>
        <box frame="5" keyframe="1" outside="1" .../>   <- the track is gone from frame 5 on
      </track>
    </annotations>

Frames are 0-based indices into the whole video (CVAT numbers a task's frames from 0), so the file
fits a task made from the full video, with or without `--start/--end/--stride`. Every written box
is a keyframe; where a track is absent from the next processed frame (a pause or its end) a copy
of its last shape with `outside="1"` follows at that frame, so CVAT does not interpolate across
the gap.
With masks, tracks are `<polygon>`s (the outline of each mask's largest part) instead of boxes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import IO

import cv2
import numpy as np

from masa.io.export.tracks import Track, TrackRows, class_label, label_names
from masa.io.writers import _AtomicWriter, _tracked
from masa.structures import Detections

__all__ = ["CvatVideoXmlWriter", "mask_to_polygon"]


def mask_to_polygon(mask: np.ndarray, tolerance: float = 1.0) -> np.ndarray | None:
    """The outline of a mask's largest connected part, simplified (Douglas-Peucker).

    Args:
        mask: `np.ndarray[H, W]` bool.
        tolerance: the most a simplified outline may deviate from the pixel outline, in pixels.

    Returns:
        `float64[K, 2]` (x, y) vertices, K >= 3, or None for a mask without such an outline.
    """
    contours, _ = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    if not contours:
        return None
    largest = max(contours, key=cv2.contourArea)
    points = cv2.approxPolyDP(largest, tolerance, True).reshape(-1, 2)  # (K, 2)
    return points.astype(np.float64) if len(points) >= 3 else None


def _box_polygon(xyxy: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = xyxy.tolist()
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])  # (4, 2)


class CvatVideoXmlWriter(_AtomicWriter):
    """Writes tracks as CVAT for video 1.1 XML (see the module docstring).

    Boxes are gathered while running and the XML is written by `close()`, one track at a time.
    A track's label is its most frequent class.

    Args:
        path: destination `.xml` file; its folder is created if needed.
        video_name: the task name in `<meta>`.
        class_names: class id -> label name; every name is declared in `<meta>`, plus `str(id)`
            for a class without one.
        width: frame width in pixels.
        height: frame height in pixels.
        total_frames: frames in the whole video (`<size>`, `<stop_frame>`); None (a live source):
            up to the last written frame.
        source: the video's file name, for `<source>` (optional).
    """

    def __init__(
        self, path: str | Path, *, video_name: str, class_names: dict[int, str], width: int,
        height: int, total_frames: int | None, source: str | None = None,
    ) -> None:
        super().__init__(path)
        self.video_name = video_name
        self.class_names = dict(class_names)
        self.width, self.height, self.total_frames = width, height, total_frames
        self.source = source
        self._rows = TrackRows()
        self._polygons: bool | None = None  # decided by the first frame: masks -> polygon tracks


    def _write(self, frame_idx: int, detections: Detections, image: np.ndarray | None) -> None:
        if self._polygons is None:
            self._polygons = detections.mask is not None
        extras = None
        if self._polygons:
            tracked = _tracked(detections)
            masks = None if tracked.mask is None else tracked.mask.cpu().numpy()  # (N, H, W)
            boxes = tracked.xyxy.double().cpu().numpy()  # (N, 4)
            extras = []
            for i in range(len(tracked)):
                polygon = None if masks is None else mask_to_polygon(masks[i])
                extras.append(_box_polygon(boxes[i]) if polygon is None else polygon)
        self._rows.add(frame_idx, detections, extras)

    def _meta(self, class_ids: set[int]) -> ET.Element:
        meta = ET.Element("meta")
        task = ET.SubElement(meta, "task")
        size = self._rows.video_length(self.total_frames)
        fields = {
            "name": self.video_name,
            "size": size,
            "mode": "interpolation",
            "overlap": 0,
            "start_frame": 0,
            "stop_frame": max(0, size - 1),
            "frame_filter": "",
        }
        for key, value in fields.items():
            ET.SubElement(task, key).text = str(value)
        labels = ET.SubElement(task, "labels")
        for name in label_names(self.class_names, class_ids):
            label = ET.SubElement(labels, "label")
            ET.SubElement(label, "name").text = name
            ET.SubElement(label, "type").text = "any"
            ET.SubElement(label, "attributes")
        size = ET.SubElement(task, "original_size")
        ET.SubElement(size, "width").text = str(self.width)
        ET.SubElement(size, "height").text = str(self.height)
        if self.source:
            ET.SubElement(task, "source").text = self.source
        return meta

    def _track_element(self, track: Track) -> ET.Element:
        element = ET.Element(
            "track", id=str(track.track_id), label=class_label(self.class_names, track.class_id), source="auto"
        )
        for i, frame in enumerate(track.frames.tolist()):
            self._shape(element, frame, track, i, outside=False)
            if track.pauses[i] and track.next_frames[i] >= 0:
                self._shape(element, int(track.next_frames[i]), track, i, outside=True)
        return element

    def _shape(
        self, parent: ET.Element, frame: int, track: Track, i: int, *, outside: bool
    ) -> None:
        attrs = {
            "frame": str(frame),
            "keyframe": "1",
            "outside": "1" if outside else "0",
            "occluded": "0",
        }
        if self._polygons:
            points = ";".join(f"{x:.2f},{y:.2f}" for x, y in track.extras[i].tolist())
            ET.SubElement(parent, "polygon", attrs, points=points, z_order="0")
        else:
            x1, y1, x2, y2 = track.xyxy[i].tolist()
            ET.SubElement(
                parent,
                "box",
                attrs,
                xtl=f"{x1:.2f}",
                ytl=f"{y1:.2f}",
                xbr=f"{x2:.2f}",
                ybr=f"{y2:.2f}",
                z_order="0",
            )

    def _finish(self) -> None:
        tracks = list(self._rows.tracks())
        with open(self._tmp, "w", encoding="utf-8") as out:
            out.write(
                '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n'
            )
            self._write_element(out, self._meta({t.class_id for t in tracks}))
            for track in tracks:
                self._write_element(out, self._track_element(track))
            out.write("</annotations>\n")

    @staticmethod
    def _write_element(out: IO[str], element: ET.Element) -> None:
        ET.indent(element, space="  ", level=1)
        out.write("  " + ET.tostring(element, encoding="unicode") + "\n")
