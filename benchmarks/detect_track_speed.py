"""Per-stage time and FPS of `masa detect-track` for each detector on a shared clip.

Runs the same loop as the command (`DetectAhead` -> the overlapped or, for unified adapters, the
sequential loop -> MOT/TAO/H.264 writers, via `masa_cli.runner.run_tracking`) and prints, per
detector, milliseconds per frame for decode, detector, adapter, tracker and write (stages in
background threads overlap), and end-to-end (wall-clock) frames per second.

    python benchmarks/detect_track_speed.py [--video ../shared/data/videos/01_dog.mp4] [--frames 24]
        [--detectors fastestdet ssdlite fasterrcnn-v2 gdino-tiny gdino-t] [--adapter auto|r50|tiny]
        [--batch-size 4] [--device auto]

Weights: FastestDet from ../shared/data/weights; torchvision detectors use their pretrained weights
when they are in torchvision's cache, else random weights (same cost); `gdino-t` / `gdino-b-unified`
use the real `IDEA-Research/grounding-dino-{tiny,base}` when cached, else the same architecture with
random weights and a synthetic vocabulary (same cost; random boxes are capped at `max_detections`);
`gdino-tiny` is the test model. The adapter is MASA-R50 (random weights, real cost; the default on
CUDA) or the tiny test adapter (the default on CPU, where R50's DeformFusion at 1024 px takes tens of
seconds per frame); `gdino-b-unified` runs the MASA-GDINO adapter on Grounding DINO-B's Swin maps.
On CUDA, Grounding DINO runs under bf16 autocast and stage times are synchronised.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"

import torch  # noqa: E402

from masa.detectors import DetectAhead, UnifiedEmbedder  # noqa: E402
from masa.io import open_frames  # noqa: E402
from masa_cli.runner import TrackerSettings, build_tracker, run_tracking, stream_fps  # noqa: E402

PROMPT = "person . dog . car . cup"
STAGES = ("decode", "detector", "adapter", "tracker", "write")


def _hub_cached(name: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(name, "config.json"), str)


def _random_gdino(swin_b: bool, device: torch.device) -> Any:
    """The real architecture with random weights and a synthetic 30522-word BERT vocabulary."""
    from collections import OrderedDict as Vocab

    from transformers import (
        BertTokenizer,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        SwinConfig,
    )

    from masa.detectors import GroundingDinoDetector

    words = ["person", "dog", "car", "cup"]
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += (
        [f"w{i}" for i in range(len(vocab), 1012)]
        + ["."]
        + [f"w{i}" for i in range(1013, 1029)]
        + ["?"]
    )
    vocab += words + [f"w{i}" for i in range(len(vocab) + len(words), 30522)]
    tokenizer = BertTokenizer(vocab=Vocab((w, i) for i, w in enumerate(vocab)))
    kwargs = {}
    if swin_b:
        kwargs["backbone_config"] = SwinConfig(
            embed_dim=128,
            depths=[2, 2, 18, 2],
            num_heads=[4, 8, 16, 32],
            window_size=12,
            out_indices=[2, 3, 4],
        )
    model = GroundingDinoForObjectDetection(GroundingDinoConfig(**kwargs)).to(device).eval()
    dtype = (
        (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
        if device.type == "cuda"
        else None
    )
    return GroundingDinoDetector(model, tokenizer, PROMPT, autocast_dtype=dtype)


def _gdino(name: str, swin_b: bool, device: torch.device) -> tuple[Any, str]:
    from masa.detectors import build_grounding_dino_detector

    if _hub_cached(name):
        return build_grounding_dino_detector(prompt=PROMPT, model=name, device=device), "real"
    return _random_gdino(swin_b, device), "random"


def _torchvision(builder: str, device: torch.device) -> tuple[Any, str]:
    from masa import detectors
    from masa.detectors import FilteredDetector
    from masa.errors import InputError

    try:
        detector, weights = getattr(detectors, builder)(device=device), "real"
    except InputError:
        detector, weights = getattr(detectors, builder)(weights=None, device=device), "random"
    return FilteredDetector(detector, score_threshold=0.5 if weights == "real" else 0.05), weights


def build_detector(name: str, device: torch.device) -> tuple[Any, str]:
    """(detector, 'real' or 'random' weights) for a benchmark name."""
    from masa.detectors import build_fastestdet_detector, build_grounding_dino_detector

    if name == "fastestdet":
        return build_fastestdet_detector(
            weights=SHARED / "data/weights/fastestdet", device=device
        ), "real"
    if name == "gdino-tiny":
        from tests.detectors.tiny_gdino import save_tiny_gdino

        folder = save_tiny_gdino(Path(tempfile.mkdtemp()))
        return build_grounding_dino_detector(
            prompt="person . dog . car", model=folder, device=device
        ), "random"
    if name == "gdino-t":
        return _gdino("IDEA-Research/grounding-dino-tiny", False, device)
    if name == "gdino-b-unified":
        return _gdino("IDEA-Research/grounding-dino-base", True, device)
    builders = {
        "ssdlite": "build_ssdlite_detector",
        "fasterrcnn-v2": "build_fasterrcnn_v2_detector",
        "retinanet-v2": "build_retinanet_v2_detector",
        "fcos": "build_fcos_detector",
    }
    return _torchvision(builders[name], device)


def _adapter(kind: str, unified: bool, device: torch.device) -> Any:
    from masa.adapter import build_masa_adapter, build_masa_adapter_gdino, build_masa_adapter_r50

    torch.manual_seed(0)
    if unified:
        return build_masa_adapter_gdino(device=device)
    if kind == "tiny":
        from tests.conftest import tiny_adapter_config

        return build_masa_adapter(tiny_adapter_config(), device=device)
    return build_masa_adapter_r50(device=device)


def bench(name: str, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Builds the detector and adapter, warms up on one batch, then times `frames` frames."""
    detector, weights = build_detector(name, device)
    adapter = _adapter(args.adapter, name.endswith("unified"), device)
    if name.endswith("unified"):
        batch_detector = embedder = UnifiedEmbedder(detector, adapter)
    else:
        batch_detector, embedder = detector, adapter
    frames = args.gdino_frames if name.startswith("gdino") and device.type == "cpu" else args.frames
    warm = open_frames(args.video, end=args.batch_size)
    warm_ahead = DetectAhead(warm, batch_detector, batch_size=args.batch_size)
    for frame in warm_ahead:  # warm-up: kernels, allocator, thread pools
        embedder.embed(frame.image, warm_ahead.detect(frame.frame_idx, frame.image).xyxy)
    source = open_frames(args.video, start=args.batch_size, end=args.batch_size + frames)
    ahead = DetectAhead(source, batch_detector, batch_size=args.batch_size)
    with tempfile.TemporaryDirectory() as out:
        summary = run_tracking(
            frames=ahead,
            detect=ahead.detect,
            embedder=embedder,
            tracker=build_tracker(TrackerSettings("tao"), stream_fps(source)),
            out_dir=Path(out),
            class_names=batch_detector.class_names,
            tcc=True,
            video=True,
            trace_length=30,
            quiet=True,
            synchronize=device.type == "cuda",
        )
    row = OrderedDict(name=name, weights=weights, frames=summary.frames)
    row.update({s: 1000 * summary.seconds.get(s, 0.0) / summary.frames for s in STAGES})
    row["fps"] = summary.frames / summary.elapsed  # wall clock: stages overlap in the new loop
    return row


def _print_table(rows: list[dict[str, Any]], header: str) -> None:
    print(header)
    print(
        f"{'detector':<16} {'weights':<7} {'frames':>6} "
        + " ".join(f"{s:>9}" for s in STAGES)
        + f" {'FPS':>7}"
    )
    print(f"{'':<31}" + " ".join(f"{'ms/frame':>9}" for _ in STAGES))
    for r in rows:
        print(
            f"{r['name']:<16} {r['weights']:<7} {r['frames']:>6} "
            + " ".join(f"{r[s]:>9.1f}" for s in STAGES)
            + f" {r['fps']:>7.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=SHARED / "data/videos/01_dog.mp4")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument(
        "--gdino-frames", type=int, default=4, help="frames for Grounding DINO on CPU"
    )
    parser.add_argument("--detectors", nargs="+", default=None)
    parser.add_argument("--adapter", choices=("auto", "r50", "tiny"), default="auto")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    if args.adapter == "auto":
        args.adapter = "r50" if device.type == "cuda" else "tiny"
    names = args.detectors or (
        ["fastestdet", "ssdlite", "fasterrcnn-v2", "gdino-t", "gdino-b-unified"]
        if device.type == "cuda"
        else ["fastestdet", "ssdlite", "gdino-tiny", "gdino-t"]
    )
    probe = open_frames(args.video)
    where = (
        torch.cuda.get_device_name()
        if device.type == "cuda"
        else f"CPU, {torch.get_num_threads()} threads"
    )
    header = (
        f"{args.video.name} {probe.width}x{probe.height}, adapter {args.adapter}"
        f"{' (gdino-b-unified: MASA-GDINO)' if 'gdino-b-unified' in names else ''}, "
        f"batch {args.batch_size}, {where}"
    )
    rows = []
    for name in names:
        start = time.perf_counter()
        rows.append(bench(name, args, device))
        print(f"  {name}: done in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    _print_table(rows, header)


if __name__ == "__main__":
    main()
