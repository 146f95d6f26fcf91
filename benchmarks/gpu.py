"""GPU speed of MASA's pipelines, stage by stage, with random weights of the real architectures.

Speed does not depend on weight values, so every model is built with random weights:
  - gdino-t:      Grounding DINO tiny (Swin-T, BERT-base) detector, `transformers`;
  - gdino-b:      Grounding DINO base (Swin-B) detector + the MASA-GDINO adapter on its own
                  backbone maps (unified mode, `masa.detectors.UnifiedEmbedder`);
  - masa_r50:     the plug-and-play MASA-R50 adapter (own ResNet-50, DeformFusion) on 50 boxes;
  - tracker:      the TAO tracker (demo settings) with 50 objects per frame;
  - sam-b:        segment-track with SAM ViT-B: image encoder, MASA-SAM adapter + proposals, box
                  prompts -> masks for 50 boxes, embeddings;
  - e2e gdino-t:  Grounding DINO-T + MASA-R50 + tracker through the overlapped loop
                  (`masa.overlap.track_frames_overlapped`), frames already in memory.
Frames are 1280x720 (the first frames of ../shared/data/videos/01_dog.mp4 when present, else
noise); boxes are 50 fixed random boxes per frame. Each stage runs at fp32 and under bf16/fp16
autocast, at batch 1 and 8 (frames per call; SAM encodes one frame per call), after a warm-up
call, with CUDA synchronised around every timed call. Prints ms/frame and frames/s per stage, and
the goals: GDINO-T + adapter + tracker >= 15 frames/s end to end; adapter + tracker <= 4 ms/frame
at 50 objects.

    python benchmarks/gpu.py                                  # everything (needs CUDA)
    python benchmarks/gpu.py --stages masa_r50 tracker --dtypes fp32 bf16 --batches 1 8
    python benchmarks/gpu.py --cpu-smoke                      # tiny models on the CPU, for tests

Without a CUDA device it stops with a message (exit code 2), unless `--cpu-smoke`.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"

import numpy as np  # noqa: E402
import torch  # noqa: E402

STAGES = ("gdino-t", "gdino-b", "masa_r50", "tracker", "sam-b", "e2e gdino-t")
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
NUM_BOXES = 50


@dataclass
class Setup:
    """What every stage needs: device, frame size, frames, and whether models are tiny."""

    device: torch.device
    width: int
    height: int
    frames: list[np.ndarray]
    tiny: bool
    repeats: int


def synthetic_frames(
    count: int, width: int, height: int, video: Path | None = None
) -> list[np.ndarray]:
    """`count` RGB uint8 frames `width` x `height`: a real clip's first frames resized, or noise."""
    import cv2

    frames: list[np.ndarray] = []
    if video is not None and video.is_file():
        from masa.io import open_frames

        for frame in open_frames(video, end=count):
            frames.append(cv2.resize(frame.image, (width, height), interpolation=cv2.INTER_AREA))
    rng = np.random.default_rng(0)
    while len(frames) < count:
        frames.append(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    return frames


def random_boxes(count: int, width: int, height: int, seed: int = 0) -> torch.Tensor:
    """`count` xyxy boxes inside a `width` x `height` frame, 16 px to a quarter frame wide."""
    g = torch.Generator().manual_seed(seed)
    size = torch.rand(count, 2, generator=g) * torch.tensor([width / 4, height / 4]) + 16
    corner = torch.rand(count, 2, generator=g) * (torch.tensor([width, height]) - size)
    return torch.cat([corner, corner + size], dim=1)


def random_detections(
    count: int, width: int, height: int, seed: int, dim: int, device: torch.device
) -> Any:
    """`Detections` with random boxes, scores and embeddings, for the tracker alone."""
    from masa.structures import Detections

    g = torch.Generator().manual_seed(seed)
    detections = Detections.from_arrays(
        random_boxes(count, width, height, seed), 0.5 + 0.5 * torch.rand(count, generator=g)
    )
    return detections.to(device).replace(embedding=torch.randn(count, dim, generator=g).to(device))


def per_frame_ms(
    run: Callable[[], Any], frames_per_call: int, repeats: int, device: torch.device
) -> float:
    """Median milliseconds per frame of `run` (one warm-up call, CUDA synchronised)."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    run()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times) / frames_per_call


def _detect_track_speed() -> Any:
    """benchmarks/detect_track_speed.py as a module (its random Grounding DINO builder)."""
    path = Path(__file__).resolve().parent / "detect_track_speed.py"
    spec = importlib.util.spec_from_file_location("detect_track_speed", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_gdino(setup: Setup, swin_b: bool) -> Any:
    """A random-weight Grounding DINO detector (T or B; the test model with `tiny`)."""
    if setup.tiny:
        from masa.detectors import GroundingDinoDetector
        from tests.detectors.tiny_gdino import build_tiny_gdino

        model, tokenizer = build_tiny_gdino()
        return GroundingDinoDetector(
            model.to(setup.device), tokenizer, "person . car", size=(320, 240)
        )
    return _detect_track_speed()._random_gdino(swin_b, setup.device)


def build_r50(setup: Setup) -> Any:
    from masa.adapter import build_masa_adapter, build_masa_adapter_r50

    torch.manual_seed(0)
    if setup.tiny:
        from tests.conftest import tiny_adapter_config

        return build_masa_adapter(tiny_adapter_config(), device=setup.device)
    return build_masa_adapter_r50(device=setup.device)


def build_gdino_adapter(setup: Setup) -> Any:
    from masa.adapter import build_masa_adapter, build_masa_adapter_gdino

    torch.manual_seed(0)
    if setup.tiny:
        from tests.detectors.tiny_gdino import tiny_unified_adapter_config

        return build_masa_adapter(tiny_unified_adapter_config(), device=setup.device)
    return build_masa_adapter_gdino(device=setup.device)


def build_sam(setup: Setup) -> Any:
    from masa.segment import build_sam_masa, sam_vit_b_config

    torch.manual_seed(0)
    if setup.tiny:
        from tests.segment.conftest import TINY_ADAPTER, TINY_SAM

        return build_sam_masa(TINY_SAM, TINY_ADAPTER, proposer_fc_channels=64, device=setup.device)
    return build_sam_masa(sam_vit_b_config(), device=setup.device)


def _autocast(setup: Setup, dtype: torch.dtype | None) -> Any:
    from contextlib import nullcontext

    return torch.autocast(setup.device.type, dtype=dtype) if dtype else nullcontext()


def bench_gdino_t(setup: Setup, dtype: torch.dtype | None, batch: int) -> dict[str, float]:
    detector = build_gdino(setup, swin_b=False)
    detector.autocast_dtype = dtype
    images = setup.frames[:batch]
    return {"detector": per_frame_ms(lambda: detector(images), batch, setup.repeats, setup.device)}


def bench_gdino_b(setup: Setup, dtype: torch.dtype | None, batch: int) -> dict[str, float]:
    from masa.detectors import UnifiedEmbedder

    detector = build_gdino(setup, swin_b=True)
    detector.autocast_dtype = dtype
    embedder = UnifiedEmbedder(detector, build_gdino_adapter(setup))
    images = setup.frames[:batch]
    boxes = random_boxes(NUM_BOXES, setup.width, setup.height)
    detect = per_frame_ms(lambda: embedder(images), batch, setup.repeats, setup.device)

    def embed_all() -> None:
        with _autocast(setup, dtype):
            for image in images:
                embedder.embed(image, boxes)

    return {
        "detector": detect,
        "adapter": per_frame_ms(embed_all, batch, setup.repeats, setup.device),
    }


def bench_masa_r50(setup: Setup, dtype: torch.dtype | None, batch: int) -> dict[str, float]:
    adapter = build_r50(setup)
    adapter.autocast_dtype = dtype
    prepared = [adapter.prepare(image) for image in setup.frames[:batch]]
    boxes = [random_boxes(NUM_BOXES, setup.width, setup.height, seed) for seed in range(batch)]
    run = lambda: adapter.embed_batch(prepared, boxes)  # noqa: E731
    return {"adapter": per_frame_ms(run, batch, setup.repeats, setup.device)}


def bench_tracker(setup: Setup, dtype: torch.dtype | None, batch: int) -> dict[str, float]:
    from masa.tracking import build_tao_tracker_demo

    frames = [
        random_detections(NUM_BOXES, setup.width, setup.height, seed, 256, setup.device)
        for seed in range(8)
    ]
    tracker = build_tao_tracker_demo()
    state = {"frame": 0}

    def update() -> None:
        for _ in range(batch):
            tracker.update(frames[state["frame"] % len(frames)], state["frame"])
            state["frame"] += 1

    return {"tracker": per_frame_ms(update, batch, setup.repeats, setup.device)}


def bench_sam_b(setup: Setup, dtype: torch.dtype | None, batch: int) -> dict[str, float]:
    model = build_sam(setup)
    image = setup.frames[0]
    boxes = random_boxes(NUM_BOXES, setup.width, setup.height).to(setup.device)
    times: dict[str, float] = {}
    with torch.inference_mode(), _autocast(setup, dtype):
        encoded = model.encode(image)
        times["encoder + adapter"] = per_frame_ms(
            lambda: model.encode(image), 1, setup.repeats, setup.device
        )
        times["proposals"] = per_frame_ms(
            lambda: model.propose(encoded), 1, setup.repeats, setup.device
        )
        times["masks"] = per_frame_ms(
            lambda: model.box_masks(encoded, boxes), 1, setup.repeats, setup.device
        )
        times["embeddings"] = per_frame_ms(
            lambda: model.embed_boxes(encoded, boxes), 1, setup.repeats, setup.device
        )
    return times


def bench_e2e_gdino_t(setup: Setup, dtype: torch.dtype | None, batch: int) -> dict[str, float]:
    from masa.detectors import DetectAhead
    from masa.io import Frame
    from masa.overlap import track_frames_overlapped
    from masa.tracking import build_tao_tracker_demo

    detector = build_gdino(setup, swin_b=False)
    detector.autocast_dtype = dtype
    adapter = build_r50(setup)
    adapter.autocast_dtype = dtype
    frames = [Frame(i, image) for i, image in enumerate(setup.frames)]

    def run() -> None:
        ahead = DetectAhead(frames, detector, batch_size=batch)
        for _ in track_frames_overlapped(
            ahead, ahead.detect, adapter, build_tao_tracker_demo(), batch_size=batch
        ):
            pass

    return {"end to end": per_frame_ms(run, len(frames), max(1, setup.repeats // 4), setup.device)}


BENCHES: dict[str, Callable[[Setup, torch.dtype | None, int], dict[str, float]]] = {
    "gdino-t": bench_gdino_t,
    "gdino-b": bench_gdino_b,
    "masa_r50": bench_masa_r50,
    "tracker": bench_tracker,
    "sam-b": bench_sam_b,
    "e2e gdino-t": bench_e2e_gdino_t,
}


def run(
    stages: Sequence[str], dtypes: Sequence[str], batches: Sequence[int], setup: Setup
) -> list[dict[str, Any]]:
    """One row per (stage, dtype, batch, part) with ms/frame."""
    rows = []
    for stage in stages:
        for dtype in dtypes:
            if dtype != "fp32" and stage == "tracker":
                continue  # the tracker has no autocast path
            for batch in batches:
                if batch > 1 and stage == "sam-b":
                    continue  # SAM-MASA encodes one frame per call
                print(f"  {stage} {dtype} batch {batch} ...", file=sys.stderr)
                for part, ms in BENCHES[stage](setup, DTYPES[dtype], batch).items():
                    rows.append(
                        {"stage": stage, "dtype": dtype, "batch": batch, "part": part, "ms": ms}
                    )
                if setup.device.type == "cuda":
                    torch.cuda.empty_cache()
    return rows


def print_rows(rows: list[dict[str, Any]]) -> None:
    print(f"{'stage':<12} {'dtype':<5} {'batch':>5}  {'part':<18} {'ms/frame':>9} {'frames/s':>9}")
    for r in rows:
        print(
            f"{r['stage']:<12} {r['dtype']:<5} {r['batch']:>5}  {r['part']:<18} {r['ms']:>9.2f} "
            f"{1000 / r['ms']:>9.1f}"
        )


def print_goals(rows: list[dict[str, Any]]) -> None:
    """The two goals, from the best dtype/batch each."""
    e2e = [r["ms"] for r in rows if r["stage"] == "e2e gdino-t"]
    if e2e:
        fps = 1000 / min(e2e)
        print(
            f"goal GDINO-T + adapter + tracker >= 15 frames/s end to end: best {fps:.1f} -> "
            f"{'met' if fps >= 15 else 'NOT met'}"
        )
    adapter = [r["ms"] for r in rows if r["stage"] == "masa_r50"]
    tracker = [r["ms"] for r in rows if r["stage"] == "tracker"]
    if adapter and tracker:
        total = min(adapter) + min(tracker)
        print(
            f"goal adapter + tracker <= 4 ms/frame at {NUM_BOXES} objects: best {total:.2f} ms -> "
            f"{'met' if total <= 4 else 'NOT met'}"
        )


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument(
        "--dtypes", nargs="+", choices=list(DTYPES), default=["fp32", "bf16", "fp16"]
    )
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument(
        "--size", type=int, nargs=2, default=(1280, 720), metavar=("WIDTH", "HEIGHT")
    )
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per measurement")
    parser.add_argument("--video", type=Path, default=SHARED / "data" / "videos" / "01_dog.mp4")
    parser.add_argument(
        "--cpu-smoke",
        action="store_true",
        help="tiny models on the CPU, 2 repeats: checks the script, measures nothing",
    )
    args = parser.parse_args(argv)
    if args.cpu_smoke:
        device = torch.device("cpu")
        args.repeats = min(args.repeats, 2)
    elif not torch.cuda.is_available():
        print(
            "benchmarks/gpu.py needs a CUDA device, and torch.cuda.is_available() is False here "
            "(use --cpu-smoke to check the script on the CPU with tiny models)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    else:
        device = torch.device("cuda")
    width, height = args.size
    frames = synthetic_frames(max(args.batches), width, height, args.video)
    setup = Setup(device, width, height, frames, tiny=args.cpu_smoke, repeats=args.repeats)
    where = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else "CPU (smoke test, tiny models)"
    )
    print(
        f"{where}; {width}x{height}; {NUM_BOXES} boxes per frame; random weights; "
        f"torch {torch.__version__}"
    )
    with torch.inference_mode():
        rows = run(args.stages, args.dtypes, args.batches, setup)
    print_rows(rows)
    if args.cpu_smoke:
        print("smoke test with tiny models on the CPU: no goal applies")
    else:
        print_goals(rows)
    return rows


if __name__ == "__main__":
    main()
