"""Turns an online tracking pass into a refined one: the online results are spooled to disk, the
tracker's refinement plan is applied, and the frames are replayed (re-decoded only when an output
needs the images), so every output is written once, with the final ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from masa.io.spool import DetectionSpool
from masa.pipeline import FrameResult, StageTimer
from masa.tracking.refine import RefineConfig
from masa.tracking.replay import refined_frames

__all__ = ["refine_results", "replay_source"]


def replay_source(frames: Any) -> Any:
    """The decodable frames under a detect-ahead wrapper (replaying must not run the detector again)."""
    from masa.detectors.batching import DetectAhead

    return frames.frames if isinstance(frames, DetectAhead) else frames


def refine_results(
    results: Iterable[FrameResult],
    *,
    tracker: Any,
    frames: Any,
    config: RefineConfig,
    spool_dir: Path,
    name: str,
    need_images: bool,
    on_online_frame: Callable[[FrameResult], None] | None = None,
    timer: StageTimer | None = None,
) -> Iterator[FrameResult]:
    """Consumes the online `results`, then yields the refined frames in order.

    Args:
        results: the online pass (`masa.pipeline.track_frames`) of a tracker with
            `refinement_plan` (`MasaTracker`).
        frames: the source, iterated again for the images when `need_images`.
        config: refinement settings.
        spool_dir, name: where the temporary spool lives (removed at the end, also on errors).
        need_images: whether the outputs draw on the frames (overlay video, extracted frames).
        on_online_frame: called for each online frame (progress).
        timer: the "refine" stage is timed here.

    Yields:
        FrameResult per frame with refined `tracker_id` (image None unless `need_images`).
    """
    timer = timer or StageTimer()
    with DetectionSpool(spool_dir, name) as spool:
        for result in results:
            with timer.stage("refine"):
                spool.append(result.frame_idx, result.detections)
            if on_online_frame is not None:
                on_online_frame(result)
        with timer.stage("refine"):
            plan = tracker.refinement_plan(config)
            gap = round(config.interpolate_gap * tracker.fps)
        replayed = refined_frames(spool, plan, interpolate_frames=gap)
        images = iter(replay_source(frames)) if need_images else None
        for frame_idx, detections in replayed:
            image = None
            if images is not None:
                with timer.stage("decode"):
                    frame = next(images, None)
                    while (
                        frame is not None and frame.frame_idx < frame_idx
                    ):  # frames skipped online
                        frame = next(images, None)
                image = None if frame is None else frame.image
            yield FrameResult(frame_idx, image, detections)
