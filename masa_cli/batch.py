"""A tracking run over its SOURCE arguments: one video, or a resumable batch.

One video (a single SOURCE naming one video, image folder, stream or webcam) writes its outputs
straight into OUT, as a plain run always did, and stops with a one-line error on bad input. A batch
(a folder of videos, a list, a glob of videos or several SOURCEs) writes OUT/<name>/ per video and
records each finished video in OUT/manifest.jsonl: a rerun skips what is done, a video that fails
is recorded and the batch goes on, and the exit code is 1 when any failed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from masa_cli.manifest import Manifest, VideoRecord

if TYPE_CHECKING:
    from masa.io.sources import VideoItem
    from masa_cli.engine import TrackEngine
    from masa_cli.settings import TrackOptions

__all__ = ["EXIT_FAILED", "run", "track_one"]

#: Exit code of a batch in which some videos failed (bad command-line input stays 2).
EXIT_FAILED = 1
#: Exit code of a batch stopped by Ctrl-C.
EXIT_INTERRUPTED = 130
_MAX_ROWS = 50
_MAX_WARNINGS = 5


def _warn(message: str) -> None:
    print(f"warning: {' '.join(message.split())}", file=sys.stderr)


def one_line(error: BaseException) -> str:
    """An exception as one line: the message of bad input, else `Type: message`."""
    from masa.errors import InputError

    text = (
        str(error)
        if isinstance(error, (InputError, OSError))
        else f"{error.__class__.__name__}: {error}"
    )
    return " ".join(text.split()) or error.__class__.__name__


def detections_for(options: TrackOptions, item: VideoItem) -> Path | None:
    """The video's detections file: `--detections` itself, or its file in a `--detections` dir."""
    from masa.io.sources import find_detections

    given = options.input.detections
    if given is None:
        return None
    return find_detections(given, item) if given.is_dir() else given


def track_one(
    engine: TrackEngine,
    item: VideoItem,
    *,
    progress: Any = None,
    errors: tuple[type[BaseException], ...] = (Exception,),
) -> VideoRecord:
    """Tracks one video of a batch into OUT/<name>/ and says how it went.

    Args:
        errors: exceptions recorded as the video's failure; others propagate (a Ray task lets
            them, so Ray retries it).
    """
    from masa.io.writers import remove_temporaries

    out = engine.options.output.out
    out_dir = out / item.name
    remove_temporaries(out_dir)  # what a killed run was writing for this video
    start = time.perf_counter()
    try:
        summary = engine.run(
            item, out_dir, detections=detections_for(engine.options, item), progress=progress
        )
    except errors as e:
        if out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()
        return VideoRecord(
            item.source,
            item.name,
            "failed",
            seconds=round(time.perf_counter() - start, 3),
            error=one_line(e),
        )
    return VideoRecord(
        item.source,
        item.name,
        "partial" if summary.partial else "done",
        frames=summary.frames,
        seconds=round(time.perf_counter() - start, 3),
        outputs=[Path(p).relative_to(out).as_posix() for p in summary.outputs],
        error=summary.partial,
        warnings=summary.notes,
    )


def run(options: TrackOptions) -> None:
    """`masa track` / `detect-track` / `segment-track` with parsed options."""
    from masa.errors import InputError
    from masa.io.sources import expand_sources
    from masa_cli.engine import TrackEngine

    sources = expand_sources(options.sources, exclude=[options.output.out])
    engine = TrackEngine(options)
    detections = options.input.detections
    if detections is not None and detections.is_file() and len(sources.items) > 1:
        raise InputError(
            f"--detections {detections} is one file for {len(sources.items)} videos: give a folder "
            "with one file per video (NAME.txt, NAME.json or NAME/det/det.txt)"
        )
    if sources.many:
        failed = _run_batch(engine, list(sources.items))
        if failed:
            raise typer.Exit(EXIT_FAILED)
        return
    if options.batch.ray is not None:
        _warn("--ray runs batches (several videos); tracking the one video here")
    item = sources.items[0]
    summary = engine.run(item, options.output.out, detections=detections_for(options, item))
    for note in summary.notes + engine.final_notes():
        _warn(note)
    if summary.partial:
        _warn(f"{item.name}: {summary.partial}; kept the {summary.frames} frames read")


def _run_batch(engine: TrackEngine, items: list[VideoItem]) -> int:
    """Runs the videos not yet done, records each in the manifest; returns how many failed."""
    from masa_cli.runner import make_progress

    o = engine.options
    manifest = Manifest(o.output.out)
    todo = [
        item for item in items if o.batch.overwrite or item.live or not manifest.is_done(item.name)
    ]
    records: list[VideoRecord] = []
    start = time.perf_counter()
    interrupted = False
    progress = make_progress(o.output.quiet)
    with progress:
        videos = progress.add_task("videos", total=len(todo), unit=None)
        try:
            for record in _records(engine, todo, progress):
                manifest.append(record)
                records.append(record)
                rate = record.frames / record.seconds if record.seconds else 0.0
                progress.update(
                    videos,
                    advance=1,
                    description=f"videos (last: {record.name}, {rate:.1f} frames/s)",
                )
        except KeyboardInterrupt:
            interrupted = True
    _summarize(
        records, len(items) - len(todo), len(items), time.perf_counter() - start, o.output.quiet
    )
    for note in engine.final_notes():
        _warn(note)
    if interrupted:
        print(
            f"interrupted: {len(records)} of {len(todo)} videos done and recorded in "
            f"{manifest.path}; rerun the same command to finish the rest",
            file=sys.stderr,
        )
        raise typer.Exit(EXIT_INTERRUPTED)
    return sum(r.status == "failed" for r in records)


def _records(engine: TrackEngine, todo: list[VideoItem], progress: Any) -> Iterable[VideoRecord]:
    """Each video's record as it finishes: in this process, or from Ray tasks."""
    if not todo:
        return
    if engine.options.batch.ray is not None:
        from masa_cli.ray_runner import run_on_ray

        yield from run_on_ray(engine.options, todo)
        return
    engine.load()  # a bad model stops the batch here, not once per video
    for item in todo:
        yield track_one(engine, item, progress=progress)


def _summarize(
    records: list[VideoRecord], skipped: int, total: int, seconds: float, quiet: bool
) -> None:
    """The table of this run's videos (only those not done when there are many), and warnings."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=sys.stderr)
    counts = {s: sum(r.status == s for r in records) for s in ("done", "partial", "failed")}
    if quiet:
        for r in records:
            if r.status != "done":
                print(f"{r.status}: {r.name}: {r.error}", file=sys.stderr)
        return
    rows = records if len(records) <= _MAX_ROWS else [r for r in records if r.status != "done"]
    table = Table(
        title=f"{total} videos: {counts['done']} done, {counts['partial']} partial, "
        f"{counts['failed']} failed, {skipped} already done (skipped); {seconds:.1f} s",
        title_justify="left",
    )
    for column, justify in (
        ("video", "left"),
        ("status", "left"),
        ("frames", "right"),
        ("seconds", "right"),
        ("frames/s", "right"),
        ("error", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    styles = {"done": "green", "partial": "yellow", "failed": "red"}
    for r in rows:
        rate = f"{r.frames / r.seconds:.1f}" if r.seconds and r.frames else ""
        table.add_row(
            Text(r.name),
            Text(r.status, style=styles[r.status]),
            str(r.frames),
            f"{r.seconds:.1f}",
            rate,
            Text(r.error or ""),
        )
    console.print(table)
    warnings = [w for r in records for w in r.warnings]
    for w in warnings[:_MAX_WARNINGS]:
        _warn(w)
    if len(warnings) > _MAX_WARNINGS:
        _warn(f"{len(warnings) - _MAX_WARNINGS} more warnings in the manifest")
