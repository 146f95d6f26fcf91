"""Option declarations shared by the tracking commands (Typer `Annotated` aliases)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

TRACKING = "Tracker"
INPUT = "Input"
OUTPUT = "Output"


class ComputeDtype(str, Enum):
    """Arithmetic of the appearance model (`masa.compute.autocast_dtype`)."""

    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


class TrackerPreset(str, Enum):
    """Tracker settings of the official configs (SPEC §4.2, §4.3)."""

    tao = "tao"  # the demo settings: low thresholds, distance gate
    tao_test = "tao-test"  # the TAO benchmark settings: every detection tracked, no gate
    bdd = "bdd"  # the BDD100K tracker: bi-softmax only, backdrops


Source = Annotated[Path, typer.Argument(help="Video file, image folder, or quoted glob ('dir/*.jpg').", show_default=False)]
Out = Annotated[Path, typer.Option("--out", "-o", help="Output folder.", rich_help_panel=OUTPUT)]
Start = Annotated[int, typer.Option(min=0, help="First frame (0-based).", rich_help_panel=INPUT)]
End = Annotated[Optional[int], typer.Option(min=1, help="Stop before this frame (0-based, exclusive).", rich_help_panel=INPUT)]
Stride = Annotated[int, typer.Option(min=1, help="Process every N-th frame.", rich_help_panel=INPUT)]
Device = Annotated[str, typer.Option(help="'auto', 'cpu', 'cuda' or 'cuda:N'.")]
Checkpoint = Annotated[
    Optional[str],
    typer.Option(
        help="Adapter weights: a file (masa .safetensors or official MASA .pth) or a known name: "
        "masa_lite (default, shipped with masa, offline) or masa_r50, gdino_masa, ... (official, "
        "downloaded to $MASA_HOME on first use).",
    ),
]
EmbedSize = Annotated[
    Optional[int],
    typer.Option(min=32, help="Side (keep ratio) frames are resized to for the appearance model; default: "
                 "the checkpoint's own (masa_lite: the size it was trained at). Smaller: more context per box.",
                 show_default=False),
]
Preset = Annotated[TrackerPreset, typer.Option("--tracker", help="Tracker and its preset thresholds.", rich_help_panel=TRACKING)]
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
