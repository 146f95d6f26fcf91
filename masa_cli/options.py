"""Option declarations shared by the tracking commands (Typer `Annotated` aliases)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from masa_cli.export_formats import DEFAULT_FORMATS, formats_help

TRACKING = "Tracker"
INPUT = "Input"
OUTPUT = "Output"
DETECTOR = "Detector"
SEGMENT = "Segmentation"
BATCH = "Batch and Ray"


class ComputeDtype(str, Enum):
    """Arithmetic of the appearance model (`masa.compute.autocast_dtype`)."""

    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


class TrackerPreset(str, Enum):
    """`masa`: Kalman motion fused with MASA appearance (the default); the others: the official
    MASA trackers with their configs' settings (SPEC §4.2, §4.3)."""

    masa = "masa"  # motion + appearance in stages, tentative tracks, re-identification, refinement
    tao = "tao"  # the demo settings: low thresholds, distance gate
    tao_test = "tao-test"  # the TAO benchmark settings: every detection tracked, no gate
    bdd = "bdd"  # the BDD100K tracker: bi-softmax only, backdrops


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


class BoxMode(str, Enum):
    """Where the boxes that prompt SAM come from (segment-track)."""

    head = "head"  # MASA's detection head on the adapter's features
    boxes = "boxes"  # a detections file or a detector
    everything = "everything"  # SAM's automatic mask generator


Sources = Annotated[
    list[str],
    typer.Argument(metavar="SOURCE...", help="What to track, one or more: a video file, an image folder, a quoted glob ('dir/*.jpg', "
                   "'clips/*.mp4'), a folder of videos (searched recursively), a text file listing videos, a "
                   "webcam index (0) or a stream URL (rtsp://, http(s)://).", show_default=False),
]
Out = Annotated[
    Path,
    typer.Option("--out", "-o", help="Output folder. With several videos: OUT/<video name>/ each, and "
                 "OUT/manifest.jsonl, which lets a rerun skip the videos already done.", rich_help_panel=OUTPUT),
]
Start = Annotated[int, typer.Option(min=0, help="First frame (0-based).", rich_help_panel=INPUT)]
End = Annotated[Optional[int], typer.Option(min=1, help="Stop before this frame (0-based, exclusive).", rich_help_panel=INPUT)]
Stride = Annotated[int, typer.Option(min=1, help="Process every N-th frame.", rich_help_panel=INPUT)]
Strict = Annotated[
    bool,
    typer.Option("--strict", help="Stop at the first frame that cannot be decoded (a corrupt image, "
                 "a damaged or truncated video). Default: skip it with a warning; it gets no rows "
                 "and the tracker never sees it.", rich_help_panel=INPUT),
]
Device = Annotated[str, typer.Option(help="'auto', 'cpu', 'cuda' or 'cuda:N'.")]
Checkpoint = Annotated[
    Optional[str],
    typer.Option(
        help="Adapter weights: a file (masa .safetensors or official MASA .pth) or a known name: "
        "masa_lite (shipped with masa, offline) or masa_r50, gdino_masa, ... (official, downloaded to "
        "$MASA_HOME on first use); segment-track: SAM-MASA weights (adapter, detection head and SAM), "
        "a file, sam_vitb_masa or sam_vith_masa.",
    ),
]
EmbedSize = Annotated[
    Optional[int],
    typer.Option(min=32, help="Side (keep ratio) frames are resized to for the appearance model; default: "
                 "the checkpoint's own (masa_lite: the size it was trained at). Smaller: more context per box.",
                 show_default=False),
]
Preset = Annotated[
    TrackerPreset,
    typer.Option("--tracker", help="masa: Kalman motion + MASA appearance (best identities); tao, tao-test, bdd: "
                 "the official MASA trackers (appearance only), exactly as published.", rich_help_panel=TRACKING),
]
InitScore = Annotated[
    Optional[float],
    typer.Option(help="Unmatched detections start a track only above this score. Higher: fewer false tracks, "
                 "faint objects missed.", rich_help_panel=TRACKING),
]
ObjScore = Annotated[
    Optional[float],
    typer.Option(help="A detection must score above this to continue a track. Higher: weak boxes cannot steal ids, "
                 "but tracks break in low-score frames.", rich_help_panel=TRACKING),
]
MatchScore = Annotated[
    Optional[float],
    typer.Option(help="Minimum appearance match score. Higher: fewer id switches, more fragmented tracks.",
                 rich_help_panel=TRACKING),
]
MemoryFrames = Annotated[
    Optional[int],
    typer.Option(min=1, help="Frames a lost track is remembered. Longer: re-identifies after longer occlusions, "
                 "more stale candidates.", rich_help_panel=TRACKING),
]
MemorySeconds = Annotated[
    Optional[float],
    typer.Option(min=0, help="The same memory in seconds of video (converted with the video's frame rate).",
                 rich_help_panel=TRACKING),
]
NewEmbedWeight = Annotated[
    Optional[float],
    typer.Option(min=0, max=1, help="Weight of the newest embedding in a track's memory. Higher: adapts faster, "
                 "drifts more after a bad match.", rich_help_panel=TRACKING),
]
MaxDistance = Annotated[
    Optional[float],
    typer.Option(help="Distance gate radius in pixels (TAO tracker); 0 disables it. Smaller: no long jumps, "
                 "but fast motion breaks tracks.", rich_help_panel=TRACKING),
]
DistractorScore = Annotated[
    Optional[float],
    typer.Option(help="Boxes below this score are dropped when they overlap a stronger box (TAO tracker).",
                 rich_help_panel=TRACKING),
]
DistractorIou = Annotated[
    Optional[float],
    typer.Option(help="IoU above which such a low-score box counts as a distractor (TAO tracker).",
                 rich_help_panel=TRACKING),
]
Tcc = Annotated[
    bool,
    typer.Option("--tcc/--no-tcc", help="Temporal class consistency: each track keeps its most frequent class "
                 "in the TAO JSON.", rich_help_panel=OUTPUT),
]
Video = Annotated[bool, typer.Option("--video/--no-video", help="Write the H.264 overlay video.", rich_help_panel=OUTPUT)]
TraceLength = Annotated[int, typer.Option(min=0, help="Frames of trace drawn behind each track.", rich_help_panel=OUTPUT)]
ClassNames = Annotated[
    Optional[str],
    typer.Option(help="Names for class ids, e.g. '1=disc,2=square' (overrides names from the detections file).",
                 rich_help_panel=OUTPUT),
]
Threads = Annotated[
    Optional[int],
    typer.Option(min=1, help="CPU threads for torch, OpenCV and onnxruntime (default: theirs, one per core). "
                 "On a busy machine fewer threads than cores avoid oversubscription.", show_default=False),
]
Dtype = Annotated[
    ComputeDtype,
    typer.Option(help="Appearance-model arithmetic: fp32 (exact) or bf16/fp16 autocast (faster on GPUs and on "
                 "CPUs with AMX/AVX512-BF16; embeddings move by about 1-4% relative, see benchmarks/speed.py)."),
]
Prefetch = Annotated[
    bool,
    typer.Option("--prefetch/--no-prefetch", help="Read and detect frames in a background thread and embed "
                 "several frames per adapter call; --no-prefetch runs the sequential loop."),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")]

# Input: where boxes come from besides a detector, and frame rates.
Detections = Annotated[
    Optional[Path],
    typer.Option("--detections", "-d", help="Boxes from any detector: MOTChallenge txt (det.txt / gt.txt layout) "
                 "or COCO/TAO results JSON; for several videos a folder with one file per video, NAME.txt, "
                 "NAME.json or NAME/det/det.txt.", show_default=False, rich_help_panel=INPUT),
]
MinScore = Annotated[
    Optional[float], typer.Option(help="Ignore --detections boxes scoring below this.", rich_help_panel=INPUT)
]
Fps = Annotated[
    Optional[float],
    typer.Option(help="Frame rate of the source, overriding its own; image folders without "
                 "seqinfo.ini otherwise assume 30 (with a warning).", show_default=False, rich_help_panel=INPUT),
]
StreamTimeout = Annotated[
    float,
    typer.Option(min=0.1, help="Streams: seconds to wait for a connection or for data before "
                 "giving up.", rich_help_panel=INPUT),
]

# Detector: boxes from a built-in detector.
Detector = Annotated[
    Optional[DetectorName],
    typer.Option(help="Detector to run instead of reading --detections.", show_default=False,
                 rich_help_panel=DETECTOR),
]
Prompt = Annotated[
    Optional[str],
    typer.Option("--prompt", "-p", help="Grounding DINO: phrases to find, separated by '.', e.g. 'car . person'. "
                 "Each phrase is a class. Without --detector it selects grounding-dino.", rich_help_panel=DETECTOR),
]
Model = Annotated[
    Optional[str],
    typer.Option(help="Grounding DINO: Hugging Face model id or local folder (default: "
                 "IDEA-Research/grounding-dino-tiny).", rich_help_panel=DETECTOR),
]
DetectorWeights = Annotated[
    Optional[str],
    typer.Option(help="Where the detector's weights come from, overriding the default: a file (FastestDet .onnx, "
                 "torchvision state dict), a folder (FastestDet, transformers model), or a known name "
                 "(fastestdet; torchvision DEFAULT/COCO_V1; a Hugging Face id).", rich_help_panel=DETECTOR),
]
Classes = Annotated[
    Optional[str],
    typer.Option(help="Keep only these classes, by name or id: 'person,car'.", rich_help_panel=DETECTOR),
]
ScoreThreshold = Annotated[
    Optional[float],
    typer.Option(min=0, max=1, help="Detection score threshold (default: 0.5; Grounding DINO box threshold: 0.35; "
                 "segment-track's detection head: 0.02). Higher: fewer, surer objects.", rich_help_panel=DETECTOR),
]
TextThreshold = Annotated[
    Optional[float],
    typer.Option(min=0, max=1, help="Grounding DINO: a box's phrase must score above this (default: 0.25).",
                 rich_help_panel=DETECTOR),
]
NmsIou = Annotated[
    Optional[float],
    typer.Option("--nms-iou", min=0, max=1, help="Class-agnostic NMS IoU across all classes (off by default).",
                 rich_help_panel=DETECTOR),
]
BatchSize = Annotated[int, typer.Option(min=1, help="Frames per detector call.", rich_help_panel=DETECTOR)]
PrecisionOption = Annotated[
    Precision,
    typer.Option("--precision", help="Grounding DINO on CUDA: autocast dtype (auto = bf16 where supported).",
                 rich_help_panel=DETECTOR),
]
InputSize = Annotated[
    Optional[int],
    typer.Option(min=64, help="Grounding DINO: short side of the network input (default: 800, long side up to "
                 "1333).", rich_help_panel=DETECTOR),
]

# Segmentation (segment-track only).
SamWeights = Annotated[
    Optional[str],
    typer.Option("--sam", help="SAM weights to use instead of the checkpoint's: a SAM .pth, sam_vit_b or "
                 "sam_vit_h.", rich_help_panel=SEGMENT),
]
Mode = Annotated[
    Optional[BoxMode],
    typer.Option("--mode", help="Box source: MASA's detection head, --detections / --detector boxes, or SAM's "
                 "automatic mask generator. Default: boxes with --detections or --detector, else head.",
                 rich_help_panel=SEGMENT, show_default=False),
]
MaxObjects = Annotated[
    Optional[int],
    typer.Option("--max-objects", min=1, help="Most masks per frame, best first (head: 50; everything: all).",
                 rich_help_panel=SEGMENT, show_default=False),
]
PointsPerSide = Annotated[
    int, typer.Option("--points-per-side", min=1, help="Everything mode: point grid side.", rich_help_panel=SEGMENT)
]
PredIouThreshold = Annotated[
    float,
    typer.Option("--pred-iou-threshold", help="Everything mode: drop masks whose predicted IoU is below this.",
                 rich_help_panel=SEGMENT),
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
                 "0 = background) to NAME_ids/.", rich_help_panel=OUTPUT),
]

# Batches: resuming and Ray.
Overwrite = Annotated[
    bool,
    typer.Option("--overwrite", help="Several videos: redo the videos OUT/manifest.jsonl records as done.",
                 rich_help_panel=BATCH),
]
Ray = Annotated[
    Optional[str],
    typer.Option("--ray", metavar="[ADDRESS]", help="Run the videos as Ray tasks, one per video: bare --ray starts "
                 "a local cluster; --ray ADDRESS (host:port, ray://host:port or auto) joins one. Needs "
                 "masa-track[ray].", show_default=False, rich_help_panel=BATCH),
]
Workers = Annotated[
    Optional[int],
    typer.Option(min=1, help="Local Ray cluster: videos tracked at once (default: CPU count / --cpus-per-task).",
                 show_default=False, rich_help_panel=BATCH),
]
CpusPerTask = Annotated[float, typer.Option(min=0, help="Ray: CPUs each video's task asks for.", rich_help_panel=BATCH)]
GpusPerTask = Annotated[
    Optional[float],
    typer.Option(min=0, help="Ray: GPUs each video's task asks for, fractions allowed (default: 1 when the run "
                 "uses CUDA, else 0).", show_default=False, rich_help_panel=BATCH),
]

# MasaTracker (--tracker masa) only; each maps to a MasaTrackerConfig field (masa/tracking/config.py).
TrackerConfigFile = Annotated[
    Optional[Path],
    typer.Option(help="--tracker masa settings from a JSON file (what `masa tune` writes); options given on the "
                 "command line override it.", show_default=False, rich_help_panel=TRACKING),
]
Refine = Annotated[
    Optional[bool],
    typer.Option("--refine/--no-refine", help="--tracker masa: after the pass, link tracklets of one object, fill "
                 "short gaps, write back the first boxes of tracks and rewrite the outputs. Default: on for files "
                 "and folders, off for live streams.", show_default=False, rich_help_panel=TRACKING),
]
HighScore = Annotated[
    Optional[float],
    typer.Option(min=0, max=1, help="--tracker masa: detections at or above this are matched first (default 0.5); "
                 "weaker ones only continue tracks they overlap. Higher: only sure boxes steer tracks.",
                 show_default=False, rich_help_panel=TRACKING),
]
MinHits = Annotated[
    Optional[int],
    typer.Option(min=1, help="--tracker masa: detections in consecutive frames before a track gets an id "
                 "(default 2). Higher: fewer ids for flickering false positives, later starts.",
                 show_default=False, rich_help_panel=TRACKING),
]
LowMatchIou = Annotated[
    Optional[float],
    typer.Option(min=0, max=1, help="--tracker masa: IoU a weak detection needs with a track's predicted box to "
                 "continue it (default 0.5). Higher: weak boxes rarely steal tracks, occlusions break more.",
                 show_default=False, rich_help_panel=TRACKING),
]
MotionMemory = Annotated[
    Optional[float],
    typer.Option(min=0, help="--tracker masa: seconds a lost track is still matched by its predicted motion "
                 "(default 1). Longer: bridges longer occlusions, drifting predictions catch newcomers.",
                 show_default=False, rich_help_panel=TRACKING),
]
AppearanceWeight = Annotated[
    Optional[float],
    typer.Option(min=0, max=1, help="--tracker masa: weight of appearance against motion when appearance proves "
                 "reliable in the scene (default 0.5; scaled down when it is not). 0: motion only.",
                 show_default=False, rich_help_panel=TRACKING),
]
ReidThreshold = Annotated[
    Optional[float],
    typer.Option(min=0, max=1, help="--tracker masa: how alike (0-1, 1 = as alike as a typical same-object pair in "
                 "this scene) a newcomer must be to take a lost track's id (default 0.7). Higher: fewer false "
                 "re-identifications, more new ids.", show_default=False, rich_help_panel=TRACKING),
]
CenterSigma = Annotated[
    Optional[float],
    typer.Option(min=0, help="--tracker masa: allowed jump between frames, in box sizes, for boxes that do not "
                 "overlap (small, fast objects; default 0.5). Higher: tolerates faster motion, confuses "
                 "neighbours more.", show_default=False, rich_help_panel=TRACKING),
]
MaxSpeed = Annotated[
    Optional[float],
    typer.Option(min=0, help="--tracker masa: fastest assumed motion, in box sizes per second, bounding where a "
                 "lost track may re-appear (default 3). Higher: re-identifies fast movers, admits far look-alikes.",
                 show_default=False, rich_help_panel=TRACKING),
]
CameraMotion = Annotated[
    Optional[bool],
    typer.Option("--camera-motion/--no-camera-motion", help="--tracker masa: compensate camera motion with sparse "
                 "optical flow (moving or shaking cameras; a few ms per frame). Default: off.",
                 show_default=False, rich_help_panel=TRACKING),
]


def _check_formats(value: str) -> str:
    """Rejects an unknown `--format` name while parsing, before any model loads."""
    from masa.errors import InputError
    from masa_cli.common import fail
    from masa_cli.export_formats import parse_formats

    try:
        parse_formats(value)
    except InputError as e:
        raise fail(str(e)) from None
    return value


Formats = Annotated[
    str,
    typer.Option("--format", help=formats_help(), callback=_check_formats, rich_help_panel=OUTPUT),
]
SaveFrames = Annotated[
    bool,
    typer.Option("--save-frames", help="With --format yolo: also write each frame as a JPEG into "
                 "the dataset.", rich_help_panel=OUTPUT),
]
