"""Segment-and-track speed: MASA detection-head proposals vs SAM's automatic mask generator.

Per frame, both modes run SAM's image encoder once and the MASA-SAM adapter (embeddings for the
tracker). Head mode adds MASA's RPN + box head and one box prompt per object through SAM's mask
decoder; "everything" mode prompts SAM with a `points_per_side`^2 point grid (SAM's automatic mask
generator). Both modes produce the same number of masks per frame: the generator keeps its
`--masks` best, and head mode keeps that many proposals. The paper reports head mode about 10x
faster than SAM's everything mode at the same recall.

    python benchmarks/segment_speed.py [--model vit_b|vit_h|tiny] [--checkpoint FILE] [--frames 1]
        [--points-per-side 32] [--masks 20] [--video ../shared/data/videos/01_dog.mp4] [--device auto]

Weights are random unless `--checkpoint` gives a SAM-MASA file: the cost is the real one. Random
masks are poor and overlap, so the generator's filters are relaxed here (predicted-IoU and stability
thresholds 0, box NMS off) before its `--masks` best are kept; its cost does not depend on these
filters. Both modes first run once on a small frame (kernel warm-up, not timed). Prints seconds per
frame by stage and the everything/head ratios, for the masks alone and for segment-and-track
(masks + embeddings).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"

import numpy as np  # noqa: E402
import torch  # noqa: E402

from masa.adapter.preprocess import preprocess_image  # noqa: E402
from masa.io import open_frames  # noqa: E402
from masa.segment import (  # noqa: E402
    AutomaticMasks,
    ProposalSettings,
    SamMasa,
    build_sam_masa,
    load_sam_masa,
    sam_vit_b_config,
    sam_vit_h_config,
)

GENERATOR = "automatic mask generator (incl. encoder)"
HEAD_MASK_STAGES = ("SAM image encoder", "adapter", "RPN + box head", "box prompts -> masks")


def _timed(seconds: dict[str, float], name: str, fn: Callable[[], Any], sync: bool) -> Any:
    start = time.perf_counter()
    out = fn()
    if sync:
        torch.cuda.synchronize()
    seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
    return out


def _model(args: argparse.Namespace, device: torch.device) -> SamMasa:
    if args.checkpoint:
        return load_sam_masa(args.checkpoint, device=device)
    torch.manual_seed(0)
    if args.model == "tiny":
        from tests.segment.conftest import TINY_ADAPTER, TINY_SAM

        return build_sam_masa(TINY_SAM, TINY_ADAPTER, proposer_fc_channels=64, device=device)
    config = sam_vit_b_config() if args.model == "vit_b" else sam_vit_h_config()
    return build_sam_masa(config, device=device)


def _head_frame(
    model: SamMasa, image: np.ndarray, num_masks: int, seconds: dict[str, float], sync: bool
) -> int:
    """Head mode, stage by stage (what `HeadProposals` + `SamMasaSegmenter.embed` run)."""
    size = model.img_size
    images, _ = preprocess_image(image, scale=(size, size), pad_divisor=size, device=model.device)
    model.tap.reset()
    embeddings = _timed(seconds, "SAM image encoder", lambda: model.sam.image_encoder(images), sync)
    encoded = _timed(
        seconds, "adapter", lambda: model.encode_levels(model.tap.levels(), image.shape[:2], embeddings), sync
    )
    settings = ProposalSettings(score_threshold=0.0, max_detections=num_masks)
    xyxy, _ = _timed(seconds, "RPN + box head", lambda: model.propose(encoded, settings), sync)
    masks, _ = _timed(seconds, "box prompts -> masks", lambda: model.box_masks(encoded, xyxy), sync)
    _timed(seconds, "embeddings", lambda: model.embed_boxes(encoded, xyxy), sync)
    return len(masks)


def _everything_frame(model: SamMasa, image: np.ndarray, source: AutomaticMasks, seconds: dict[str, float],
                      sync: bool) -> int:
    """Everything mode, stage by stage (what `AutomaticMasks` + `SamMasaSegmenter.embed` run)."""
    generator = source._generator_for(model)
    model.tap.reset()
    records = _timed(seconds, GENERATOR, lambda: generator.generate(image), sync)
    encoded = _timed(
        seconds, "adapter", lambda: model.encode_levels(model.tap.levels(), image.shape[:2]), sync
    )
    records = sorted(records, key=lambda r: -r["predicted_iou"])[: source.max_masks]
    boxes = torch.tensor([r["bbox"] for r in records], dtype=torch.float32, device=model.device)
    boxes = boxes.reshape(-1, 4)  # (N, 4) xywh
    boxes[:, 2:] += boxes[:, :2]  # xywh -> xyxy
    _timed(seconds, "embeddings", lambda: model.embed_boxes(encoded, boxes), sync)
    return len(records)


def _report(
    name: str, seconds: dict[str, float], frames: int, masks: list[int], mask_stages: tuple[str, ...]
) -> float:
    print(f"\n{name}: {np.mean(masks):.1f} masks/frame")
    for stage, s in seconds.items():
        print(f"  {stage:<42} {s / frames:8.3f} s/frame")
    total = sum(seconds.values()) / frames
    masks_only = sum(seconds[s] for s in mask_stages) / frames
    print(f"  {'masks (encoder + proposals + masks)':<42} {masks_only:8.3f} s/frame")
    print(f"  {'segment-and-track (all of the above)':<42} {total:8.3f} s/frame")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("vit_b", "vit_h", "tiny"), default="vit_b")
    parser.add_argument("--checkpoint", help="a SAM-MASA checkpoint instead of random weights")
    parser.add_argument("--video", type=Path, default=SHARED / "data" / "videos" / "01_dog.mp4")
    parser.add_argument("--frames", type=int, default=1)
    parser.add_argument("--points-per-side", type=int, default=32)
    parser.add_argument("--masks", type=int, default=20, help="masks per frame in both modes")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    sync = device.type == "cuda"
    model = _model(args, device)
    relaxed = dict(pred_iou_threshold=0.0, stability_score_threshold=0.0, box_nms_threshold=1.0)
    source = AutomaticMasks(points_per_side=args.points_per_side, max_masks=args.masks, **relaxed)
    frames = [f.image for f in open_frames(args.video, end=args.frames)]
    print(f"{args.checkpoint or args.model} on {device}, {len(frames)} frame(s) of {args.video.name} "
          f"{frames[0].shape[1]}x{frames[0].shape[0]}, {args.points_per_side}^2 points, torch threads "
          f"{torch.get_num_threads()}")
    head: dict[str, float] = {}
    everything: dict[str, float] = {}
    head_masks, everything_masks = [], []
    with torch.inference_mode():
        small = np.ascontiguousarray(frames[0][::4, ::4])
        _everything_frame(model, small, AutomaticMasks(points_per_side=2, **relaxed), {}, sync)  # warm-up
        _head_frame(model, small, 1, {}, sync)
        for image in frames:
            count = _everything_frame(model, image, source, everything, sync)
            everything_masks.append(count)
            head_masks.append(_head_frame(model, image, max(count, 1), head, sync))
    n = len(frames)
    t_head = _report("head proposals", head, n, head_masks, HEAD_MASK_STAGES)
    t_all = _report("everything (SAM's automatic mask generator)", everything, n, everything_masks,
                    (GENERATOR,))
    masks_head = sum(head[s] for s in HEAD_MASK_STAGES)
    masks_all = everything[GENERATOR]
    print(f"\neverything / head: {masks_all / masks_head:.2f}x for the masks, {t_all / t_head:.2f}x for "
          f"segment-and-track (paper: ~10x)")


if __name__ == "__main__":
    main()
