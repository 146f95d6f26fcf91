"""Rows of `MasaTracker` (`--tracker masa`) for benchmarks/association.py: the default with each
appearance source, an ablation of its design choices, and a held-out check on two more
MOTChallenge sequences (TUD-Campus, TUD-Stadtmitte: Faster R-CNN boxes and ground truth, no
frames, so motion only) where nothing was tuned.

Each ablation row changes one thing against `masa+lite` (the default with masa-lite):
- `online`: no offline refinement (what a live stream gets);
- `no-link` / `no-interp`: refinement without tracklet linking / without gap interpolation;
- `no-low`: no second stage for low-score boxes (ByteTrack's idea);
- `no-reid`: lost tracks are not re-identified by appearance after the motion memory;
- `fixed-weight`: appearance weighted by `appearance_weight` whatever its measured reliability;
- `min-hits-1`: tracks get an id on their first detection.
"""

from __future__ import annotations

import configparser
import dataclasses
import tempfile
from pathlib import Path
from typing import Any, Callable

from masa.tracking import MasaTracker, MasaTrackerConfig, RefineConfig

REPO = Path(__file__).resolve().parents[1]
HELD_OUT = REPO.parent / "shared" / "data" / "mot" / "gt_only_2dmot2015"

ABLATIONS: dict[str, tuple[dict[str, Any], RefineConfig | None]] = {
    "online": ({}, None),
    "no-link": ({}, RefineConfig(link_threshold=1.01)),
    "no-interp": ({}, RefineConfig(interpolate_gap=0.0)),
    "no-low": ({"low_score_threshold": 0.5}, RefineConfig()),
    "no-reid": ({"reid_memory": 0.0}, RefineConfig()),
    "fixed-weight": ({"_fixed_weight": True}, RefineConfig()),
    "min-hits-1": ({"min_hits": 1}, RefineConfig()),
}


class FixedWeightTracker(MasaTracker):
    """`MasaTracker` with appearance weighted by `appearance_weight` whatever its reliability."""

    def _appearance_weight(self) -> float:
        return self.config.appearance_weight


def masa_tracker(fps: float, **changes: Any) -> MasaTracker:
    fixed = changes.pop("_fixed_weight", False)
    config = dataclasses.replace(MasaTrackerConfig(), **changes)
    return (FixedWeightTracker if fixed else MasaTracker)(config, fps=fps)


def masa_rows(
    fps: float, embedders: dict[str, Callable[[], Any]]
) -> dict[str, Callable[[], tuple[Any, Any, Any]]]:
    """`name -> build() -> (embedder, tracker, refine config)`: the default tracker with each
    appearance source (`embedders`: lite, raw, motion, oracle), then the ablations with lite."""
    rows: dict[str, Callable[[], tuple[Any, Any, Any]]] = {}
    for source, embedder in embedders.items():
        rows[f"masa+{source}"] = lambda e=embedder: (e(), masa_tracker(fps), RefineConfig())
    for name, (changes, refine) in ABLATIONS.items():
        rows[f"masa+lite {name}"] = lambda c=changes, r=refine: (
            embedders["lite"](),
            masa_tracker(fps, **c),
            r,
        )
    return rows


def held_out_rows(
    trackers: dict[str, Callable[[float], Any]], metrics: tuple[str, ...]
) -> list[str]:
    """Markdown rows: each tracker (motion only: `name -> build(fps)`, with its refinement as
    `tracker.refine` if any) on the held-out sequences' own detections."""
    from masa.eval import evaluate
    from masa.io import MotTxtWriter, read_mot_detections
    from masa.structures import Detections
    from masa.tracking.replay import refined_frames

    lines = []
    for seq in ("TUD-Campus", "TUD-Stadtmitte"):
        folder = HELD_OUT / seq
        ini = configparser.ConfigParser()
        ini.read(folder / "seqinfo.ini")
        fps = float(ini["Sequence"].get("frameRate", 25))  # MOT15 TUD sequences are 25 fps
        length = int(ini["Sequence"]["seqLength"])
        table = read_mot_detections(HELD_OUT / "sort_frcnn_dets" / seq / "det.txt")
        for name, build in trackers.items():
            tracker = build(fps)
            tracker.reset()
            online = []
            for f in range(length):
                d = table.get(f)
                online.append((f, tracker.update(Detections(d.xyxy, d.confidence, d.class_id), f)))
            refine = getattr(tracker, "refine", None)
            results = online
            if refine is not None:
                gap = round(refine.interpolate_gap * fps)
                results = list(
                    refined_frames(online, tracker.refinement_plan(refine), interpolate_frames=gap)
                )
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"{seq}.txt"
                with MotTxtWriter(path) as writer:
                    for frame_idx, dets in results:
                        writer.write(frame_idx, dets)
                scores = evaluate(
                    folder, path, format="mot", metrics=("hota", "clear", "identity")
                ).combined
            cells = [
                f"{100 * scores[k]:.1f}" if k != "IDSW" else f"{int(scores[k])}" for k in metrics
            ]
            lines.append(f"| {seq} | {name} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    return lines
