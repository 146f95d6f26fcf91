"""Peak memory of `masa track` on a 100-frame vs a 1000-frame input (goal: within 10%).

Runs the real command in a child process per length and reads the child's peak resident set
size from the kernel (`os.wait4`). The input is a real clip from ../shared/data/videos with
synthetic boxes (five moving boxes per frame), so memory reflects decoding, the adapter, the
tracker, the MOT/TAO writers and the H.264 overlay, not the detector. The command runs its default,
overlapped loop (prefetch queue and write-behind thread on); `--no-prefetch` measures the
sequential loop instead.

    python benchmarks/memory.py                       # tiny random adapter (fast on CPU)
    python benchmarks/memory.py --checkpoint masa_r50 --device cuda
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = REPO.parent / "shared" / "data" / "videos" / "one-by-one-person-detection.mp4"


def write_detections(path: Path, num_frames: int, width: int, height: int) -> None:
    """Five boxes per frame moving on smooth paths, MOTChallenge det layout (1-based frames)."""
    t = np.arange(num_frames)[:, None]
    k = np.arange(5)[None, :]
    x = (0.1 + 0.8 * (0.5 + 0.5 * np.sin(0.02 * t + k))) * (width - 80)
    y = (0.1 + 0.8 * (0.5 + 0.5 * np.cos(0.015 * t + 2 * k))) * (height - 160)
    with open(path, "w") as f:
        for frame in range(num_frames):
            for j in range(5):
                f.write(f"{frame + 1},-1,{x[frame, j]:.1f},{y[frame, j]:.1f},60,140,{0.9 - 0.1 * j:.2f},-1,-1,-1\n")


def tiny_checkpoint(path: Path) -> Path:
    from masa.adapter import AdapterConfig, build_masa_adapter
    from masa.weights import save_adapter

    config = AdapterConfig(
        backbone="resnet18", in_channels=(64, 128, 256, 512), channels=32, fusion_blocks=1, head_convs=1,
        head_conv_channels=32, head_fc_channels=64, embed_dim=32, resize=(320, 320),
    )
    return save_adapter(build_masa_adapter(config), path)


def peak_rss_mib(args: list[str]) -> tuple[float, float]:
    """Runs a command; returns (peak RSS in MiB, seconds)."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"command failed: {' '.join(args)}\n{proc.stderr.read().decode()}")
    return usage.ru_maxrss / 1024, seconds  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--checkpoint", default=None, help="adapter (default: a tiny random one)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--lengths", type=int, nargs=2, default=(100, 1000))
    parser.add_argument("--no-prefetch", action="store_true", help="measure the sequential loop")
    args = parser.parse_args()

    from masa.io import open_frames

    source = open_frames(args.video)
    if source.total_frames < max(args.lengths):
        raise SystemExit(f"{args.video} has {source.total_frames} frames, fewer than {max(args.lengths)}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        dets = tmp_dir / "dets.txt"
        write_detections(dets, source.total_frames, source.width, source.height)
        checkpoint = args.checkpoint or str(tiny_checkpoint(tmp_dir / "tiny.safetensors"))
        results = []
        for length in args.lengths:
            command = [sys.executable, "-m", "masa_cli", "track", str(args.video), "--detections", str(dets),
                       "--checkpoint", checkpoint, "--device", args.device, "--end", str(length),
                       "--out", str(tmp_dir / f"out{length}"), "--quiet",
                       "--no-prefetch" if args.no_prefetch else "--prefetch"]
            rss, seconds = peak_rss_mib(command)
            results.append((length, rss, seconds))
            print(f"{length:5d} frames: peak RSS {rss:8.1f} MiB, {seconds:6.1f} s ({length / seconds:.1f} frames/s)")
    (short, rss_short, _), (long, rss_long, _) = results
    growth = (rss_long - rss_short) / rss_short
    verdict = "within" if abs(growth) <= 0.10 else "NOT within"
    print(f"peak memory at {long} frames is {100 * growth:+.1f}% of {short} frames: {verdict} 10%")


if __name__ == "__main__":
    main()
