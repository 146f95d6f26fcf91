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
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")]


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
