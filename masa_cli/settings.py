"""Every option of the tracking commands, in groups: one dataclass field per command-line option.

`masa_cli.command.tracking_command` turns `TrackOptions` into the Typer signature of `masa track`,
`masa detect-track` and `masa segment-track` (the groups are flattened, field names are the
parameter names), so adding an option is one field here with its `Annotated` alias from
`masa_cli.options`; the code that uses it reads it from the options object. Only typer is
imported here, so `--help` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from masa_cli import options as opt

__all__ = [
    "BatchOptions", "DetectorOptions", "InputOptions", "ModelOptions", "OutputOptions", "SegmentOptions",
    "TrackOptions", "TrackerSettings",
]


@dataclass(frozen=True)
class InputOptions:
    """Which frames are read, and boxes from a file."""

    detections: opt.Detections = None
    min_score: opt.MinScore = None
    start: opt.Start = 0
    end: opt.End = None
    stride: opt.Stride = 1
    fps: opt.Fps = None
    stream_timeout: opt.StreamTimeout = 10.0
    strict: opt.Strict = False


@dataclass(frozen=True)
class DetectorOptions:
    """A built-in detector and its settings."""

    detector: opt.Detector = None
    prompt: opt.Prompt = None
    model: opt.Model = None
    detector_weights: opt.DetectorWeights = None
    classes: opt.Classes = None
    score_threshold: opt.ScoreThreshold = None
    text_threshold: opt.TextThreshold = None
    nms_iou_threshold: opt.NmsIou = None
    batch_size: opt.BatchSize = 4
    precision: opt.PrecisionOption = opt.Precision.auto
    input_size: opt.InputSize = None


@dataclass(frozen=True)
class ModelOptions:
    """The appearance model and where it runs."""

    checkpoint: opt.Checkpoint = None
    embed_size: opt.EmbedSize = None
    device: opt.Device = "auto"
    threads: opt.Threads = None
    dtype: opt.Dtype = opt.ComputeDtype.fp32
    prefetch: opt.Prefetch = True


@dataclass(frozen=True)
class TrackerSettings:
    """Tracker options as given on the command line; None keeps the preset's value."""

    preset: opt.Preset = opt.TrackerPreset.masa
    init_score_threshold: opt.InitScore = None
    obj_score_threshold: opt.ObjScore = None
    match_score_threshold: opt.MatchScore = None
    memory_frames: opt.MemoryFrames = None
    memory_seconds: opt.MemorySeconds = None
    new_embed_weight: opt.NewEmbedWeight = None
    max_distance: opt.MaxDistance = None
    distractor_score_threshold: opt.DistractorScore = None
    distractor_iou_threshold: opt.DistractorIou = None
    tracker_config: opt.TrackerConfigFile = None
    refine: opt.Refine = None
    high_score_threshold: opt.HighScore = None
    min_hits: opt.MinHits = None
    low_match_iou: opt.LowMatchIou = None
    motion_memory: opt.MotionMemory = None
    appearance_weight: opt.AppearanceWeight = None
    reid_threshold: opt.ReidThreshold = None
    center_sigma: opt.CenterSigma = None
    max_speed: opt.MaxSpeed = None
    camera_motion: opt.CameraMotion = None


@dataclass(frozen=True)
class OutputOptions:
    """Where results go and what is written."""

    out: opt.Out = Path("masa_out")
    format: opt.Formats = opt.DEFAULT_FORMATS
    save_frames: opt.SaveFrames = False
    class_names: opt.ClassNames = None
    tcc: opt.Tcc = True
    video: opt.Video = True
    trace_length: opt.TraceLength = 30
    quiet: opt.Quiet = False


@dataclass(frozen=True)
class SegmentOptions:
    """SAM masks (segment-track only)."""

    sam: opt.SamWeights = None
    mode: opt.Mode = None
    max_objects: opt.MaxObjects = None
    points_per_side: opt.PointsPerSide = 32
    pred_iou_threshold: opt.PredIouThreshold = 0.88
    stability_score_threshold: opt.StabilityThreshold = 0.95
    remove_overlaps: opt.RemoveOverlaps = True
    png_ids: opt.PngIds = False


@dataclass(frozen=True)
class BatchOptions:
    """Many videos per run: resuming, and Ray."""

    overwrite: opt.Overwrite = False
    ray: opt.Ray = None
    workers: opt.Workers = None
    cpus_per_task: opt.CpusPerTask = 1.0
    gpus_per_task: opt.GpusPerTask = None


@dataclass(frozen=True)
class TrackOptions:
    """All options of one tracking run. Frozen and hashable: Ray ships it to every task.

    Attributes:
        sources: the SOURCE arguments as given.
        segment: SAM options for segment-track; None for track and detect-track.
    """

    sources: opt.Sources
    input: InputOptions = field(default_factory=InputOptions)
    detector: DetectorOptions = field(default_factory=DetectorOptions)
    model: ModelOptions = field(default_factory=ModelOptions)
    tracker: TrackerSettings = field(default_factory=TrackerSettings)
    output: OutputOptions = field(default_factory=OutputOptions)
    segment: Optional[SegmentOptions] = None
    batch: BatchOptions = field(default_factory=BatchOptions)
