"""Tracks one video at a time with models loaded once: what every command, batch and Ray task runs."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from masa.errors import InputError
from masa.io.sources import VideoItem, open_source
from masa_cli.fusion_tracker import refine_config
from masa_cli.detectors import box_mode, build_detector, detector_name, unified_or_plug_and_play
from masa_cli.interrupts import stop_on_interrupt
from masa_cli.options import BoxMode
from masa_cli.runner import RunSummary, build_tracker, parse_class_names, resolve_device, run_tracking, stream_fps
from masa_cli.settings import TrackOptions

__all__ = ["TrackEngine"]

DEFAULT_CHECKPOINT = "masa_lite"


class TrackEngine:
    """Runs `options` on one video after another; models load on first use and stay loaded.

    Args:
        options: the run's options; they are checked here (`box_mode`), before any model loads.

    Raises:
        InputError: options that do not agree.
    """

    def __init__(self, options: TrackOptions) -> None:
        from masa.compute import set_threads

        set_threads(options.model.threads)  # before any model runs: torch's pools are sized once
        self.options = options
        self.mode = box_mode(options)
        self.detector_name = detector_name(options)

    @functools.cached_property
    def device(self) -> Any:
        return resolve_device(self.options.model.device)

    @functools.cached_property
    def models(self) -> dict[str, Any]:
        """`detector` (filtered batch detector or None), `base` (the detector itself), and
        `embedder` (track) or `sam` (segment-track)."""
        o = self.options
        base = build_detector(self.detector_name, o.detector, self.device) if self.detector_name else None
        if o.segment is not None:
            from masa_cli.segment_track import load_segment_model

            models = {"sam": load_segment_model(o, self.mode, self.device), "detector": base}
        else:
            models = self._adapter_models(base)
        if models["detector"] is not None:
            from masa.detectors import FilteredDetector, resolve_class_ids

            classes = o.detector.classes
            class_ids = resolve_class_ids(classes.split(","), base.class_names) if classes else None
            models["detector"] = FilteredDetector(models["detector"], class_ids=class_ids,
                                                  nms_iou_threshold=o.detector.nms_iou_threshold)
        return {**models, "base": base}

    def _adapter_models(self, base: Any) -> dict[str, Any]:
        import masa.weights

        checkpoint = self.options.model.checkpoint or DEFAULT_CHECKPOINT
        from masa.compute import autocast_dtype

        adapter = masa.weights.load_adapter(checkpoint, device=self.device, resize=self.options.model.embed_size)
        adapter.autocast_dtype = autocast_dtype(self.options.model.dtype.value)
        if base is not None:
            detector, embedder = unified_or_plug_and_play(base, adapter, checkpoint)
            return {"detector": detector, "embedder": embedder}
        if adapter.backbone is None:
            raise InputError(
                f"{checkpoint} is a MASA adapter for a detector's own features: use it with "
                "`masa detect-track --detector grounding-dino` (GDINO/Detic) or `masa segment-track` (SAM)"
            )
        return {"detector": None, "embedder": adapter}

    def load(self) -> None:
        """Loads the models now (a batch does, so a bad checkpoint stops it before any video)."""
        _ = self.models

    def run(
        self, item: VideoItem, out_dir: Path, *, detections: Path | None = None, progress: Any = None
    ) -> RunSummary:
        """Tracks one video into `out_dir`; its outputs are named after the video.

        Args:
            item: the video.
            out_dir: the folder its outputs go to.
            detections: its boxes file, when boxes come from a file.
            progress: a rich `Progress` to add this video's bar to (else the run makes its own).

        Returns:
            The run's summary; `partial` says why a stream ended early (what was read is kept),
            `notes` lists warnings to show.

        Raises:
            InputError: an unreadable video or detections file, or (on the first video) a bad model.
        """
        o = self.options
        frames = open_source(item, start=o.input.start, end=o.input.end, stride=o.input.stride,
                             fps=o.input.fps, timeout=o.input.stream_timeout, strict=o.input.strict)
        try:
            return self._track(item, frames, out_dir, detections, progress)
        finally:
            if hasattr(frames, "close"):
                frames.close()

    def _track(self, item: VideoItem, frames: Any, out_dir: Path, detections: Path | None,
               progress: Any) -> RunSummary:
        o = self.options
        table = None
        if detections is not None:
            from masa.io import check_frames, read_detections

            table = read_detections(detections, min_confidence=o.input.min_score)
            if frames.total_frames is not None:
                check_frames(table, frames.total_frames, detections)
        tracker = build_tracker(o.tracker, stream_fps(frames), index_fps=frames.fps)
        models = self.models
        writers: list[Any] = []
        if o.segment is not None:
            from masa_cli.segment_track import mask_writers, segmenter

            detect, names = segmenter(models["sam"], o, self.mode, table=table, detector=models["detector"])
            embedder, source = detect, frames
            names = parse_class_names(o.output.class_names, names)
            writers = mask_writers(frames, names, o.segment.png_ids)
        elif table is not None:
            detect, embedder, source = (lambda frame_idx, image: table.get(frame_idx)), models["embedder"], frames
            names = parse_class_names(o.output.class_names, table.class_names)
        else:
            from masa.detectors import DetectAhead

            source = DetectAhead(frames, models["detector"], batch_size=o.detector.batch_size)
            detect, embedder = source.detect, models["embedder"]
            names = parse_class_names(o.output.class_names, models["base"].class_names)
        with stop_on_interrupt(item.live) as stopped:
            summary = run_tracking(
                frames=source, detect=detect, embedder=embedder, tracker=tracker, out_dir=out_dir,
                class_names=names, tcc=o.output.tcc, video=o.output.video, trace_length=o.output.trace_length,
                quiet=o.output.quiet, synchronize=self.device.type == "cuda", extra_writers=writers,
                progress=progress, should_stop=stopped,
                refine=refine_config(o.tracker.refine, preset=o.tracker.preset, live=item.live),
                formats=o.output.format, save_frames=o.output.save_frames, prefetch=o.model.prefetch,
            )
        if frames.assumed_fps:
            summary.notes.append(f"{item.name}: no frame rate known (no seqinfo.ini), assumed {frames.fps:g} "
                                 "fps; pass --fps")
        summary.partial = getattr(frames, "ended_early", None)
        if stopped():
            summary.notes.append(f"{item.name}: stopped by Ctrl-C after {summary.frames} frames")
        return summary

    def final_notes(self) -> list[str]:
        """Warnings about the whole run (prompt phrases that never matched), once models ran."""
        base = self.__dict__.get("models", {}).get("base")
        unmatched = base.unmatched_phrases() if hasattr(base, "unmatched_phrases") else []
        return [f"no detections for {', '.join(map(repr, unmatched))} in any frame"] if unmatched else []
