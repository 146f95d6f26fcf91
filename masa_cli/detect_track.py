"""`masa detect-track`: `masa track` with a built-in detector (FastestDet unless --detector)."""

from __future__ import annotations

from masa_cli.batch import run
from masa_cli.command import tracking_command
from masa_cli.options import DetectorName

detect_track = tracking_command(
    run,
    doc="Detect and track: `masa track` with --detector fastestdet by default (or grounding-dino "
    "--prompt, or a torchvision detector). Writes NAME.txt (MOT), NAME.json (TAO) and NAME.mp4.",
    defaults={"checkpoint": "masa_lite", "detector": DetectorName.fastestdet},
)
