"""`masa segment-track`: masks and identities with SAM and the MASA-SAM adapter."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from masa_cli import options as opt
from masa_cli.common import cli_errors
from masa_cli.detect_track import DetectorName

DEFAULT_CHECKPOINT = "sam_vitb_masa"
SEGMENT = "Segmentation"


class BoxMode(str, Enum):
    """Where the boxes that prompt SAM come from."""

    head = "head"  # MASA's detection head on the adapter's features
    boxes = "boxes"  # a detections file (any detector)
    everything = "everything"  # SAM's automatic mask generator


SamMasaCheckpoint = Annotated[
    str,
    typer.Option("--checkpoint", help="SAM-MASA weights in the official layout (adapter, detection head "
                 "and SAM under detector.*): a file, sam_vitb_masa or sam_vith_masa."),
]
SamWeights = Annotated[
    Optional[str],
    typer.Option("--sam", help="SAM weights to use instead of the checkpoint's: a SAM .pth, sam_vit_b or "
                 "sam_vit_h."),
]
Mode = Annotated[
    Optional[BoxMode],
    typer.Option("--mode", help="Box source: MASA's detection head, a --detections file, or SAM's "
                 "automatic mask generator. Default: boxes with --detections, else head.",
                 rich_help_panel=SEGMENT, show_default=False),
]
DetectionsFile = Annotated[
    Optional[Path],
    typer.Option("--detections", "-d", help="Boxes from any detector (MOTChallenge txt or COCO/TAO JSON); "
                 "SAM turns each into a mask.", rich_help_panel=opt.INPUT),
]
DetectorOption = Annotated[
    Optional[DetectorName],
    typer.Option("--detector", help="Run a detector of `masa detect-track` and let SAM turn its boxes into "
                 "masks (boxes mode).", rich_help_panel=opt.INPUT, show_default=False),
]
PromptOption = Annotated[
    Optional[str],
    typer.Option("--prompt", "-p", help="With --detector grounding-dino: phrases to detect, e.g. 'dog . person'.",
                 rich_help_panel=opt.INPUT),
]
DetectorWeights = Annotated[
    Optional[str],
    typer.Option("--detector-weights", help="With --detector: where its weights come from (file, folder or "
                 "known name).", rich_help_panel=opt.INPUT),
]
ClassesOption = Annotated[
    Optional[str],
    typer.Option("--classes", help="With a closed-set --detector: keep only these classes, e.g. 'person,dog'.",
                 rich_help_panel=opt.INPUT),
]
MinScore = Annotated[
    Optional[float],
    typer.Option("--min-score", help="Ignore detections scoring below this.", rich_help_panel=opt.INPUT),
]
ScoreThreshold = Annotated[
    float,
    typer.Option("--score-threshold", help="Head mode: keep proposals scoring above this. Higher: fewer, "
                 "surer objects.", rich_help_panel=SEGMENT),
]
MaxObjects = Annotated[
    Optional[int],
    typer.Option("--max-objects", min=1, help="Most masks per frame, best first (head: 50; everything: all).",
                 rich_help_panel=SEGMENT, show_default=False),
]
PointsPerSide = Annotated[
    int,
    typer.Option("--points-per-side", min=1, help="Everything mode: point grid side.",
                 rich_help_panel=SEGMENT),
]
PredIouThreshold = Annotated[
    float,
    typer.Option("--pred-iou-threshold", help="Everything mode: drop masks whose predicted IoU is below "
                 "this.", rich_help_panel=SEGMENT),
]
StabilityThreshold = Annotated[
    float,
    typer.Option("--stability-score-threshold", help="Everything mode: drop masks less stable than this.",
                 rich_help_panel=SEGMENT),
]
RemoveOverlaps = Annotated[
    bool,
    typer.Option("--remove-overlaps/--keep-overlaps", help="Give each pixel to the higher-scoring mask only "
                 "(MOTS needs disjoint masks).", rich_help_panel=SEGMENT),
]
PngIds = Annotated[
    bool,
    typer.Option("--png-ids/--no-png-ids", help="Also write per-frame PNG id maps (uint16, tracker id + 1, "
                 "0 = background) to SOURCE_ids/.", rich_help_panel=opt.OUTPUT),
]


@cli_errors
def segment_track(
    source: opt.Source,
    out: opt.Out = Path("masa_out"),
    checkpoint: SamMasaCheckpoint = DEFAULT_CHECKPOINT,
    sam: SamWeights = None,
    mode: Mode = None,
    detections: DetectionsFile = None,
    detector: DetectorOption = None,
    prompt: PromptOption = None,
    detector_weights: DetectorWeights = None,
    classes: ClassesOption = None,
    min_score: MinScore = None,
    score_threshold: ScoreThreshold = 0.02,
    max_objects: MaxObjects = None,
    points_per_side: PointsPerSide = 32,
    pred_iou_threshold: PredIouThreshold = 0.88,
    stability_score_threshold: StabilityThreshold = 0.95,
    remove_overlaps: RemoveOverlaps = True,
    png_ids: PngIds = False,
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
) -> None:
    """Segment and track: writes SOURCE.mots.json (MOTS, RLE), SOURCE.coco.json (COCO-video with
    segmentation), SOURCE.txt, SOURCE.json and SOURCE.mp4 (masks drawn)."""
    from masa.compute import set_threads
    from masa.io import open_frames
    from masa.segment import SamMasaSegmenter, load_sam_masa
    from masa_cli.runner import (
        TrackerSettings, build_tracker, parse_class_names, resolve_device, run_tracking, stream_fps,
    )

    set_threads(threads)
    frames = open_frames(source, start=start, end=end, stride=stride)
    box_mode = _box_mode(mode, detections, detector)
    settings = TrackerSettings(
        tracker.value, init_score_threshold, obj_score_threshold, match_score_threshold, memory_frames,
        memory_seconds, new_embed_weight, max_distance, distractor_score_threshold, distractor_iou_threshold,
    )
    tracker_ = build_tracker(settings, stream_fps(frames))
    dev = resolve_device(device)
    if detector is not None:
        boxes, default_names = _detector_source(detector, prompt, detector_weights, classes, dev)
    else:
        boxes, default_names = _box_source(
            box_mode, detections, frames, min_score=min_score, score_threshold=score_threshold,
            max_objects=max_objects, points_per_side=points_per_side, pred_iou_threshold=pred_iou_threshold,
            stability_score_threshold=stability_score_threshold,
        )
    names = parse_class_names(class_names, default_names)
    model = load_sam_masa(checkpoint, sam=sam, device=dev)
    if box_mode is BoxMode.head and model.proposer is None:
        from masa.errors import InputError

        raise InputError(
            f"{checkpoint} has no detection head (rpn_head / roi_head): use --detections or --mode everything"
        )
    segmenter = SamMasaSegmenter(model, boxes, remove_overlaps=remove_overlaps)
    run_tracking(
        frames=frames, detect=segmenter, embedder=segmenter, tracker=tracker_, out_dir=out, class_names=names,
        tcc=tcc, video=video, trace_length=trace_length, quiet=quiet, synchronize=dev.type == "cuda",
        extra_writers=_mask_writers(frames, names, png_ids),
    )


def _box_mode(mode: BoxMode | None, detections: Path | None, detector: DetectorName | None) -> BoxMode:
    from masa.errors import InputError

    if detections is not None and detector is not None:
        raise InputError("give --detections FILE or --detector NAME, not both")
    has_boxes = detections is not None or detector is not None
    if mode is None:
        return BoxMode.boxes if has_boxes else BoxMode.head
    if mode is BoxMode.boxes and not has_boxes:
        raise InputError("--mode boxes needs --detections FILE or --detector NAME")
    if mode is not BoxMode.boxes and has_boxes:
        raise InputError(f"--detections / --detector are used by --mode boxes only, not --mode {mode.value}")
    return mode


def _detector_source(
    name: DetectorName, prompt: str | None, weights: str | None, classes: str | None, device: Any
) -> tuple[Any, dict[int, str]]:
    """Boxes from a detector of `masa detect-track`, one frame at a time."""
    from masa.detectors import FilteredDetector, resolve_class_ids
    from masa.segment import DetectorBoxes
    from masa_cli.detect_track import DETECTOR_BUILDERS, check_detector_options

    check_detector_options(name, prompt, classes, {})
    base = DETECTOR_BUILDERS[name](weights, None, device, prompt=prompt, model=None, text_threshold=None,
                                   input_size=None, precision="auto")
    class_ids = resolve_class_ids(classes.split(","), base.class_names) if classes else None
    return DetectorBoxes.from_detector(FilteredDetector(base, class_ids=class_ids)), dict(base.class_names)


def _box_source(mode: BoxMode, detections: Path | None, frames: Any, **kw: Any) -> tuple[Any, dict[int, str]]:
    """The segmenter's box source and default class names."""
    from masa.segment import AutomaticMasks, DetectorBoxes, HeadProposals, ProposalSettings

    if mode is BoxMode.boxes:
        from masa.io import check_frames, read_detections

        table = read_detections(detections, min_confidence=kw["min_score"])
        check_frames(table, frames.total_frames, detections)
        return DetectorBoxes(lambda frame_idx, image: table.get(frame_idx)), table.class_names
    if mode is BoxMode.everything:
        return AutomaticMasks(
            points_per_side=kw["points_per_side"], pred_iou_threshold=kw["pred_iou_threshold"],
            stability_score_threshold=kw["stability_score_threshold"], max_masks=kw["max_objects"],
        ), {0: "object"}
    settings = ProposalSettings(score_threshold=kw["score_threshold"], max_detections=kw["max_objects"] or 50)
    return HeadProposals(settings), {0: "object"}


def _mask_writers(frames: Any, names: dict[int, str], png_ids: bool) -> list[Any]:
    """Factories `(out_dir, name) -> writer` for the mask outputs."""
    from masa.io.mots import CocoVideoJsonWriter, IdMapPngWriter, MotsJsonWriter

    size = {"width": frames.width, "height": frames.height}
    writers = [
        lambda out, name: MotsJsonWriter(out / f"{name}.mots.json", video_name=name, class_names=names),
        lambda out, name: CocoVideoJsonWriter(
            out / f"{name}.coco.json", video_name=name, class_names=names, **size
        ),
    ]
    if png_ids:
        writers.append(lambda out, name: IdMapPngWriter(out / f"{name}_ids", **size))
    return writers
