"""Live sources through PyAV against servers started on 127.0.0.1: a good stream, one that drops,
a refused connection, a server that never answers, and a webcam that is not there."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from masa.errors import InputError
from masa.io.sources import VideoItem, expand_sources, open_source
from masa.io.stream import open_stream
from tests.io.stream_server import SAMPLE_FRAMES, closed_port, http_streams, silent_server


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with http_streams() as url:
        yield url


def test_http_stream_yields_every_frame_with_no_known_length(base_url: str) -> None:
    (item,) = expand_sources([f"{base_url}/full.mp4"]).items
    source = open_source(item, stride=2, timeout=5)
    try:
        assert source.total_frames is None and source.name == "full"
        assert (source.width, source.height, source.fps) == (640, 360, 24.0)
        indices = [frame.frame_idx for frame in source]
    finally:
        source.close()
    assert indices == list(range(0, SAMPLE_FRAMES, 2))
    assert source.ended_early is None


def test_stream_that_drops_ends_early_and_says_why(base_url: str) -> None:
    source = open_stream(f"{base_url}/drop.ts", name="drop", timeout=5)
    frames = sum(1 for _ in source)
    source.close()
    assert 10 < frames < SAMPLE_FRAMES
    assert source.ended_early and f"dropped after {frames} frames" in source.ended_early


def test_end_stops_a_stream(base_url: str) -> None:
    source = open_stream(f"{base_url}/slow.ts", name="slow", end=5, timeout=5)
    start = time.perf_counter()
    assert [f.frame_idx for f in source] == [0, 1, 2, 3, 4]
    source.close()
    assert time.perf_counter() - start < 5  # did not wait for the slow half


@pytest.mark.parametrize("case", ["refused", "silent", "rtsp_silent", "webcam"])
def test_unreachable_source_is_a_one_line_error_within_seconds(case: str) -> None:
    start = time.perf_counter()
    with pytest.raises(InputError) as error:
        if case == "refused":
            open_stream(f"http://{closed_port()}/x.mp4", name="x", timeout=1)
        elif case == "webcam":
            open_source(VideoItem("99", "webcam99", "webcam"), timeout=1)
        else:
            with silent_server() as address:
                scheme = "rtsp" if case == "rtsp_silent" else "http"
                open_stream(f"{scheme}://{address}/x", name="x", timeout=1)
    message = str(error.value)
    assert "\n" not in message
    assert time.perf_counter() - start < 4
    expected = {
        "refused": "Connection refused",
        "silent": "no answer within 1 s",
        "rtsp_silent": "cannot",
        "webcam": "webcam 99",
    }[case]
    assert expected in message, message
