"""`masa track`: identities for boxes from a file (any detector) or from a built-in detector."""

from __future__ import annotations

from masa_cli.batch import run
from masa_cli.command import tracking_command

track = tracking_command(
    run,
    doc="Track boxes from --detections (any detector) or --detector: writes NAME.txt "
    "(MOTChallenge), NAME.json (TAO) and NAME.mp4 (overlay) for one video into OUT, or into "
    "OUT/<name>/ for each of many videos (with OUT/manifest.jsonl; a rerun skips what is done).",
    defaults={"checkpoint": "masa_lite"},
)
