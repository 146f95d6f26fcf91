"""`masa detect-track`: detect with a built-in detector (or a text prompt) and track with MASA."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from masa_cli import options as opt
from masa_cli.common import cli_errors
from masa_cli.track import DEFAULT_CHECKPOINT

DETECTOR = "Detector"


class DetectorName(str, Enum):
    """Built-in detectors."""

    fastestdet = "fastestdet"  # COCO-80, 1 MB ONNX, fast on CPU
    grounding_dino = "grounding-dino"  # text prompt (transformers)
    fasterrcnn_v2 = "fasterrcnn-v2"  # torchvision COCO detectors
    retinanet_v2 = "retinanet-v2"
    fcos = "fcos"
    ssdlite = "ssdlite"


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


def _fastestdet(weights: str | None, score_threshold: float | None, device: Any, **_: Any) -> Any:
    from masa.detectors import build_fastestdet_detector

    return build_fastestdet_detector(
        weights=weights,
        score_threshold=0.5 if score_threshold is None else score_threshold,
        device=device,
    )


def _grounding_dino(
    weights: str | None,
    score_threshold: float | None,
    device: Any,
    *,
    prompt: str,
    model: str | None,
    text_threshold: float | None,
    input_size: int | None,
    precision: str,
    **_: Any,
) -> Any:
    from masa.detectors.grounding_dino import DEFAULT_GDINO_MODEL, build_grounding_dino_detector

    size = (1333, 800) if input_size is None else (round(input_size * 1333 / 800), input_size)
    return build_grounding_dino_detector(
        prompt=prompt,
        model=weights or model or DEFAULT_GDINO_MODEL,
        size=size,
        precision=precision,
        device=device,
        box_threshold=0.35 if score_threshold is None else score_threshold,
        text_threshold=0.25 if text_threshold is None else text_threshold,
    )


def _torchvision(builder_name: str) -> Callable[..., Any]:
    def build(weights: str | None, score_threshold: float | None, device: Any, **_: Any) -> Any:
        from masa import detectors
        from masa.detectors import FilteredDetector

        detector = getattr(detectors, builder_name)(weights=weights or "DEFAULT", device=device)
        return FilteredDetector(
            detector, score_threshold=0.5 if score_threshold is None else score_threshold
        )

    return build


#: Detector name -> `build(weights, score_threshold, device, **gdino_options)`; shared with segment-track.
DETECTOR_BUILDERS: dict[DetectorName, Callable[..., Any]] = {
    DetectorName.fastestdet: _fastestdet,
    DetectorName.grounding_dino: _grounding_dino,
    DetectorName.fasterrcnn_v2: _torchvision("build_fasterrcnn_v2_detector"),
    DetectorName.retinanet_v2: _torchvision("build_retinanet_v2_detector"),
    DetectorName.fcos: _torchvision("build_fcos_detector"),
    DetectorName.ssdlite: _torchvision("build_ssdlite_detector"),
}


def check_detector_options(
    detector: DetectorName, prompt: str | None, classes: str | None, gdino_only: dict[str, Any]
) -> None:
    from masa.errors import InputError

    if detector is DetectorName.grounding_dino:
        if not prompt:
            raise InputError(
                "--detector grounding-dino needs --prompt, e.g. --prompt 'car . person'"
            )
        if classes:
            raise InputError(
                "--classes is for closed-set detectors; "
                "with grounding-dino name the classes in --prompt"
            )
        return
    given = [
        name for name, value in {"--prompt": prompt, **gdino_only}.items() if value is not None
    ]
    if given:
        raise InputError(
            f"{', '.join(given)} apply to --detector grounding-dino only, not {detector.value}"
        )


@cli_errors
def detect_track(
    source: opt.Source,
    detector: Annotated[
        DetectorName, typer.Option(help="Detector to run.", rich_help_panel=DETECTOR)
    ] = DetectorName.fastestdet,
    prompt: Annotated[
        Optional[str],
        typer.Option(
            "--prompt",
            "-p",
            help="Grounding DINO: phrases to find, separated "
            "by '.', e.g. 'car . person'. Each phrase is a class.",
            rich_help_panel=DETECTOR,
        ),
    ] = None,
    model: Annotated[
        Optional[str],
        typer.Option(
            help="Grounding DINO: Hugging Face model id or local folder "
            "(default: IDEA-Research/grounding-dino-tiny).",
            rich_help_panel=DETECTOR,
        ),
    ] = None,
    detector_weights: Annotated[
        Optional[str],
        typer.Option(
            help="Where the detector's weights come from, overriding the default: a file (FastestDet "
            ".onnx, torchvision state dict), a folder (FastestDet, transformers model), or a known "
            "name (fastestdet; torchvision DEFAULT/COCO_V1; a Hugging Face id).",
            rich_help_panel=DETECTOR,
        ),
    ] = None,
    classes: Annotated[
        Optional[str],
        typer.Option(
            help="Keep only these classes, by name or id: 'person,car'.", rich_help_panel=DETECTOR
        ),
    ] = None,
    score_threshold: Annotated[
        Optional[float],
        typer.Option(
            min=0,
            max=1,
            help="Detection score threshold (default: 0.5; Grounding DINO box threshold: 0.35).",
            rich_help_panel=DETECTOR,
        ),
    ] = None,
    text_threshold: Annotated[
        Optional[float],
        typer.Option(
            min=0,
            max=1,
            help="Grounding DINO: a box's phrase must score above this (default: 0.25).",
            rich_help_panel=DETECTOR,
        ),
    ] = None,
    nms_iou_threshold: Annotated[
        Optional[float],
        typer.Option(
            "--nms-iou",
            min=0,
            max=1,
            help="Class-agnostic NMS IoU across all classes (off by default).",
            rich_help_panel=DETECTOR,
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Frames per detector call.", rich_help_panel=DETECTOR)
    ] = 4,
    precision: Annotated[
        Precision,
        typer.Option(
            help="Grounding DINO on CUDA: autocast dtype (auto = bf16 where supported).",
            rich_help_panel=DETECTOR,
        ),
    ] = Precision.auto,
    input_size: Annotated[
        Optional[int],
        typer.Option(
            min=64,
            help="Grounding DINO: short side of the network "
            "input (default: 800, long side up to 1333).",
            rich_help_panel=DETECTOR,
        ),
    ] = None,
    out: opt.Out = Path("masa_out"),
    checkpoint: opt.Checkpoint = None,
    device: opt.Device = "auto",
    start: opt.Start = 0,
    end: opt.End = None,
    stride: opt.Stride = 1,
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
    """Detect and track: writes SOURCE.txt (MOT), SOURCE.json (TAO) and SOURCE.mp4 (overlay)."""
    from masa.compute import autocast_dtype, set_threads
    from masa.detectors import DetectAhead, FilteredDetector, resolve_class_ids
    from masa.io import open_frames
    from masa.weights import load_adapter
    from masa_cli.runner import (
        TrackerSettings,
        build_tracker,
        parse_class_names,
        resolve_device,
        run_tracking,
        stream_fps,
    )

    gdino_only = {"--model": model, "--text-threshold": text_threshold, "--input-size": input_size}
    check_detector_options(detector, prompt, classes, gdino_only)
    set_threads(threads)
    frames = open_frames(source, start=start, end=end, stride=stride)
    settings = TrackerSettings(
        tracker.value,
        init_score_threshold,
        obj_score_threshold,
        match_score_threshold,
        memory_frames,
        memory_seconds,
        new_embed_weight,
        max_distance,
        distractor_score_threshold,
        distractor_iou_threshold,
    )
    tracker_ = build_tracker(settings, stream_fps(frames))
    dev = resolve_device(device)
    adapter = load_adapter(checkpoint or DEFAULT_CHECKPOINT, device=dev)
    adapter.autocast_dtype = autocast_dtype(dtype.value)
    base = DETECTOR_BUILDERS[detector](
        detector_weights,
        score_threshold,
        dev,
        prompt=prompt,
        model=model,
        text_threshold=text_threshold,
        input_size=input_size,
        precision=precision.value,
    )
    class_ids = resolve_class_ids(classes.split(","), base.class_names) if classes else None
    batch_detector, embedder = _unified_or_plug_and_play(
        base, adapter, checkpoint or DEFAULT_CHECKPOINT
    )
    ahead = DetectAhead(
        frames,
        FilteredDetector(batch_detector, class_ids=class_ids, nms_iou_threshold=nms_iou_threshold),
        batch_size=batch_size,
    )
    run_tracking(
        frames=ahead,
        detect=ahead.detect,
        embedder=embedder,
        tracker=tracker_,
        out_dir=out,
        class_names=parse_class_names(class_names, base.class_names),
        tcc=tcc,
        video=video,
        trace_length=trace_length,
        quiet=quiet,
        synchronize=dev.type == "cuda",
        prefetch=prefetch,
    )
    unmatched = base.unmatched_phrases() if hasattr(base, "unmatched_phrases") else []
    if unmatched:
        print(
            f"warning: no detections for {', '.join(map(repr, unmatched))} in any frame",
            file=sys.stderr,
        )


def _unified_or_plug_and_play(detector: Any, adapter: Any, checkpoint: str) -> tuple[Any, Any]:
    """(batch detector, embedder): the adapter on the detector's own backbone maps when it has no
    backbone (MASA-GDINO), else the adapter with its own backbone on any detector's boxes."""
    from masa.detectors import GroundingDinoDetector, UnifiedEmbedder
    from masa.errors import InputError

    if adapter.backbone is not None:
        return detector, adapter
    if not isinstance(detector, GroundingDinoDetector):
        raise InputError(
            f"--checkpoint {checkpoint} has no backbone of its own: "
            "it runs on a detector's backbone maps "
            "(gdino_masa: --detector grounding-dino --model IDEA-Research/grounding-dino-base); "
            "use masa_r50 with other detectors"
        )
    unified = UnifiedEmbedder(detector, adapter)
    return unified, unified
