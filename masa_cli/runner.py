"""The part every tracking command shares: tracker settings, the run loop, writers and summary."""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from masa.errors import InputError
from masa.overlap import WriteBehind, track_frames_overlapped
from masa.pipeline import StageTimer, resolve_device, track_frames

__all__ = ["TrackerSettings", "build_tracker", "resolve_device", "run_tracking", "RunSummary", "stream_fps"]


@dataclass
class TrackerSettings:
    """Tracker options as given on the command line; None keeps the preset's value."""

    preset: str = "tao"
    init_score_threshold: float | None = None
    obj_score_threshold: float | None = None
    match_score_threshold: float | None = None
    memory_frames: int | None = None
    memory_seconds: float | None = None
    new_embed_weight: float | None = None
    max_distance: float | None = None
    distractor_score_threshold: float | None = None
    distractor_iou_threshold: float | None = None


def build_tracker(settings: TrackerSettings, fps: float) -> Any:
    """Builds the preset's tracker with the given overrides.

    Args:
        settings: the command-line options.
        fps: frames per second of the processed stream (video fps / stride); sets the TAO
            tracker's distance-gate growth and converts `memory_seconds`.
    """
    from masa.tracking import (
        build_bdd_tracker,
        build_tao_tracker_demo,
        build_tao_tracker_test,
        memory_frames_from_seconds,
    )

    if settings.memory_frames is not None and settings.memory_seconds is not None:
        raise InputError("give --memory-frames or --memory-seconds, not both")
    overrides: dict[str, Any] = {
        k: getattr(settings, k)
        for k in ("init_score_threshold", "obj_score_threshold", "match_score_threshold",
                  "memory_frames", "new_embed_weight")
        if getattr(settings, k) is not None
    }
    if settings.memory_seconds is not None:
        overrides["memory_frames"] = memory_frames_from_seconds(settings.memory_seconds, fps)
    tao_only = {k: getattr(settings, k) for k in ("max_distance", "distractor_score_threshold",
                                                  "distractor_iou_threshold")}
    if settings.preset == "bdd":
        given = [f"--{k.replace('_', '-')}" for k, v in tao_only.items() if v is not None]
        if given:
            raise InputError(f"{', '.join(given)} apply to the TAO tracker only, not --tracker bdd")
        return build_bdd_tracker(**overrides)
    if tao_only["max_distance"] is not None:
        overrides["max_distance"] = tao_only["max_distance"] if tao_only["max_distance"] > 0 else None
    for key in ("distractor_score_threshold", "distractor_iou_threshold"):
        if tao_only[key] is not None:
            overrides[key] = tao_only[key]
    try:
        if settings.preset == "tao-test":
            return build_tao_tracker_test(**overrides)
        return build_tao_tracker_demo(fps=fps, **overrides)
    except ValueError as e:
        raise InputError(str(e)) from None


def parse_class_names(text: str | None, defaults: dict[int, str]) -> dict[int, str]:
    """`'1=disc,2=square'` -> `{1: 'disc', 2: 'square'}`, on top of `defaults`."""
    names = dict(defaults)
    if not text:
        return names
    for item in text.split(","):
        key, sep, name = item.partition("=")
        if not sep or not key.strip().lstrip("-").isdigit() or not name.strip():
            raise InputError(f"--class-names: {item!r} is not ID=NAME (e.g. '1=disc,2=square')")
        names[int(key)] = name.strip()
    return names


def stream_fps(frames: Any) -> float:
    """Frames per second of the processed stream: the source's rate divided by the stride."""
    return frames.fps / frames.frame_indices.step


@dataclass
class RunSummary:
    """What a run produced."""

    frames: int
    tracks: int
    seconds: dict[str, float]
    outputs: list[Path]
    elapsed: float = 0.0  # wall-clock seconds of the loop (stages may overlap)


def run_tracking(
    *,
    frames: Any,
    detect: Callable[[int, np.ndarray], Any],
    embedder: Any,
    tracker: Any,
    out_dir: Path,
    class_names: dict[int, str],
    tcc: bool,
    video: bool,
    trace_length: int,
    quiet: bool,
    synchronize: bool = False,
    extra_writers: Sequence[Callable[[Path, str], Any]] = (),
    prefetch: bool = True,
) -> RunSummary:
    """Runs `masa.pipeline.track_frames` over `frames` and writes MOT txt, TAO JSON and video.

    Every output is written atomically: on any error or interrupt none of them is left behind.

    Args:
        extra_writers: factories `(out_dir, name) -> writer` for more outputs (e.g. MOTS JSON);
            each writer is a context manager with `write(frame_idx, detections, image)` and `path`.
        prefetch: use `masa.overlap.track_frames_overlapped` when the embedder can embed batches
            (reading and detection overlap the adapter, writers run in a `WriteBehind` thread);
            False keeps the sequential loop.
    """
    from masa.io.writers import MotTxtWriter, OverlayVideoWriter, TaoJsonWriter

    out_dir.mkdir(parents=True, exist_ok=True)
    name = frames.name
    timer = StageTimer(synchronize=synchronize)
    track_ids: set[int] = set()
    loop = track_frames_overlapped if prefetch and hasattr(embedder, "embed_batch") else track_frames
    started = time.perf_counter()
    with ExitStack() as stack:
        writers = [
            stack.enter_context(MotTxtWriter(out_dir / f"{name}.txt")),
            stack.enter_context(TaoJsonWriter(out_dir / f"{name}.json", video_name=name,
                                              class_names=class_names, temporal_class_consistency=tcc)),
        ]
        writers += [stack.enter_context(make(out_dir, name)) for make in extra_writers]
        if video:
            writers.append(stack.enter_context(OverlayVideoWriter(
                out_dir / f"{name}.mp4", fps=stream_fps(frames),
                width=frames.width, height=frames.height, class_names=class_names,
                trace_length=trace_length,
            )))

        def write(result: Any) -> None:
            with timer.stage("write"):
                for writer in writers:
                    writer.write(result.frame_idx, result.detections, result.image)

        if loop is track_frames_overlapped:  # writers work in their own thread, a few frames behind
            write = stack.enter_context(WriteBehind(write, size=8)).put
        progress = _progress(quiet)
        with progress:
            task = progress.add_task(f"tracking {name}", total=frames.num_frames)
            for result in loop(frames, detect, embedder, tracker, timer=timer):
                write(result)
                track_ids.update(result.detections.tracker_id.tolist())
                progress.advance(task)
    summary = RunSummary(timer.frames, len(track_ids), dict(timer.seconds), [w.path for w in writers],
                         time.perf_counter() - started)
    if not quiet:
        _print_summary(summary)
    return summary


def _progress(quiet: bool) -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(f"{task.speed or 0:5.1f} frames/s", style="progress.data.speed")

    return Progress(
        TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
        RateColumn(), TimeRemainingColumn(), console=Console(file=sys.stderr), disable=quiet,
    )


def _print_summary(summary: RunSummary) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stderr)
    table = Table(title=f"{summary.frames} frames, {summary.tracks} tracks", title_justify="left")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    table.add_column("ms/frame", justify="right")
    total = summary.elapsed or sum(summary.seconds.values())
    for stage in ("decode", "detector", "prepare", "wait", "adapter", "tracker", "write"):
        if stage in summary.seconds:
            s = summary.seconds[stage]
            table.add_row(stage, f"{s:.2f}", f"{1000 * s / max(1, summary.frames):.1f}")
    table.add_row("wall clock", f"{total:.2f}", f"{1000 * total / max(1, summary.frames):.1f}", style="bold")
    console.print(table)
    if "wait" in summary.seconds:
        console.print("decode, detector, prepare and write ran in background threads, overlapping the rest")
    console.print(f"{summary.frames / total if total else 0:.2f} frames/s end to end")
    for path in summary.outputs:
        console.print(f"wrote {path}")
