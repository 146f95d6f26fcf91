"""`--format`: the files a tracking command writes, by name. The one registry of format name ->
writer; the writers themselves live in `masa.io.writers` and `masa.io.export`.

Imports only the standard library at module level (the `--format` check runs while the command
line is parsed, and `masa --help` must not load torch).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from masa.errors import InputError

__all__ = [
    "DEFAULT_FORMATS",
    "FORMATS",
    "ExportContext",
    "ExportFormat",
    "build_writers",
    "formats_help",
    "parse_formats",
]

DEFAULT_FORMATS = "mot,tao"


@dataclass(frozen=True)
class ExportContext:
    """What the writers need to know about a run.

    Attributes:
        out_dir: output folder.
        name: the source's name (output files are `name` + each format's suffix).
        class_names: class id -> name.
        width: frame width in pixels.
        height: frame height in pixels.
        fps: frame rate of the whole source (frame indices are indices into it).
        total_frames: frames in the whole source (None for a live source).
        source: the video file or image folder, None for a glob.
        tcc: temporal class consistency for the TAO JSON.
        save_frames: write the frames into the YOLO dataset.
    """

    out_dir: Path
    name: str
    class_names: dict[int, str]
    width: int
    height: int
    fps: float
    total_frames: int | None
    source: Path | None = None
    tcc: bool = True
    save_frames: bool = False

    @property
    def size(self) -> dict[str, int]:
        """`{"width": ..., "height": ...}`, as the writers take them."""
        return {"width": self.width, "height": self.height}

    @property
    def video_file(self) -> str:
        """The video's file name: the source's for a video file, else `NAME.mp4` (a video the
        user encodes from the frames)."""
        if self.source is not None and self.source.is_file():
            return self.source.name
        return f"{self.name}.mp4"


@dataclass(frozen=True)
class ExportFormat:
    """One `--format` choice: what it writes and how its writer is built."""

    suffix: str  # the output is `out_dir / (name + suffix)`
    build: Callable[[Path, ExportContext], Any]  # (output path, context) -> writer
    description: str


def _mot(path: Path, c: ExportContext) -> Any:
    from masa.io.writers import MotTxtWriter

    return MotTxtWriter(path)


def _tao(path: Path, c: ExportContext) -> Any:
    from masa.io.writers import TaoJsonWriter

    return TaoJsonWriter(
        path, video_name=c.name, class_names=c.class_names, temporal_class_consistency=c.tcc
    )


def _coco(path: Path, c: ExportContext) -> Any:
    from masa.io.export import CocoVideoJsonWriter

    return CocoVideoJsonWriter(path, video_name=c.name, class_names=c.class_names, **c.size)


def _cvat(path: Path, c: ExportContext) -> Any:
    from masa.io.export import CvatVideoXmlWriter

    return CvatVideoXmlWriter(path, video_name=c.name, class_names=c.class_names, **c.size,
                              total_frames=c.total_frames, source=c.video_file)


def _labelstudio(path: Path, c: ExportContext) -> Any:
    from masa.io.export import LabelStudioVideoWriter

    return LabelStudioVideoWriter(path, video_url=f"/data/local-files/?d={c.video_file}",
                                  class_names=c.class_names, **c.size, fps=c.fps,
                                  total_frames=c.total_frames)


def _yolo(path: Path, c: ExportContext) -> Any:
    from masa.io.export import YoloDatasetWriter

    return YoloDatasetWriter(path, video_name=c.name, class_names=c.class_names, **c.size,
                             save_frames=c.save_frames)


FORMATS: dict[str, ExportFormat] = {
    "mot": ExportFormat(".txt", _mot, "MOTChallenge"),
    "tao": ExportFormat(".json", _tao, "TAO results"),
    "coco": ExportFormat(".coco.json", _coco, "COCO-video, RLE masks where there are masks"),
    "cvat": ExportFormat(".cvat.xml", _cvat, "CVAT for video 1.1"),
    "labelstudio": ExportFormat(
        ".labelstudio.json", _labelstudio, "Label Studio predictions, config in .labelstudio.xml"
    ),
    "yolo": ExportFormat("_yolo", _yolo, "Ultralytics YOLO dataset folder"),
}


def formats_help() -> str:
    """The `--format` help: every name with its output."""
    listed = "; ".join(f"{n} (NAME{f.suffix}: {f.description})" for n, f in FORMATS.items())
    return f"Files to write, comma-separated: {listed}. The overlay video is --video."


def parse_formats(text: str, save_frames: bool = False) -> list[str]:
    """`'cvat, yolo'` -> `['cvat', 'yolo']` (lower case, duplicates dropped, order kept).

    Raises:
        InputError: an unknown or missing name, or `save_frames` without `yolo`.
    """
    names = list(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        what = f"unknown format {', '.join(map(repr, unknown))}" if unknown else "no format given"
        raise InputError(f"--format: {what}; choose from {', '.join(FORMATS)} (comma-separated)")
    if save_frames and "yolo" not in names:
        raise InputError("--save-frames adds the frames to the YOLO dataset: add yolo to --format")
    return names


def build_writers(
    names: Iterable[str], context: ExportContext, taken: Iterable[Path] = ()
) -> list[Any]:
    """The writers of the named formats, except those whose output path is in `taken` (written by
    a command's own writer already, e.g. segment-track's COCO JSON with masks)."""
    skip = {Path(p) for p in taken}
    writers: list[Any] = []
    try:
        for name in names:
            path = context.out_dir / f"{context.name}{FORMATS[name].suffix}"
            if path not in skip:
                writers.append(FORMATS[name].build(path, context))
    except BaseException:
        for writer in writers:
            writer.abort()
        raise
    return writers
