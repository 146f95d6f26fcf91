"""Damaged input for masa.io.video: a corrupt image, a frame lost inside a video, a truncated video.

strict (the default) stops at the first bad frame with `InputError`; strict=False skips it with a
`DamagedFrameWarning` and every other frame keeps its true index."""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from masa.errors import InputError
from masa.io.video import DamagedFrameWarning, open_frames
from tests.conftest import SHARED

VIDEO = SHARED / "data" / "videos" / "test-sample2.mp4"  # H.264, moov atom first (149 frames)


def _images(folder: Path, count: int) -> None:
    """Frame k is grey level 20 * k."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        cv2.imwrite(str(folder / f"{k:03d}.png"), np.full((8, 10, 3), 20 * k, np.uint8))


def _decode(source, **kwargs) -> tuple[list[tuple[int, int]], list[int], list[str]]:
    """(frame index, grey level) of each frame, the skipped indices and the warnings."""
    frames = open_frames(source, strict=False, **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = [(f.frame_idx, int(round(f.image.mean()))) for f in frames]
    messages = [str(w.message) for w in caught if issubclass(w.category, DamagedFrameWarning)]
    return got, frames.skipped, messages


def test_corrupt_image_is_skipped_and_named(tmp_path: Path) -> None:
    _images(tmp_path, 5)
    (tmp_path / "002.png").write_bytes(b"not a png")
    got, skipped, messages = _decode(tmp_path)
    assert got == [(0, 0), (1, 20), (3, 60), (4, 80)] and skipped == [2]
    assert len(messages) == 1 and "002.png: cannot decode image; skipped frame 2" in messages[0]
    with pytest.raises(InputError, match="002.png: cannot decode image"):
        list(open_frames(tmp_path))  # strict


def test_first_image_corrupt_and_other_size(tmp_path: Path) -> None:
    _images(tmp_path, 4)
    (tmp_path / "000.png").write_bytes(b"\x89PNG garbage")
    cv2.imwrite(str(tmp_path / "003.png"), np.zeros((9, 10, 3), np.uint8))
    got, skipped, messages = _decode(tmp_path)
    assert got == [(1, 20), (2, 40)] and skipped == [0, 3] and len(messages) == 2
    assert "all frames must have one size" in messages[1]
    with pytest.raises(InputError, match="000.png: cannot decode image"):
        open_frames(tmp_path)  # strict: the first image sets the size
    for k in range(4):
        (tmp_path / f"{k:03d}.png").write_bytes(b"")
    with pytest.raises(InputError, match="none of the 4 images decodes"):
        open_frames(tmp_path, strict=False)


def _mjpeg(path: Path, count: int) -> list[tuple[int, int]]:
    """An MJPEG video (every frame its own JPEG) whose frame k is grey level 20 * k; returns each
    packet's (file offset, size)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=Fraction(10))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuvj420p"
        for k in range(count):
            image = np.full((48, 64, 3), 20 * k, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with av.open(str(path)) as container:
        return [(p.pos, p.size) for p in container.demux(container.streams.video[0]) if p.size]


def test_frame_lost_inside_a_video_keeps_later_indices(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    packets = _mjpeg(path, 8)
    data = bytearray(path.read_bytes())
    pos, size = packets[3]
    data[pos : pos + size] = bytes(size)  # frame 3 no longer decodes
    path.write_bytes(bytes(data))
    got, skipped, messages = _decode(path)
    assert [k for k, _ in got] == [0, 1, 2, 4, 5, 6, 7] and skipped == [3]
    assert all(abs(level - 20 * k) <= 3 for k, level in got)  # each frame under its own index
    assert len(messages) == 1 and "cannot decode frame 3" in messages[0]
    got, skipped, _ = _decode(path, start=1, stride=3)  # the lost frame is not wanted: no warning
    assert [k for k, _ in got] == [1, 4, 7] and skipped == []
    with pytest.raises(InputError, match="cannot decode frame 3"):
        list(open_frames(path))


def test_truncated_video_gives_what_decodes(tmp_path: Path) -> None:
    if not VIDEO.is_file():
        pytest.skip(f"{VIDEO} is not present")
    data = VIDEO.read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) * 3 // 10])  # `head -c 30%`
    frames = open_frames(path, strict=False)
    assert frames.total_frames == 149  # as the container declares
    got, skipped, messages = _decode(path)
    indices = [k for k, _ in got]
    assert indices == list(range(len(indices))) and 20 < len(indices) < 60
    assert skipped == list(range(len(indices), 149))
    assert len(messages) == 1
    assert f"skipped {len(skipped)} frames ({len(indices)}..148)" in messages[0]
    with pytest.raises(InputError, match="cut.mp4"):
        list(open_frames(path))
    path.write_bytes(data[:2000])  # no frame at all: nothing to do
    with pytest.raises(InputError, match="cut.mp4: video has no decodable frames"):
        open_frames(path, strict=False)
