"""CPU speed: the official MASA-R50 against a plain ResNet-50, and `masa track` old loop vs new.

Part 1 (adapter): one PETS09-S2L1 frame (768x576; MASA's preprocessing gives 1024x768) with its
det.txt boxes. Timed in interleaved rounds, in this process, on the same weights:
  - torchvision ResNet-50 forward at 1024x768 (fp32, NCHW, inference mode): the yardstick;
  - MASA-R50 embedding (preprocessing, backbone, FPN, DeformFusion, RoI head) in fp32 (exact);
  - the same under bf16 autocast (`--dtype bf16`), with its embedding error against fp32;
  - once, MASA-R50 with torchvision's CPU `deform_conv2d` in place of masa.adapter.deform (the
    rest as now: level pruning and channels-last maps stay on).
Weights: the official MASA-R50 layout filled by ../shared/parity/make_checkpoint.py (seeded random
weights whose offsets are a few pixels, like trained ones); without ../shared, random weights.

Part 2 (pipeline): the whole `masa track` command (masa-lite, PETS09-S2L1 img1 + det/det.txt, MOT,
TAO and H.264 outputs), each run a fresh process timed from start to exit, `--no-prefetch` (the
sequential loop) and `--prefetch` (the overlapped loop) alternating.

    python benchmarks/speed.py                      # both parts, 3 rounds each
    python benchmarks/speed.py --threads 1 --rounds 5
    python benchmarks/speed.py --skip-pipeline --profile   # + torch.profiler tables of the neck
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"
PETS = SHARED / "data" / "mot" / "PETS09-S2L1"

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def build_r50() -> tuple[Any, str]:
    """MASA-R50 with the parity fixture's weights when ../shared is there, else random weights."""
    from masa.adapter import build_masa_adapter_r50
    from masa.weights import convert_official_masa_checkpoint

    adapter = build_masa_adapter_r50()
    parity = SHARED / "parity"
    if not (parity / "make_checkpoint.py").is_file():
        return adapter, "random weights (offset convs zero: zero offsets)"
    spec = importlib.util.spec_from_file_location("make_checkpoint", parity / "make_checkpoint.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    state = make.fill(json.loads((parity / "r50_masa.manifest.json").read_text()))
    adapter.load_state_dict(convert_official_masa_checkpoint(state)[0], strict=True)
    return adapter, "official layout, seeded random weights (../shared/parity)"


def pets_frame() -> tuple[np.ndarray, np.ndarray]:
    """Frame 1 of PETS09-S2L1 (RGB) and its det.txt boxes (xyxy)."""
    image = cv2.cvtColor(cv2.imread(str(PETS / "img1" / "000001.jpg")), cv2.COLOR_BGR2RGB)
    rows = np.loadtxt(PETS / "det" / "det.txt", delimiter=",")
    rows = rows[rows[:, 0] == 1]
    return image, np.concatenate([rows[:, 2:4], rows[:, 2:4] + rows[:, 4:6]], 1).astype(np.float32)


def _seconds(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall-clock, process CPU) seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _flops(fn: Callable[[], Any]) -> float:
    """GFLOP of one call (convolutions and matrix products, torch.utils.flop_counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def adapter_part(rounds: int, old_dcn: bool, profile: bool) -> dict[str, Any]:
    import torchvision

    import masa.adapter.fusion as fusion
    from masa.adapter import deform

    adapter, weights = build_r50()
    resnet = torchvision.models.resnet50().eval()
    image, boxes = pets_frame()
    x = torch.randn(1, 3, 768, 1024)

    def embed(dtype: torch.dtype | None) -> torch.Tensor:
        adapter.autocast_dtype = dtype
        return adapter.embed(image, boxes)

    runs: dict[str, Callable[[], Any]] = {
        "ResNet-50 fp32": lambda: resnet(x),
        "MASA-R50 fp32": lambda: embed(None),
        "MASA-R50 bf16": lambda: embed(torch.bfloat16),
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    with torch.inference_mode():
        flops = {
            "ResNet-50": _flops(runs["ResNet-50 fp32"]),
            "MASA-R50": _flops(runs["MASA-R50 fp32"]),
        }
        for fn in runs.values():  # warm-up: allocator, oneDNN kernels, AMX state
            fn()
        for r in range(rounds):
            for name, fn in runs.items():
                times[name].append(_seconds(fn))
            print(
                f"  round {r + 1}: " + ", ".join(f"{n} {t[-1][0]:.2f} s" for n, t in times.items()),
                file=sys.stderr,
            )
        exact, approximate = embed(None), embed(torch.bfloat16)
        if old_dcn:
            fusion.deform_conv2d = torchvision.ops.deform_conv2d
            adapter.autocast_dtype = None
            times["MASA-R50 fp32, torchvision DCN, rest new"] = [
                _seconds(lambda: adapter.embed(image, boxes))
            ]
            old = adapter.embed(image, boxes)
            fusion.deform_conv2d = deform.deform_conv2d
        if profile:
            _profile(adapter, image, boxes)
    result = {"weights": weights, "boxes": len(boxes), "seconds": times, "gflop": flops}
    relative = (approximate - exact).norm(dim=1) / exact.norm(dim=1)
    cosine = torch.nn.functional.cosine_similarity(approximate, exact)
    result["bf16_error"] = {
        "max_relative": float(relative.max()),
        "median_relative": float(relative.median()),
        "min_cosine": float(cosine.min()),
    }
    if old_dcn:
        result["old_vs_new_max_relative"] = float(
            ((old - exact).norm(dim=1) / exact.norm(dim=1)).max()
        )
    return result


def _profile(adapter: Any, image: np.ndarray, boxes: np.ndarray) -> None:
    """torch.profiler tables (self CPU time) of one fp32 embedding, new and torchvision DCN."""
    import torchvision
    from torch.profiler import ProfilerActivity, profile

    import masa.adapter.fusion as fusion
    from masa.adapter import deform

    for name, conv in (
        ("masa.adapter.deform", deform.deform_conv2d),
        ("torchvision.ops.deform_conv2d", torchvision.ops.deform_conv2d),
    ):
        fusion.deform_conv2d = conv
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            adapter.embed(image, boxes)
        print(f"\nprofile of one MASA-R50 fp32 embedding with {name}:")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
    fusion.deform_conv2d = deform.deform_conv2d


def track_command(prefetch: bool, threads: int | None, out: Path) -> float:
    """Seconds of one whole `masa track` process on PETS09-S2L1 (masa-lite, all outputs)."""
    command = [
        sys.executable,
        "-m",
        "masa_cli",
        "track",
        str(PETS / "img1"),
        "--detections",
        str(PETS / "det" / "det.txt"),
        "--out",
        str(out),
        "--quiet",
        "--prefetch" if prefetch else "--no-prefetch",
    ]
    if threads:
        command += ["--threads", str(threads)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "MASA_OFFLINE": "1"}
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, cwd=REPO)
    return time.perf_counter() - start


def import_seconds() -> float:
    """Seconds of a fresh process that only imports torch and torchvision: the part of every
    command's start-up that no loop can overlap."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, torchvision"], check=True)
    return time.perf_counter() - start


def pipeline_part(rounds: int, threads: int | None) -> dict[str, Any]:
    frames = len(list((PETS / "img1").glob("*.jpg")))
    imports = [import_seconds() for _ in range(rounds)]
    seconds: dict[str, list[float]] = {
        "sequential (--no-prefetch)": [],
        "overlapped (--prefetch)": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for name, prefetch in (
                ("sequential (--no-prefetch)", False),
                ("overlapped (--prefetch)", True),
            ):
                seconds[name].append(track_command(prefetch, threads, Path(tmp) / f"{prefetch}{r}"))
            print(
                f"  round {r + 1}: " + ", ".join(f"{n} {s[-1]:.2f} s" for n, s in seconds.items()),
                file=sys.stderr,
            )
        same = (Path(tmp) / "False0" / "PETS09-S2L1.txt").read_text() == (
            Path(tmp) / "True0" / "PETS09-S2L1.txt"
        ).read_text()
    return {"frames": frames, "seconds": seconds, "same_tracks": same, "import_seconds": imports}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch/OpenCV threads (default: theirs)"
    )
    parser.add_argument("--skip-adapter", action="store_true")
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument(
        "--skip-old-dcn", action="store_true", help="skip the slow torchvision-DCN run"
    )
    parser.add_argument("--profile", action="store_true", help="print torch.profiler tables")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if not PETS.is_dir():
        raise SystemExit(f"{PETS} is missing: this benchmark needs ../shared beside the checkout")
    if args.threads:
        from masa.compute import set_threads

        set_threads(args.threads)
    report: dict[str, Any] = {
        "cpu": _cpu_name(),
        "threads": torch.get_num_threads(),
        "load_average": os.getloadavg(),
    }
    print(
        f"{report['cpu']}, {report['threads']} torch threads, load average "
        f"{report['load_average'][0]:.1f} at start; medians of {args.rounds} interleaved rounds"
    )
    if not args.skip_adapter:
        report["adapter"] = part = adapter_part(args.rounds, not args.skip_old_dcn, args.profile)
        _print_adapter(part)
    if not args.skip_pipeline:
        report["pipeline"] = part = pipeline_part(args.rounds, args.threads)
        print(f"\nmasa track, masa-lite, PETS09-S2L1 ({part['frames']} frames), whole command:")
        fps = {name: part["frames"] / statistics.median(s) for name, s in part["seconds"].items()}
        for name, value in fps.items():
            seconds = statistics.median(part["seconds"][name])
            print(f"  {name:<28} {seconds:6.2f} s  {value:6.2f} frames/s")
        print(
            f"  of each run, `import torch, torchvision` alone: "
            f"{statistics.median(part['import_seconds']):.2f} s"
        )
        old, new = fps.values()
        verdict = "met" if new / old >= 1.5 else "NOT met"
        print(
            f"  overlapped / sequential: {new / old:.2f}x (goal >= 1.5x: {verdict}); "
            f"identical MOT output: {part['same_tracks']}"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


def _print_adapter(part: dict[str, Any]) -> None:
    wall = {name: statistics.median(w for w, _ in t) for name, t in part["seconds"].items()}
    cpu = {name: statistics.median(c for _, c in t) for name, t in part["seconds"].items()}
    base_wall, base_cpu = wall["ResNet-50 fp32"], cpu["ResNet-50 fp32"]
    gflop = part["gflop"]
    print(f"\nOne PETS09 frame at 1024x768, {part['boxes']} boxes; MASA-R50 {part['weights']}")
    print(
        f"  work: ResNet-50 {gflop['ResNet-50']:.0f} GFLOP, MASA-R50 {gflop['MASA-R50']:.0f} GFLOP "
        f"({gflop['MASA-R50'] / gflop['ResNet-50']:.2f}x)"
    )
    print(f"  {'':<42} {'wall s':>7} {'ratio':>6} {'CPU s':>7} {'ratio':>6}")
    for name in wall:
        print(
            f"  {name:<42} {wall[name]:7.2f} {wall[name] / base_wall:5.2f}x "
            f"{cpu[name]:7.2f} {cpu[name] / base_cpu:5.2f}x"
        )
    error = part["bf16_error"]
    print(
        f"  bf16 embeddings vs fp32: relative error max {error['max_relative']:.4f}, median "
        f"{error['median_relative']:.4f}; cosine >= {error['min_cosine']:.5f}"
    )
    if "old_vs_new_max_relative" in part:
        print(
            f"  torchvision DCN vs masa.adapter.deform embeddings: max relative difference "
            f"{part['old_vs_new_max_relative']:.2e}"
        )
    for name in ("MASA-R50 fp32", "MASA-R50 bf16"):
        ratio = wall[name] / base_wall
        print(
            f"  goal MASA-R50 <= 2.5x ResNet-50 (wall clock): {name} {ratio:.2f}x -> "
            f"{'met' if ratio <= 2.5 else 'NOT met'}"
        )


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return f"CPU ({os.cpu_count()} cores)"


if __name__ == "__main__":
    main()
