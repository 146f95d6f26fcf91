"""`masa tune`: search `--tracker masa` settings on your own labelled sequences."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from masa_cli import options as opt
from masa_cli.common import cli_errors
from masa_cli.outputs import check_output_file, write_text_atomic


def _load_sequence(folder: Path, detections_name: str, adapter, refine_fps: Optional[float]):
    """A MOTChallenge sequence folder -> `TuneSequence` with masa embeddings of every box."""
    import torch

    from masa.errors import InputError
    from masa.io import check_frames, open_frames, read_detections
    from masa.tracking.tune import TuneSequence

    if not (folder / "gt" / "gt.txt").is_file():
        raise InputError(f"{folder}: not a MOTChallenge sequence folder (no gt/gt.txt)")
    frames = open_frames(folder / "img1" if (folder / "img1").is_dir() else folder)
    table = read_detections(folder / detections_name)
    check_frames(table, frames.total_frames, folder / detections_name)
    sequence = TuneSequence(folder.name, folder, refine_fps or frames.fps)
    with torch.inference_mode():
        for frame in frames:
            dets = table.get(frame.frame_idx)
            embedding = (
                adapter.embed(frame.image, dets.xyxy).float().cpu()
                if len(dets)
                else torch.zeros(0, 1)
            )
            sequence.frames.append((frame.frame_idx, dets.replace(embedding=embedding)))
    return sequence


@cli_errors
def tune(
    sequences: Annotated[
        list[Path],
        typer.Argument(
            help="MOTChallenge sequence folders (img1/, gt/gt.txt and "
            "the detections file), one or more.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Where to write the best settings (JSON for --tracker-config)."
        ),
    ] = Path("tracker.json"),
    detections_name: Annotated[
        str, typer.Option(help="Detections file inside each sequence folder.")
    ] = "det/det.txt",
    metric: Annotated[
        str, typer.Option(help="What to maximise: HOTA, IDF1, AssA or MOTA.")
    ] = "HOTA",
    trials: Annotated[
        int,
        typer.Option(
            min=1,
            help="Settings tried (the first is the default or "
            "--tracker-config's). More: better settings, longer search.",
        ),
    ] = 40,
    seed: Annotated[int, typer.Option(help="Sampler seed (same seed, same search).")] = 0,
    tracker_config: Annotated[
        Optional[Path], typer.Option(help="Start from these settings.")
    ] = None,
    refine: Annotated[
        bool,
        typer.Option(
            "--refine/--no-refine",
            help="Score refined tracks (as files get) or online ones (as streams get).",
        ),
    ] = True,
    checkpoint: opt.Checkpoint = None,
    device: opt.Device = "auto",
    quiet: opt.Quiet = False,
) -> None:
    """Search tracker settings that score best on labelled sequences; writes them for --tracker-config."""
    from masa.errors import InputError
    from masa.pipeline import resolve_device
    from masa.tracking import MasaTrackerConfig, RefineConfig, read_tracker_config
    from masa.tracking.tune import METRICS, tune_tracker
    from masa.weights import load_adapter

    if metric.upper() not in METRICS:
        raise InputError(f"--metric must be one of {', '.join(METRICS)}, but got {metric!r}")
    check_output_file(out, "--out")
    base = read_tracker_config(tracker_config) if tracker_config else MasaTrackerConfig()
    adapter = load_adapter(checkpoint or "masa_lite", device=resolve_device(device))
    loaded = [_load_sequence(Path(s), detections_name, adapter, None) for s in sequences]

    def report(number: int, values: dict, score: float) -> None:
        if not quiet:
            typer.echo(f"trial {number}: {metric.upper()} {100 * score:.1f}", err=True)

    result = tune_tracker(
        loaded,
        metric=metric,
        trials=trials,
        seed=seed,
        base=base,
        refine=RefineConfig() if refine else None,
        on_trial=report,
    )
    text = json.dumps(
        {
            "tracker": result.config.to_dict(),
            "metric": result.metric,
            "score": round(result.score, 4),
            "sequences": [str(s) for s in sequences],
        },
        indent=2,
    )
    write_text_atomic(out, text + "\n")
    typer.echo(f"best {result.metric} {100 * result.score:.1f} with:")
    for key, value in result.config.to_dict().items():
        typer.echo(f"  {key} = {value}")
    typer.echo(f"wrote {out} (use it with --tracker masa --tracker-config {out})")
