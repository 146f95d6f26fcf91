"""What a run tracks: SOURCE arguments expanded into videos, each with the name its outputs take.

A SOURCE is a video file, an image folder (or a quoted glob of images), a folder of videos
(searched recursively: video files by extension and image folders, each one video), a glob of
videos, a text file listing sources (one a line, relative to the file, `#` comments), a webcam
index (`0`) or a stream URL (`rtsp://`, `http(s)://`, ...). A file, image folder, image glob,
webcam or stream given alone is one video (`many` False); anything else is a batch.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence
from urllib.parse import urlparse

from masa.errors import InputError
from masa.io.stream import STREAM_SCHEMES
from masa.io.video import IMAGE_SUFFIXES, FrameSource, natural_key, open_frames

__all__ = [
    "LIST_SUFFIXES", "VIDEO_SUFFIXES", "SourceList", "VideoItem", "expand_sources", "find_detections",
    "open_source",
]

VIDEO_SUFFIXES = (
    ".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".mts", ".m2ts",
    ".3gp", ".ogv",
)
#: Text files whose lines are sources.
LIST_SUFFIXES = (".txt", ".lst", ".list")
_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


@dataclass(frozen=True)
class VideoItem:
    """One video of a run.

    Attributes:
        source: what to open: a path, an image glob, a URL, or a webcam index.
        name: the name of its outputs; a relative path (`cam1/clip001`) for videos found in a
            folder's subfolders.
        kind: "file" (a video or image file, or a path that does not exist), "images" (an image
            folder or glob), "stream" or "webcam".
    """

    source: str
    name: str
    kind: str

    @property
    def live(self) -> bool:
        """A stream or webcam: no known length, read once."""
        return self.kind in ("stream", "webcam")


@dataclass(frozen=True)
class SourceList:
    """The videos of a run; `many` is False when one SOURCE named one video."""

    items: tuple[VideoItem, ...]
    many: bool


def _has_images(folder: Path) -> bool:
    return any(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() for p in folder.iterdir())


def _folder_name(folder: Path) -> str:
    """`SEQ` for a MOTChallenge `SEQ/img1` folder, else the folder's name."""
    folder = folder.resolve()
    return folder.parent.name if folder.name == "img1" else folder.name


def _stream_name(url: str) -> str:
    parsed = urlparse(url)
    stem = Path(parsed.path).stem or parsed.hostname or "stream"
    return re.sub(r"[^\w.-]+", "_", stem).strip("._") or "stream"


def _scan(root: Path, exclude: set[Path]) -> list[VideoItem]:
    """Video files and image folders below `root`, named by their path relative to it."""
    items = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted((d for d in dirs if not d.startswith(".") and (here / d).resolve() not in exclude),
                         key=natural_key)
        visible = [f for f in files if not f.startswith(".")]
        if here != root and any(Path(f).suffix.lower() in IMAGE_SUFFIXES for f in visible):
            rel = here.relative_to(root)
            name = rel.parent if rel.name == "img1" and rel.parent != Path(".") else rel
            items.append(VideoItem(str(here), name.as_posix(), "images"))
        for f in sorted(visible, key=natural_key):
            if Path(f).suffix.lower() in VIDEO_SUFFIXES:
                rel = (here / f).relative_to(root)
                items.append(VideoItem(str(here / f), rel.with_suffix("").as_posix(), "file"))
    return items


def _read_list(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read the list of videos ({e.__class__.__name__})") from None
    entries = [line.strip() for line in lines]
    entries = [e for e in entries if e and not e.startswith("#")]
    if not entries:
        raise InputError(f"{path}: the list of videos is empty")
    return [e if _URL.match(e) or Path(e).is_absolute() else str(path.parent / e) for e in entries]


def _expand(arg: str, exclude: set[Path], depth: int = 0) -> tuple[list[VideoItem], bool]:
    """(videos, whether `arg` names a collection) for one SOURCE."""
    url = _URL.match(arg)
    if url:
        if url.group(1).lower() not in STREAM_SCHEMES:
            raise InputError(f"{arg}: unsupported URL scheme (use {', '.join(STREAM_SCHEMES)})")
        return [VideoItem(arg, _stream_name(arg), "stream")], False
    path = Path(arg)
    if arg.isdigit() and not path.exists():
        return [VideoItem(arg, f"webcam{int(arg)}", "webcam")], False
    if not path.exists() and any(ch in arg for ch in "*?["):
        matches = sorted(glob.glob(arg), key=natural_key)
        if not matches:
            raise InputError(f"{arg}: pattern matches nothing")
        if all(Path(m).suffix.lower() in IMAGE_SUFFIXES for m in matches):
            return [VideoItem(arg, _folder_name(Path(matches[0]).parent), "images")], False
        items = [item for m in matches for item in _expand(m, exclude, depth + 1)[0]]
        return items, True
    if path.is_dir():
        if _has_images(path):
            return [VideoItem(arg, _folder_name(path), "images")], False
        items = _scan(path, exclude)
        if not items:
            raise InputError(f"{arg}: folder contains no videos ({', '.join(VIDEO_SUFFIXES[:4])}, ...) "
                             "or image folders")
        return items, True
    if path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
        if depth > 0:
            raise InputError(f"{arg}: a list of videos may not list other lists")
        items = [item for entry in _read_list(path) for item in _expand(entry, exclude, depth + 1)[0]]
        return items, True
    return [VideoItem(arg, path.stem, "file")], False


def expand_sources(args: Sequence[str], *, exclude: Sequence[str | Path] = ()) -> SourceList:
    """Expands SOURCE arguments into videos.

    Args:
        args: the SOURCE arguments.
        exclude: folders never searched (the output folder, so a rerun ignores its own videos).

    Raises:
        InputError: an empty folder, list or glob, an unsupported URL scheme, or two videos
            whose outputs would have the same name.
    """
    if not args:
        raise InputError("give at least one SOURCE")
    skip = {Path(p).resolve() for p in exclude}
    items: list[VideoItem] = []
    many = len(args) > 1
    for arg in args:
        expanded, collection = _expand(str(arg), skip)
        items += expanded
        many = many or collection
    seen: dict[str, str] = {}
    for item in items:
        other = seen.setdefault(item.name, item.source)
        if other != item.source:
            raise InputError(f"{other} and {item.source} would both write outputs named {item.name!r}; "
                             "give their common parent folder instead, or rename one")
    unique = tuple(dict.fromkeys(items))  # the same video given twice is tracked once
    return SourceList(unique, many)


def open_source(
    item: VideoItem, *, start: int = 0, end: int | None = None, stride: int = 1, fps: float | None = None,
    timeout: float = 10.0,
) -> FrameSource:
    """Opens a video of `expand_sources` (see `open_frames` and `masa.io.stream.open_stream`)."""
    if item.live:
        from masa.io.stream import open_stream

        webcam = int(item.source) if item.kind == "webcam" else None
        return open_stream(item.source, name=item.name, start=start, end=end, stride=stride, fps=fps,
                           timeout=timeout, webcam=webcam)
    return open_frames(item.source, start=start, end=end, stride=stride, fps=fps)


def find_detections(folder: Path, item: VideoItem) -> Path:
    """The detections file for `item` in `folder`: NAME.txt, NAME.json, NAME/det/det.txt or
    NAME/det.txt, for NAME the output name and then the source's own name.

    Raises:
        InputError: none of them exists.
    """
    names = dict.fromkeys([item.name, Path(item.name).name])
    candidates = [folder / f"{n}{suffix}" for n in names for suffix in (".txt", ".json")]
    candidates += [folder / n / "det" / "det.txt" for n in names] + [folder / n / "det.txt" for n in names]
    for path in candidates:
        if path.is_file():
            return path
    raise InputError(f"{folder}: no detections file for {item.name} (looked for {item.name}.txt, "
                     f"{item.name}.json, {item.name}/det/det.txt)")
