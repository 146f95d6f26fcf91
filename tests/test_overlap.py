"""The overlapped loop: a bounded background reader, and the same tracks as the sequential loop."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import numpy as np
import pytest
import torch

from masa.adapter import build_masa_adapter
from masa.errors import InputError
from masa.io import Frame
from masa.overlap import Prefetch, track_frames_overlapped
from masa.pipeline import StageTimer, track_frames
from masa.structures import Detections
from masa.tracking import build_tao_tracker_demo
from tests.conftest import tiny_adapter_config


def test_prefetch_yields_everything_in_order_and_stays_bounded() -> None:
    produced = []

    def items():
        for i in range(20):
            produced.append(i)
            yield i

    seen = []
    with Prefetch(items(), size=3) as ahead:
        for item in ahead:
            time.sleep(0.01)  # a slow consumer: the producer must wait for it
            assert len(produced) <= len(seen) + 1 + 3 + 1  # consumed + in hand + queued + in flight
            seen.append(item)
    assert seen == list(range(20))


def test_prefetch_raises_the_producers_error_where_its_item_would_be() -> None:
    def items():
        yield 1
        yield 2
        raise InputError("frame 3 is broken")

    got = []
    with pytest.raises(InputError, match="frame 3 is broken"), Prefetch(items(), size=2) as ahead:
        for item in ahead:
            got.append(item)
    assert got == [1, 2]


def test_leaving_early_stops_the_background_thread() -> None:
    def endless():
        i = 0
        while True:
            i += 1
            yield i

    before = threading.active_count()
    with Prefetch(endless(), size=2) as ahead:
        for item in ahead:
            if item == 5:
                break
    assert threading.active_count() == before
    with pytest.raises(ValueError, match="size must be >= 1"):
        Prefetch([], size=0)


def _video(num_frames: int = 10) -> tuple[list[Frame], dict[int, Detections]]:
    """Textured frames with three boxes drifting right; box 2 vanishes for frames 5-7."""
    rng = np.random.default_rng(0)
    frames, detections = [], {}
    for t in range(num_frames):
        frames.append(Frame(t, rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)))
        xyxy = [[4 + t, 8, 34 + t, 48], [50 + t, 30, 80 + t, 80], [90, 10 + t, 120, 50 + t]]
        keep = [0, 1] if 5 <= t <= 7 else [0, 1, 2]
        detections[t] = Detections.from_arrays(
            np.array(xyxy, np.float32)[keep], [0.9, 0.8, 0.7][: len(keep)]
        )
    return frames, detections


@pytest.fixture(scope="module")
def sequential():
    """A tiny adapter, the video, its detections, and the sequential loop's results."""
    torch.manual_seed(0)
    adapter = build_masa_adapter(replace(tiny_adapter_config(), resize=(128, 128)))
    frames, detections = _video()
    results = list(
        track_frames(frames, lambda i, image: detections[i], adapter, build_tao_tracker_demo())
    )
    return adapter, frames, detections, results


@pytest.mark.parametrize("batch_size", [1, 5])
def test_overlapped_loop_gives_the_sequential_loops_tracks(sequential, batch_size: int) -> None:
    adapter, frames, detections, old = sequential
    timer = StageTimer()
    new = list(
        track_frames_overlapped(
            frames,
            lambda i, image: detections[i],
            adapter,
            build_tao_tracker_demo(),
            timer=timer,
            batch_size=batch_size,
            queue_size=2,
        )
    )
    assert [r.frame_idx for r in new] == [r.frame_idx for r in old] == list(range(len(frames)))
    for a, b in zip(old, new):
        assert a.detections.tracker_id.tolist() == b.detections.tracker_id.tolist()
        torch.testing.assert_close(a.detections.xyxy, b.detections.xyxy)
        torch.testing.assert_close(
            a.detections.embedding, b.detections.embedding, rtol=1e-4, atol=1e-5
        )
    assert timer.frames == len(frames)
    assert {"decode", "detector", "prepare", "wait", "adapter", "tracker"} <= set(timer.seconds)


def test_a_detection_error_in_the_background_reaches_the_caller(sequential) -> None:
    adapter, frames, detections, _ = sequential

    def detect(frame_idx: int, image: np.ndarray) -> Detections:
        if frame_idx == 2:
            raise InputError("dets.txt line 7: NaN")
        return detections[frame_idx]

    loop = track_frames_overlapped(frames, detect, adapter, build_tao_tracker_demo(), batch_size=1)
    assert next(loop).frame_idx == 0
    with pytest.raises(InputError, match="line 7"):
        list(loop)


def test_stage_timer_synchronizes_only_on_its_own_thread(monkeypatch) -> None:
    import threading

    import torch

    from masa.pipeline import StageTimer

    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: calls.append(threading.get_ident()))
    timer = StageTimer(synchronize=True)

    def background() -> None:
        with timer.stage("decode"):  # a prefetch/write-behind stage never waits for the device
            pass

    thread = threading.Thread(target=background)
    thread.start()
    thread.join()
    with timer.stage("adapter"):
        pass
    assert calls == [threading.get_ident()] and set(timer.seconds) == {"decode", "adapter"}
