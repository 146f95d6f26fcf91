"""`masa track`: identities for boxes from any detector (MASA's plug-and-play mode)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from masa_cli import options as opt
from masa_cli.common import cli_errors

DEFAULT_CHECKPOINT = "masa_lite"


@cli_errors
def track(
    source: opt.Source,
    detections: Annotated[
        Path,
        typer.Option("--detections", "-d", help="Boxes from any detector: MOTChallenge txt (det.txt / gt.txt "
                     "layout) or COCO/TAO results JSON.", show_default=False, rich_help_panel=opt.INPUT),
    ],
    out: opt.Out = Path("masa_out"),
    checkpoint: opt.Checkpoint = None,
    embed_size: opt.EmbedSize = None,
    device: opt.Device = "auto",
    start: opt.Start = 0,
    end: opt.End = None,
    stride: opt.Stride = 1,
    min_score: Annotated[
        Optional[float], typer.Option(help="Ignore detections scoring below this.", rich_help_panel=opt.INPUT)
    ] = None,
    tracker: opt.Preset = opt.TrackerPreset.tao,
    init_score_threshold: opt.InitScore = None,
    obj_score_threshold: opt.ObjScore = None,
    match_score_threshold: opt.MatchScore = None,
    memory_frames: opt.MemoryFrames = None,
    memory_seconds: opt.MemorySeconds = None,
    new_embed_weight: opt.NewEmbedWeight = None,
    max_distance: opt.MaxDistance = None,
    distractor_score_threshold: opt.DistractorScore = None,
    distractor_iou_threshold: opt.DistractorIou = None,
    class_names: opt.ClassNames = None,
    tcc: opt.Tcc = True,
    video: opt.Video = True,
    trace_length: opt.TraceLength = 30,
    quiet: opt.Quiet = False,
    threads: opt.Threads = None,
    dtype: opt.Dtype = opt.ComputeDtype.fp32,
    prefetch: opt.Prefetch = True,
) -> None:
    """Track boxes from any detector: writes SOURCE.txt (MOTChallenge), SOURCE.json (TAO) and SOURCE.mp4."""
    from masa.compute import autocast_dtype, set_threads
    from masa.errors import InputError
    from masa.io import check_frames, open_frames, read_detections
    from masa.weights import load_adapter
    from masa_cli.runner import (
        TrackerSettings, build_tracker, parse_class_names, resolve_device, run_tracking, stream_fps,
    )

    set_threads(threads)
    frames = open_frames(source, start=start, end=end, stride=stride)
    table = read_detections(detections, min_confidence=min_score)
    check_frames(table, frames.total_frames, detections)
    names = parse_class_names(class_names, table.class_names)
    settings = TrackerSettings(
        tracker.value, init_score_threshold, obj_score_threshold, match_score_threshold, memory_frames,
        memory_seconds, new_embed_weight, max_distance, distractor_score_threshold, distractor_iou_threshold,
    )
    tracker_ = build_tracker(settings, stream_fps(frames))
    dev = resolve_device(device)
    adapter = load_adapter(checkpoint or DEFAULT_CHECKPOINT, device=dev, resize=embed_size)
    adapter.autocast_dtype = autocast_dtype(dtype.value)
    if adapter.backbone is None:
        raise InputError(
            f"{checkpoint} is a MASA adapter for a detector's own features: use it with "
            "`masa detect-track --detector grounding-dino` (GDINO/Detic) or `masa segment-track` (SAM)"
        )
    run_tracking(
        frames=frames, detect=lambda frame_idx, image: table.get(frame_idx), embedder=adapter,
        tracker=tracker_, out_dir=out, class_names=names, tcc=tcc, video=video,
        trace_length=trace_length, quiet=quiet, synchronize=dev.type == "cuda", prefetch=prefetch,
    )
