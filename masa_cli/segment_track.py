"""`masa segment-track`: `masa track` with SAM masks, from the MASA-SAM adapter's own proposals by
default. This module holds what SAM adds: its model, the boxes that prompt it, and mask outputs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from masa_cli.command import tracking_command
from masa_cli.options import BoxMode
from masa_cli.batch import run

if TYPE_CHECKING:
    from masa_cli.settings import TrackOptions

DEFAULT_CHECKPOINT = "sam_vitb_masa"

segment_track = tracking_command(
    run,
    doc="Segment and track: writes NAME.mots.json (MOTS, RLE), NAME.coco.json (COCO-video with "
    "segmentation), NAME.txt, NAME.json and NAME.mp4 (masks drawn). Boxes come from MASA's detection "
    "head, from --detections / --detector, or from SAM's automatic mask generator (--mode).",
    defaults={"checkpoint": DEFAULT_CHECKPOINT},
    groups={"segment"},
)


def load_segment_model(options: TrackOptions, mode: BoxMode, device: Any) -> Any:
    """The SAM-MASA model of `--checkpoint` (and `--sam`).

    Raises:
        InputError: head mode with a checkpoint that has no detection head.
    """
    from masa.errors import InputError
    from masa.segment import load_sam_masa

    checkpoint = options.model.checkpoint or DEFAULT_CHECKPOINT
    model = load_sam_masa(checkpoint, sam=options.segment.sam, device=device)
    if mode is BoxMode.head and model.proposer is None:
        raise InputError(
            f"{checkpoint} has no detection head (rpn_head / roi_head): use --detections or --mode everything"
        )
    return model


def segmenter(
    model: Any, options: TrackOptions, mode: BoxMode, *, table: Any, detector: Any
) -> tuple[Any, dict[int, str]]:
    """(segmenter, default class names): the pipeline's `detect` and `embedder` for one video.

    Args:
        table: the video's `DetectionTable` (boxes from a file), or None.
        detector: a filtered batch detector, or None.
    """
    from masa.segment import AutomaticMasks, DetectorBoxes, HeadProposals, ProposalSettings, SamMasaSegmenter

    seg = options.segment
    if table is not None:
        boxes, names = DetectorBoxes(lambda frame_idx, image: table.get(frame_idx)), table.class_names
    elif detector is not None:
        boxes, names = DetectorBoxes.from_detector(detector), dict(detector.class_names)
    elif mode is BoxMode.everything:
        boxes, names = AutomaticMasks(
            points_per_side=seg.points_per_side, pred_iou_threshold=seg.pred_iou_threshold,
            stability_score_threshold=seg.stability_score_threshold, max_masks=seg.max_objects,
        ), {0: "object"}
    else:
        threshold = options.detector.score_threshold
        settings = ProposalSettings(score_threshold=0.02 if threshold is None else threshold,
                                    max_detections=seg.max_objects or 50)
        boxes, names = HeadProposals(settings), {0: "object"}
    return SamMasaSegmenter(model, boxes, remove_overlaps=seg.remove_overlaps), names


def mask_writers(frames: Any, names: dict[int, str], png_ids: bool) -> list[Any]:
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
