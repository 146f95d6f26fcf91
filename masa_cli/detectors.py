"""Where a tracking run's boxes come from: the option checks, and the built-in detectors."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from masa_cli.options import BoxMode, DetectorName

if TYPE_CHECKING:
    from masa_cli.settings import DetectorOptions, TrackOptions

__all__ = ["DETECTOR_BUILDERS", "box_mode", "build_detector", "unified_or_plug_and_play"]


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


#: Detector name -> `build(weights, score_threshold, device, **grounding_dino_options)`.
DETECTOR_BUILDERS: dict[DetectorName, Callable[..., Any]] = {
    DetectorName.fastestdet: _fastestdet,
    DetectorName.grounding_dino: _grounding_dino,
    DetectorName.fasterrcnn_v2: _torchvision("build_fasterrcnn_v2_detector"),
    DetectorName.retinanet_v2: _torchvision("build_retinanet_v2_detector"),
    DetectorName.fcos: _torchvision("build_fcos_detector"),
    DetectorName.ssdlite: _torchvision("build_ssdlite_detector"),
}


def detector_name(options: TrackOptions) -> DetectorName | None:
    """The detector to run: `--detector`, or grounding-dino when only `--prompt` is given."""
    d = options.detector
    if d.detector is None and d.prompt and options.input.detections is None:
        return DetectorName.grounding_dino
    return d.detector


def box_mode(options: TrackOptions) -> BoxMode:
    """Checks that the box options agree and says where boxes come from.

    Returns:
        `boxes` (from `--detections` or a detector), or for segment-track `head` / `everything`.

    Raises:
        InputError: both or (track) neither of --detections / --detector, or an option that
            does not apply to the chosen source.
    """
    from masa.errors import InputError

    d, detections, name = options.detector, options.input.detections, detector_name(options)
    if detections is not None and name is not None:
        raise InputError("give --detections FILE or --detector NAME, not both")
    if options.input.min_score is not None and detections is None:
        raise InputError(
            "--min-score applies to --detections boxes; use --score-threshold for a detector"
        )
    given = {
        "--prompt": d.prompt,
        "--model": d.model,
        "--text-threshold": d.text_threshold,
        "--input-size": d.input_size,
    }
    if name is DetectorName.grounding_dino:
        if not d.prompt:
            raise InputError(
                "--detector grounding-dino needs --prompt, e.g. --prompt 'car . person'"
            )
        if d.classes:
            raise InputError(
                "--classes is for closed-set detectors; "
                "with grounding-dino name the classes in --prompt"
            )
    elif any(v is not None for v in given.values()):
        used = ", ".join(k for k, v in given.items() if v is not None)
        if name is None:
            raise InputError(f"{used} need --detector grounding-dino")
        raise InputError(f"{used} apply to --detector grounding-dino only, not {name.value}")
    if name is None:
        only = {
            "--detector-weights": d.detector_weights,
            "--classes": d.classes,
            "--nms-iou": d.nms_iou_threshold,
        }
        if any(v is not None for v in only.values()):
            raise InputError(
                f"{', '.join(k for k, v in only.items() if v is not None)} need --detector NAME"
            )
    has_boxes = detections is not None or name is not None
    if options.segment is None:
        if not has_boxes:
            raise InputError(
                "give --detections FILE (boxes from any detector) or --detector NAME "
                "(e.g. --detector grounding-dino --prompt 'car')"
            )
        if d.score_threshold is not None and name is None:
            raise InputError(
                "--score-threshold applies to --detector; use --min-score for --detections"
            )
        return BoxMode.boxes
    if options.model.embed_size is not None:
        raise InputError("--embed-size does not apply to segment-track (SAM sets the input size)")
    mode = options.segment.mode
    if mode is None:
        return BoxMode.boxes if has_boxes else BoxMode.head
    if mode is BoxMode.boxes and not has_boxes:
        raise InputError("--mode boxes needs --detections FILE or --detector NAME")
    if mode is not BoxMode.boxes and has_boxes:
        raise InputError(
            f"--detections / --detector are used by --mode boxes only, not --mode {mode.value}"
        )
    return mode


def build_detector(name: DetectorName, options: DetectorOptions, device: Any) -> Any:
    """The built-in detector `name` with its options (score threshold, Grounding DINO settings)."""
    return DETECTOR_BUILDERS[name](
        options.detector_weights,
        options.score_threshold,
        device,
        prompt=options.prompt,
        model=options.model,
        text_threshold=options.text_threshold,
        input_size=options.input_size,
        precision=options.precision.value,
    )


def unified_or_plug_and_play(detector: Any, adapter: Any, checkpoint: str) -> tuple[Any, Any]:
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
