"""Batch throughput: a folder of clips tracked in one process, then as Ray tasks on local workers.

Links the first `--frames` frames' worth of each shared clip (all 11 by default, FastestDet
`--classes person` + masa_lite, no overlay video) and runs the same batch as `masa track FOLDER`
does, in this process (`masa_cli.batch.run`): once sequentially, once with `--ray --workers N`
on a local cluster started beforehand (its start-up is timed apart). Prints wall time and clips/s
of each, the speed-up, and the scheduling overhead per video: Ray's wall time minus the ideal
(the sum of the videos' own seconds, from the manifest, divided by the workers), per video; it
counts task dispatch, each worker loading the models once, and workers waiting at the end.

    python benchmarks/batch.py [--clips 11] [--frames 60] [--workers 2] [--threads N]

`--threads` sets torch's threads for the sequential run (default: torch's own, one per core);
Ray gives each task one CPU and one thread.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MASA_OFFLINE", "1")

import typer  # noqa: E402

from masa_cli.batch import run  # noqa: E402
from masa_cli.options import DetectorName  # noqa: E402
from masa_cli.settings import (  # noqa: E402
    BatchOptions,
    DetectorOptions,
    InputOptions,
    OutputOptions,
    TrackOptions,
)


def _options(
    folder: Path, out: Path, frames: int, ray: str | None, workers: int | None
) -> TrackOptions:
    return TrackOptions(
        sources=(str(folder),),
        input=InputOptions(end=frames),
        detector=DetectorOptions(
            detector=DetectorName.fastestdet,
            classes="person",
            detector_weights=str(SHARED / "data" / "weights" / "fastestdet" / "FastestDet.onnx"),
        ),
        output=OutputOptions(out=out, video=False, quiet=True),
        batch=BatchOptions(ray=ray, workers=workers),
    )


def _timed(options: TrackOptions) -> tuple[float, list[dict]]:
    """(wall seconds, manifest records) of one batch run."""
    start = time.perf_counter()
    try:
        run(options)
    except typer.Exit as e:
        raise SystemExit(f"the batch failed (exit code {e.exit_code}); see {options.output.out}")
    wall = time.perf_counter() - start
    lines = (options.output.out / "manifest.jsonl").read_text().splitlines()
    return wall, [json.loads(line) for line in lines]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=11)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    import ray
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    videos = sorted((SHARED / "data" / "videos").glob("*.mp4"))[: args.clips]
    with tempfile.TemporaryDirectory(prefix="masa-batch-bench-") as tmp:
        folder = Path(tmp) / "clips"
        folder.mkdir()
        for video in videos:
            (folder / video.name).symlink_to(video.resolve())
        load = os.getloadavg()[0]
        seq_wall, seq = _timed(_options(folder, Path(tmp) / "seq", args.frames, None, None))
        start = time.perf_counter()
        ray.init(
            num_cpus=args.workers,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
        cluster_start = time.perf_counter() - start
        try:
            ray_wall, on_ray = _timed(
                _options(folder, Path(tmp) / "ray", args.frames, "local", args.workers)
            )
        finally:
            ray.shutdown()
        same = all(
            (Path(tmp) / "seq" / r["outputs"][0]).read_text()
            == (Path(tmp) / "ray" / r["outputs"][0]).read_text()
            for r in seq
        )
    n, frames = len(videos), sum(r["frames"] for r in seq)
    busy = sum(r["seconds"] for r in on_ray)
    print(
        f"{n} clips, {frames} frames (first {args.frames} of each), FastestDet person + masa_lite, "
        f"no video; load average {load:.1f} on {os.cpu_count()} CPUs; sequential torch threads "
        f"{torch.get_num_threads()}"
    )
    print("| run | wall s | clips/s | frames/s | sum of per-video s |\n|---|---|---|---|---|")
    for name, wall, records in (
        ("sequential", seq_wall, seq),
        (f"ray, {args.workers} workers", ray_wall, on_ray),
    ):
        print(
            f"| {name} | {wall:.1f} | {n / wall:.3f} | {frames / wall:.1f} | "
            f"{sum(r['seconds'] for r in records):.1f} |"
        )
    print(
        f"speed-up {seq_wall / ray_wall:.2f}x; Ray cluster start {cluster_start:.1f} s "
        "(not in the wall time); "
        f"scheduling overhead {(ray_wall - busy / args.workers) / n:.2f} s per video; "
        f"track files identical: {same}"
    )


if __name__ == "__main__":
    main()
