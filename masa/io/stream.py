"""Live frame sources through PyAV (FFmpeg): network streams (rtsp://, http(s)://, ...) and webcams.

A live source is read once, as it comes: it has no known length (`total_frames` is None), needs
no end frame, and a connection that drops after the first frame ends it early instead of failing
(`ended_early` says why), so the frames already tracked are kept.
"""

from __future__ import annotations

import sys
from typing import Iterator

import numpy as np

from masa.errors import InputError
from masa.io.video import DEFAULT_IMAGE_FPS, FrameSource

__all__ = ["STREAM_SCHEMES", "StreamSource", "open_stream", "webcam_device"]

#: URL schemes opened as live streams.
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt")


def webcam_device(index: int) -> tuple[str, str]:
    """(FFmpeg input, FFmpeg format) of webcam number `index` on this platform.

    Raises:
        InputError: a platform where a webcam has no index (Windows names its devices).
    """
    if sys.platform.startswith("linux"):
        return f"/dev/video{index}", "v4l2"
    if sys.platform == "darwin":
        return str(index), "avfoundation"
    raise InputError(f"webcam {index}: webcams by index work on Linux and macOS only")


def _reason(error: BaseException, timeout: float) -> str:
    import av

    if isinstance(error, av.error.ExitError):  # FFmpeg's interrupt callback: our timeout fired
        return f"no answer within {timeout:g} s"
    text = getattr(error, "strerror", None) or str(error) or error.__class__.__name__
    return " ".join(str(text).split())


class _LiveReader:
    """Keeps one FFmpeg input open; yields RGB frames as they are decoded."""

    def __init__(self, url: str, fmt: str | None, label: str, timeout: float) -> None:
        import av

        self.label = label
        self.timeout = timeout
        self.ended_early: str | None = None
        options = {"rtsp_transport": "tcp"} if url.startswith("rtsp") else {}
        try:
            self.container = av.open(url, format=fmt, options=options, timeout=(timeout, timeout))
        except (av.error.FFmpegError, OSError) as e:
            raise InputError(f"{label}: cannot open ({_reason(e, timeout)})") from None
        try:
            if not self.container.streams.video:
                raise InputError(f"{label}: no video stream")
            stream = self.container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            self.fps = float(rate) if rate else None
            self._frames = self.container.decode(stream)
            first = next(self._frames, None)
        except (av.error.FFmpegError, OSError) as e:
            self.close()
            raise InputError(f"{label}: cannot read ({_reason(e, timeout)})") from None
        except InputError:
            self.close()
            raise
        if first is None:
            self.close()
            raise InputError(f"{label}: the stream has no frames")
        self._first: np.ndarray | None = first.to_ndarray(format="rgb24")  # (H, W, 3) uint8 RGB
        self.height, self.width = self._first.shape[:2]

    def _decoded(self) -> Iterator[np.ndarray]:
        import av

        first, self._first = self._first, None
        if first is None:
            raise RuntimeError(f"{self.label}: a live source can be read once only")
        yield first
        position = 1
        try:
            for frame in self._frames:
                yield frame.to_ndarray(format="rgb24")
                position += 1
        except (av.error.FFmpegError, OSError) as e:
            self.ended_early = f"the stream dropped after {position} frames ({_reason(e, self.timeout)})"

    def read(self, indices: range) -> Iterator[np.ndarray]:
        wanted = iter(indices)
        target = next(wanted, None)
        for position, image in enumerate(self._decoded()):
            if target is None:
                return
            if position == target:
                yield image
                target = next(wanted, None)

    def close(self) -> None:
        self.container.close()


class StreamSource(FrameSource):
    """A `FrameSource` over a live input: `total_frames` is None; `close()` releases it.

    Attributes:
        ended_early: why the input stopped before its end (a dropped connection), else None.
    """

    def __init__(self, *, reader: _LiveReader, **kwargs: object) -> None:
        super().__init__(reader=reader, **kwargs)  # type: ignore[arg-type]
        self._live = reader

    @property
    def ended_early(self) -> str | None:
        return self._live.ended_early

    def close(self) -> None:
        self._live.close()


def open_stream(
    url: str,
    *,
    name: str,
    start: int = 0,
    end: int | None = None,
    stride: int = 1,
    fps: float | None = None,
    timeout: float = 10.0,
    webcam: int | None = None,
) -> StreamSource:
    """Opens a stream URL or a webcam; the first frame is read before this returns.

    Args:
        url: the stream's URL (ignored for a webcam).
        name: the name of the outputs.
        start, end, stride: frames to yield, counted from the first frame received; `end` None
            reads until the stream ends or the caller stops.
        fps: frame rate to report instead of the stream's own.
        timeout: seconds to wait for the connection and then for each read.
        webcam: webcam index to open instead of `url`.

    Raises:
        InputError: unreachable, refused or silent for `timeout` seconds, no video, bad slice.
    """
    if fps is not None and not fps > 0:
        raise InputError(f"fps must be positive, but got {fps}")
    if stride < 1 or start < 0 or (end is not None and end <= start):
        raise InputError(f"bad frame range: start {start}, end {end}, stride {stride}")
    if webcam is not None:
        device, fmt = webcam_device(webcam)
        reader = _LiveReader(device, fmt, f"webcam {webcam} ({device})", timeout)
    else:
        reader = _LiveReader(url, None, url, timeout)
    rate = fps if fps is not None else reader.fps
    source = StreamSource(
        name=name, fps=float(rate) if rate else DEFAULT_IMAGE_FPS, height=reader.height, width=reader.width,
        total_frames=None, frame_indices=range(start, sys.maxsize if end is None else end, stride),
        reader=reader,
    )
    source.assumed_fps = rate is None
    return source
