"""Tests for masa.io.video: natural order, true frame indices, fps, names and input errors."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from masa.errors import InputError
from masa.io.video import DEFAULT_IMAGE_FPS, natural_key, open_frames

DATA = Path("/work/shared/data")
PETS = DATA / "mot" / "PETS09-S2L1"
CAR_MP4 = DATA / "videos" / "car-detection.mp4"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared data folder not present")


def _write_images(folder: Path, names: list[str], size: tuple[int, int] = (12, 16)) -> None:
    """Image k of `names` is filled with RGB (k, 100, 200) (written as BGR by cv2)."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        rgb = np.zeros((*size, 3), np.uint8)
        rgb[..., 0], rgb[..., 1], rgb[..., 2] = k, 100, 200
        cv2.imwrite(str(folder / name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _write_video(path: Path, num_frames: int, size: tuple[int, int] = (48, 64), fps: int = 25):
    """A tiny lossless-ish H.264 video whose frame k is grey level 20 * k."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps), options={"crf": "0"})
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        for k in range(num_frames):
            image = np.full((*size, 3), 20 * k, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_natural_key_orders_numbers_by_value():
    names = ["img10.jpg", "img2.jpg", "img1.jpg", "IMG3.jpg"]
    assert sorted(names, key=natural_key) == ["img1.jpg", "img2.jpg", "IMG3.jpg", "img10.jpg"]


def test_folder_natural_sort_rgb_and_defaults(tmp_path):
    names = [f"img{k}.png" for k in range(12)]  # img10 sorts after img9, not after img1
    _write_images(tmp_path / "clip", names)
    source = open_frames(tmp_path / "clip")
    frames = list(source)
    assert [f.frame_idx for f in frames] == list(range(12))
    assert [int(f.image[0, 0, 0]) for f in frames] == list(range(12))
    assert frames[0].image.dtype == np.uint8 and frames[0].image.shape == (12, 16, 3)
    assert tuple(frames[0].image[0, 0, 1:]) == (100, 200)  # RGB, not BGR
    assert (source.name, source.fps) == ("clip", DEFAULT_IMAGE_FPS)
    assert (source.height, source.width) == (12, 16)
    assert source.num_frames == source.total_frames == 12


def test_start_end_stride_keep_true_indices(tmp_path):
    _write_images(tmp_path, [f"{k}.png" for k in range(12)])
    source = open_frames(tmp_path, start=2, end=10, stride=3, fps=5)
    frames = list(source)
    assert [f.frame_idx for f in frames] == [2, 5, 8]
    assert [int(f.image[0, 0, 0]) for f in frames] == [2, 5, 8]
    assert source.num_frames == 3 and len(source) == 3 and source.fps == 5


def test_glob_pattern_and_end_past_last_frame(tmp_path):
    _write_images(tmp_path / "seq", ["a1.jpg", "a2.jpg", "a3.jpg"])
    (tmp_path / "seq" / "notes.txt").write_text("not an image")
    source = open_frames(str(tmp_path / "seq" / "*.jpg"), end=99)
    assert source.name == "seq" and [f.frame_idx for f in source] == [0, 1, 2]


def test_mot_layout_reads_name_and_fps_from_seqinfo(tmp_path):
    _write_images(tmp_path / "SEQ-01" / "img1", ["000001.jpg", "000002.jpg"])
    (tmp_path / "SEQ-01" / "seqinfo.ini").write_text("[Sequence]\nname=SEQ-01\nframeRate=14\n")
    source = open_frames(tmp_path / "SEQ-01" / "img1")
    assert (source.name, source.fps) == ("SEQ-01", 14.0)


@needs_data
def test_pets_img1_folder():
    source = open_frames(PETS / "img1", end=2)
    assert (source.name, source.fps, source.total_frames) == ("PETS09-S2L1", 7.0, 169)
    assert (source.height, source.width) == (576, 768)
    assert [f.frame_idx for f in source] == [0, 1]


@needs_data
def test_real_mp4_fps_and_strided_frames_match_direct_reads():
    source = open_frames(CAR_MP4, start=3, end=12, stride=4)
    assert source.fps == pytest.approx(12.5) and source.total_frames == 377
    assert (source.name, source.height, source.width) == ("car-detection", 432, 768)
    frames = list(source)
    assert [f.frame_idx for f in frames] == [3, 7, 11]
    single = next(iter(open_frames(CAR_MP4, start=7, end=8)))
    assert single.frame_idx == 7 and np.array_equal(single.image, frames[1].image)


def test_synthetic_video_streams_rgb_frames(tmp_path):
    path = tmp_path / "tiny.mp4"
    _write_video(path, num_frames=10)
    source = open_frames(path, start=1, stride=2)
    assert (source.name, source.fps, source.total_frames) == ("tiny", 25.0, 10)
    frames = list(source)
    assert [f.frame_idx for f in frames] == [1, 3, 5, 7, 9]
    assert frames[0].image.shape == (48, 64, 3) and frames[0].image.dtype == np.uint8
    assert [round(float(f.image.mean()) / 20) for f in frames] == [1, 3, 5, 7, 9]


def _message(excinfo: pytest.ExceptionInfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text
    return text


def test_missing_path(tmp_path):
    with pytest.raises(InputError) as e:
        open_frames(tmp_path / "nope.mp4")
    assert "nope.mp4" in _message(e) and "no such file" in _message(e)


def test_corrupt_video(tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(InputError) as e:
        open_frames(path)
    assert "broken.mp4" in _message(e) and "cannot read video" in _message(e)


def test_empty_folder_and_unmatched_glob(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        open_frames(tmp_path / "empty")
    with pytest.raises(InputError, match="no images"):
        open_frames(str(tmp_path / "empty" / "*.png"))


def test_bad_slice_arguments(tmp_path):
    _write_images(tmp_path, ["1.png", "2.png"])
    with pytest.raises(InputError, match="start frame 2"):
        open_frames(tmp_path, start=2)
    with pytest.raises(InputError, match="stride"):
        open_frames(tmp_path, stride=0)
    with pytest.raises(InputError, match="end"):
        open_frames(tmp_path, start=1, end=1)


def test_undecodable_image_is_named(tmp_path):
    _write_images(tmp_path, ["1.png", "2.png"])
    (tmp_path / "3.png").write_bytes(b"not a png at all")
    source = open_frames(tmp_path)
    with pytest.raises(InputError) as e:
        list(source)
    assert "3.png" in _message(e) and "cannot decode image" in _message(e)
