"""Frame sources: a video file (decoded with PyAV) or a folder / glob of images, always RGB.

Frames are streamed: a video is decoded one frame at a time and never held in memory whole.
BGR exists only inside this module (OpenCV reads images as BGR; they are converted on read).

A frame that cannot be decoded (a corrupt image, a damaged or truncated video) stops the
iteration with `InputError` in strict mode (the default); otherwise it is skipped with a
`DamagedFrameWarning` and recorded in `FrameSource.skipped`, and the frames around it keep their
true indices.
"""

from __future__ import annotations

import configparser
import glob
import re
import warnings
from pathlib import Path
from typing import Any, Iterator, NamedTuple, Protocol

import cv2
import numpy as np

from masa.errors import InputError

__all__ = [
    "IMAGE_SUFFIXES", "DEFAULT_IMAGE_FPS", "DamagedFrameWarning", "Frame", "FrameSource",
    "open_frames", "natural_key",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_IMAGE_FPS = 30.0


class Frame(NamedTuple):
    """One decoded frame.

    Attributes:
        frame_idx: 0-based index into the full video or image list (start/stride keep true indices).
        image: uint8 array `(H, W, 3)`, RGB.
    """

    frame_idx: int
    image: np.ndarray


class DamagedFrameWarning(UserWarning):
    """Frames that could not be decoded were skipped (`FrameSource(strict=False)`).

    Attributes:
        frame_indices: the 0-based indices skipped.
    """

    def __init__(self, message: str, frame_indices: list[int]) -> None:
        super().__init__(message)
        self.frame_indices = frame_indices


class _Skipped(NamedTuple):
    """Wanted frames a reader could not decode, and why (one line, naming the file)."""

    frame_indices: list[int]
    reason: str


class _Reader(Protocol):
    def read(self, indices: range) -> Iterator[Frame | _Skipped]: ...


def natural_key(name: str) -> list[int | str]:
    """Sort key that orders embedded numbers by value: `img2` before `img10`."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


class FrameSource:
    """An iterable of `Frame`s over a slice `range(start, end, stride)` of a video or image list.

    Iterating twice decodes twice; nothing is cached.

    Attributes:
        name: stem of the video file, or the image folder name (`SEQ` for `.../SEQ/img1`).
        fps: frames per second of the full (unstrided) source.
        height: frame height in pixels.
        width: frame width in pixels.
        total_frames: number of frames in the whole source, ignoring start/end/stride.
        num_frames: number of frames this source yields.
        frame_indices: the 0-based indices this source yields, `range(start, end, stride)`.
        assumed_fps: True when `fps` is a default, not the source's own rate nor a given one.
        strict: an undecodable frame raises `InputError`; when False it is skipped.
        skipped: indices of the frames skipped by the last iteration (strict=False only).
        path: the video file or image folder (None for a glob pattern).
    """

    def __init__(
        self, *, name: str, fps: float, height: int, width: int, total_frames: int,
        frame_indices: range, reader: _Reader, strict: bool = True, path: Path | None = None,
    ) -> None:
        self.name = name
        self.path = path
        self.fps = fps
        self.height = height
        self.width = width
        self.total_frames = total_frames
        self.frame_indices = frame_indices
        self.assumed_fps = False
        self.strict = strict
        self.skipped: list[int] = []
        self._reader = reader

    @property
    def num_frames(self) -> int:
        return len(self.frame_indices)

    def __len__(self) -> int:
        return self.num_frames

    def __iter__(self) -> Iterator[Frame]:
        self.skipped = []
        for item in self._reader.read(self.frame_indices):
            if isinstance(item, Frame):
                yield item
            elif self.strict:
                raise InputError(item.reason)
            else:
                lost = item.frame_indices
                self.skipped += lost
                which = f"frame {lost[0]}"
                if len(lost) > 1:
                    which = f"{len(lost)} frames ({lost[0]}..{lost[-1]})"
                warnings.warn(DamagedFrameWarning(f"{item.reason}; skipped {which}", lost))

    def __repr__(self) -> str:
        return (
            f"FrameSource(name={self.name!r}, fps={self.fps:g}, size={self.width}x{self.height}, "
            f"frames={self.frame_indices})"
        )


class _VideoReader:
    """Streams RGB frames from a video file with PyAV (FFmpeg), decoding sequentially.

    PyAV rather than decord: a live decord reader made the process hold about 1.4 GB more
    resident memory while the adapter ran (measured on these machines; see the memory
    benchmark), whereas a streaming PyAV decoder adds a few megabytes.

    `total_frames` is the larger of the packets found and the count the container declares, so
    the frames a truncated file lost are reported rather than silently missing.
    """

    def __init__(self, path: Path) -> None:
        import av

        self.path = path
        try:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    raise InputError(f"{path}: file has no video stream")
                stream = container.streams.video[0]
                rate = stream.average_rate or stream.guessed_rate
                self.fps = float(rate) if rate else 0.0
                first = next(container.decode(stream), None)
                if first is None:
                    raise InputError(f"{path}: video has no decodable frames")
                self.height, self.width = int(first.height), int(first.width)
                container.seek(0)
                packets = sum(1 for packet in container.demux(stream) if packet.size)
                self.total_frames = max(packets, int(stream.frames or 0))
        except (av.error.FFmpegError, OSError, StopIteration) as e:
            raise InputError(f"{path}: cannot read video (corrupt or unsupported format)") from e

    def read(self, indices: range) -> Iterator[Frame | _Skipped]:
        import av

        wanted = iter(indices)
        target, last, reason = next(wanted, None), -1, None
        try:
            with av.open(str(self.path)) as container:
                for index, frame, lost in _numbered_frames(self.path, container):
                    reason = lost or reason
                    if target is None or frame is None:
                        break
                    missed = []
                    while target is not None and target < index:
                        missed.append(target)
                        target = next(wanted, None)
                    if missed:
                        yield _Skipped(missed, reason or f"{self.path}: frame {missed[0]} missing")
                    last, reason = index, None
                    if target == index:
                        yield Frame(index, frame.to_ndarray(format="rgb24"))  # (H, W, 3) RGB
                        target = next(wanted, None)
        except av.error.FFmpegError as e:
            reason = reason or f"{self.path}: cannot read past frame {last} ({_why(e)})"
        if target is not None:
            yield _Skipped([target, *wanted], reason or (
                f"{self.path}: only {last + 1} of {self.total_frames} frames decode "
                "(the file is truncated or damaged)"
            ))


def _numbered_frames(path: Path, container: Any) -> Iterator[tuple[int, Any, str | None]]:
    """`(frame_idx, frame, why frames before it were lost or None)` in presentation order,
    ending with `(-1, None, why)` when the last packets did not decode.

    Frames are numbered by position. After a packet that does not decode, the next frame is
    numbered by its timestamp instead, so a lost frame never shifts the index of the frames after
    it; without a timestamp the rest of the video is given up as lost.
    """
    import av

    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    rate = float(stream.average_rate or stream.guessed_rate or 0)
    position, origin, lost = -1, None, None
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.FFmpegError as e:
            lost = lost or f"{path}: cannot decode frame {position + 1} ({_why(e)})"
            continue
        for frame in frames:
            origin = frame.time if origin is None else origin
            if lost is not None:
                if frame.time is None or origin is None or not rate:
                    yield -1, None, lost  # what follows cannot be numbered: given up as lost
                    return
                index = round((frame.time - origin) * rate)
                if index <= position:
                    continue
                position = index - 1
            position += 1
            yield position, frame, lost
            lost = None
    if lost is not None:
        yield -1, None, lost


def _why(error: Exception) -> str:
    """An FFmpeg error's message without its errno."""
    return str(getattr(error, "strerror", None) or error)


class _ImageReader:
    """Reads RGB images from a naturally sorted list of files with OpenCV.

    The frame size is the first image's; with `strict=False` the first image that decodes.
    """

    def __init__(self, files: list[Path], *, strict: bool = True) -> None:
        self.files = files
        self.total_frames = len(files)
        candidates = files[:1] if strict else files
        first = next((im for im in map(self._load, candidates) if im is not None), None)
        if first is None:
            raise InputError(f"{files[0]}: cannot decode image" if len(candidates) == 1 else
                             f"{files[0].parent}: none of the {len(files)} images decodes")
        self.height, self.width = int(first.shape[0]), int(first.shape[1])

    @staticmethod
    def _load(path: Path) -> np.ndarray | None:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)  # uint8 (H, W, 3) BGR, or None
        return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def read(self, indices: range) -> Iterator[Frame | _Skipped]:
        for i in indices:
            image = self._load(self.files[i])
            if image is None:
                yield _Skipped([i], f"{self.files[i]}: cannot decode image")
            elif image.shape[:2] != (self.height, self.width):
                yield _Skipped([i], (
                    f"{self.files[i]}: image is {image.shape[1]}x{image.shape[0]}, but the first "
                    f"image is {self.width}x{self.height}; all frames must have one size"
                ))
            else:
                yield Frame(i, image)


def _list_images(source: Path | str, is_glob: bool) -> list[Path]:
    if is_glob:
        candidates = [Path(p) for p in glob.glob(str(source))]
    else:
        candidates = list(Path(source).iterdir())
    files = [p for p in candidates if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    if not files:
        what = "pattern matches" if is_glob else "folder contains"
        raise InputError(f"{source}: {what} no images ({', '.join(IMAGE_SUFFIXES)})")
    return sorted(files, key=lambda p: natural_key(p.name))


def _sequence_name_and_fps(folder: Path) -> tuple[str, float | None]:
    """Name and MOTChallenge `seqinfo.ini` frame rate for an image folder (`SEQ/img1` -> `SEQ`)."""
    folder = folder.resolve()
    if folder.name != "img1":
        return folder.name, None
    seqinfo = folder.parent / "seqinfo.ini"
    if not seqinfo.is_file():
        return folder.parent.name, None
    parser = configparser.ConfigParser()
    try:
        parser.read(seqinfo)
        fps = parser.getfloat("Sequence", "frameRate", fallback=None)
    except (configparser.Error, ValueError) as e:
        raise InputError(f"{seqinfo}: cannot read frameRate ({e.__class__.__name__})") from e
    if fps is not None and not 0 < fps < float("inf"):
        raise InputError(f"{seqinfo}: frameRate must be a positive number, but got {fps:g}")
    return folder.parent.name, fps


def _slice(source: str | Path, total: int, start: int, end: int | None, stride: int) -> range:
    if stride < 1:
        raise InputError(f"stride must be >= 1, but got {stride}")
    if start < 0:
        raise InputError(f"start must be >= 0, but got {start}")
    if start >= total:
        raise InputError(f"{source}: start frame {start} is past the end ({total} frames)")
    if end is not None and end <= start:
        raise InputError(f"end ({end}) must be greater than start ({start})")
    return range(start, total if end is None else min(end, total), stride)


def open_frames(
    source: str | Path,
    *,
    start: int = 0,
    end: int | None = None,
    stride: int = 1,
    fps: float | None = None,
    strict: bool = True,
) -> FrameSource:
    """Opens a video file, an image folder or an image glob pattern as a stream of RGB frames.

    Images in a folder or glob are sorted naturally (`img2` before `img10`). For an image folder
    named `img1` the name and frame rate come from the MOTChallenge layout (`SEQ/img1`,
    `SEQ/seqinfo.ini` `frameRate`).

    Args:
        source: video file (anything FFmpeg reads: mp4, avi, mkv, webm, ...), image folder, glob
            pattern such as `dir/*.jpg`, or a single image (a one-frame source).
        start: first 0-based frame index to yield.
        end: 0-based frame index to stop before (exclusive); None or a value past the end reads to
            the last frame.
        stride: yield every `stride`-th frame; `frame_idx` stays an index into the full source.
        fps: frame rate to report. It overrides the container's rate for videos, and for images
            `seqinfo.ini` and the default of `DEFAULT_IMAGE_FPS` (30).
        strict: stop with `InputError` at the first frame that does not decode. When False such
            frames are skipped, each with a `DamagedFrameWarning`, and listed in
            `FrameSource.skipped`; the other frames keep their true indices.

    Returns:
        A `FrameSource` yielding `Frame(frame_idx, image)` with `image` uint8 `(H, W, 3)` RGB.

    Raises:
        InputError: missing path, unreadable or corrupt video, no images, a frame that does not
            decode (raised while iterating, if strict), start past the last frame, end <= start,
            stride < 1, or fps <= 0.
    """
    if fps is not None and not 0 < fps < float("inf"):
        raise InputError(f"fps must be a positive number, but got {fps}")
    text = str(source)
    is_glob = any(ch in text for ch in "*?[")
    path = Path(source)
    if not is_glob and not path.exists():
        raise InputError(f"{source}: no such file or folder")
    reader: _VideoReader | _ImageReader
    assumed = False  # no frame rate known: DEFAULT_IMAGE_FPS
    if is_glob or path.is_dir():
        files = _list_images(source, is_glob)
        reader = _ImageReader(files, strict=strict)
        name, seq_fps = _sequence_name_and_fps(files[0].parent if is_glob else path)
        source_fps = seq_fps if seq_fps is not None else DEFAULT_IMAGE_FPS
        assumed = seq_fps is None
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        reader = _ImageReader([path], strict=strict)
        name, source_fps = path.stem, DEFAULT_IMAGE_FPS
    else:
        reader = _VideoReader(path)
        name, source_fps = path.stem, reader.fps
        if fps is None and not 0 < source_fps < float("inf"):
            raise InputError(f"{source}: no valid frame rate ({source_fps}); pass fps")
    indices = _slice(source, reader.total_frames, start, end, stride)
    frames = FrameSource(
        name=name,
        fps=float(fps) if fps is not None else source_fps,
        height=reader.height,
        width=reader.width,
        total_frames=reader.total_frames,
        frame_indices=indices,
        reader=reader,
        strict=strict,
        path=None if is_glob else path,
    )
    frames.assumed_fps = fps is None and assumed
    return frames
