"""The part every tracking command shares: tracker settings, the run loop, writers and summary."""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from masa.errors import InputError
from masa.overlap import WriteBehind, track_frames_overlapped
from masa.pipeline import StageTimer, resolve_device, track_frames
from masa_cli.export_formats import DEFAULT_FORMATS, ExportContext, build_writers, parse_formats
from masa_cli.settings import TrackerSettings

__all__ = [
    "TrackerSettings", "build_tracker", "make_progress", "resolve_device", "run_tracking", "RunSummary", "stream_fps",
]


def build_tracker(settings: TrackerSettings, fps: float, *, index_fps: float | None = None) -> Any:
    """Builds the preset's tracker with the given overrides.

    Args:
        settings: the command-line options.
        fps: frames per second of the processed stream (video fps / stride); sets the TAO
            tracker's distance-gate growth and converts `memory_seconds`.
        index_fps: the source's own frame rate, which `--tracker masa` measures time with (it
            reads the gaps between frame indices); `fps` when None.
    """
    from masa.tracking import (
        build_bdd_tracker,
        build_tao_tracker_demo,
        build_tao_tracker_test,
        memory_frames_from_seconds,
    )

    from masa_cli.fusion_tracker import build_masa_tracker, check_official

    if settings.preset == "masa":
        return build_masa_tracker(settings, fps if index_fps is None else index_fps)
    check_official(settings)
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
    """What a run produced.

    Attributes:
        partial: why a live source ended before its end (its outputs hold what was read).
        notes: warnings for the user.
    """

    frames: int
    tracks: int
    seconds: dict[str, float]
    outputs: list[Path]
    partial: str | None = None
    notes: list[str] = field(default_factory=list)
    skipped: int = 0  # frames that could not be decoded
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
    refine: Any = None,
    progress: Any = None,
    should_stop: Callable[[], bool] | None = None,
    formats: str = DEFAULT_FORMATS,
    save_frames: bool = False,
    prefetch: bool = True,
) -> RunSummary:
    """Runs `masa.pipeline.track_frames` over `frames` and writes the `formats` and the video.

    Every output is written atomically: on any error or interrupt none of them is left behind.

    Args:
        extra_writers: factories `(out_dir, name) -> writer` for more outputs (e.g. MOTS JSON);
            each writer is a context manager with `write(frame_idx, detections, image)` and `path`.
        refine: a `RefineConfig` to refine the tracks of a tracker that supports it
            (`MasaTracker`) before anything is written; None writes the online tracks.
        progress: a `make_progress` display to show this video's bar in (it is removed at the
            end); None makes one, and prints the summary at the end unless `quiet`.
        should_stop: polled after each frame; True ends the run there, keeping the outputs.
        formats: comma-separated names of `masa_cli.export_formats.FORMATS` (default: MOT txt and
            TAO JSON); one whose file an extra writer already writes is skipped.
        save_frames: put the frames into the YOLO dataset (needs `yolo` in `formats`).
        prefetch: use `masa.overlap.track_frames_overlapped` when the embedder can embed batches
            (reading and detection overlap the adapter, writers run in a `WriteBehind` thread);
            False keeps the sequential loop.
    """
    from masa.io.writers import OverlayVideoWriter
    from masa_cli.damaged import print_damaged_frames
    from masa_cli.outputs import finish_all, prepare_out_dir, write_errors

    export_names = parse_formats(formats, save_frames)
    prepare_out_dir(out_dir)
    name = frames.name
    timer = StageTimer(synchronize=synchronize)
    track_ids: set[int] = set()
    loop = track_frames_overlapped if prefetch and hasattr(embedder, "embed_batch") else track_frames
    started = time.perf_counter()
    context = ExportContext(
        out_dir, name, class_names, frames.width, frames.height, frames.fps, frames.total_frames,
        getattr(frames, "path", None), tcc, save_frames,
    )
    with write_errors(out_dir), ExitStack() as stack, print_damaged_frames() as skipped:
        extras = [stack.enter_context(make(out_dir, name)) for make in extra_writers]
        writers = build_writers(export_names, context, taken=[w.path for w in extras])
        writers = [stack.enter_context(w) for w in writers] + extras
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

        behind = None
        if loop is track_frames_overlapped:  # writers work in their own thread, a few frames behind
            behind = stack.enter_context(WriteBehind(write, size=8))
            write = behind.put
        own = progress is None
        progress = make_progress(quiet) if own else progress
        live = getattr(frames, "total_frames", 0) is None  # a stream: no known length
        total = None if live else frames.num_frames
        with progress if own else nullcontext():
            task = progress.add_task(f"tracking {name}", total=total)
            results = _until(loop(frames, detect, embedder, tracker, timer=timer), should_stop)
            refining = refine is not None and hasattr(tracker, "refinement_plan")
            if refining:
                from masa.refine_pass import refine_results

                results = refine_results(
                    results, tracker=tracker, frames=frames, config=refine, spool_dir=out_dir, name=name,
                    need_images=video or save_frames,  # the overlay and the YOLO frames draw on them
                    on_online_frame=lambda _: progress.advance(task), timer=timer,
                )
                stack.callback(results.close)  # on any error, the spool goes with the outputs
            for result in results:
                write(result)
                track_ids.update(i for i in result.detections.tracker_id.tolist() if i >= 0)
                if not refining:
                    progress.advance(task)
            if not own:
                progress.remove_task(task)
        if behind is not None:
            behind.close()  # every queued frame written before the outputs are finished
        finish_all(writers)  # every output complete before any is renamed into place
    outputs = [w.path for w in writers]
    summary = RunSummary(timer.frames, len(track_ids), dict(timer.seconds), outputs, skipped=len(skipped),
                         elapsed=time.perf_counter() - started)
    if own and not quiet:
        _print_summary(summary)
    return summary


def _until(results: Any, should_stop: Callable[[], bool] | None) -> Any:
    """The results, ending after the frame at which `should_stop()` turns true."""
    for result in results:
        yield result
        if should_stop is not None and should_stop():
            return


def make_progress(quiet: bool) -> Any:
    """A rich progress display on stderr; a task's `unit` field names its rate (default frames/s)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            unit = task.fields.get("unit", "frames/s")
            return Text(f"{task.speed or 0:5.1f} {unit}" if unit else "", style="progress.data.speed")

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
    for stage in ("decode", "detector", "prepare", "wait", "adapter", "tracker", "refine", "write"):
        if stage in summary.seconds:
            s = summary.seconds[stage]
            table.add_row(stage, f"{s:.2f}", f"{1000 * s / max(1, summary.frames):.1f}")
    table.add_row("wall clock", f"{total:.2f}", f"{1000 * total / max(1, summary.frames):.1f}", style="bold")
    console.print(table)
    if "wait" in summary.seconds:
        console.print("decode, detector, prepare and write ran in background threads, overlapping the rest")
    console.print(f"{summary.frames / total if total else 0:.2f} frames/s end to end")
    if summary.skipped:
        n = summary.skipped
        console.print(f"{n} frame{'s' if n > 1 else ''} skipped (could not be decoded)")
    for path in summary.outputs:
        console.print(f"wrote {path}")
