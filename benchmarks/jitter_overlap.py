"""How far `--jitter-boxes` moves a box, next to how far a detector's box moves between frames.

Prints (a) for each `--jitter-shift` / `--jitter-scale` pair, the share of jittered boxes whose
IoU with their source box reaches 0.5 and 0.7 (the track head's positive thresholds: 0.7 is the
official `--track-pos-iou`), and (b) the IoU between the det.txt box of one ground-truth identity
on consecutive frames of PETS09-S2L1 (frames 1-169, identities as in `association.py`): the shifts
the embeddings meet when tracking on those detections.

    python benchmarks/jitter_overlap.py --pairs 0.15,0.25 0.25,0.4 0.3,0.5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torchvision.ops import box_iou

sys.path.insert(0, str(Path(__file__).resolve().parent))
from association import SEQ, gt_identities  # noqa: E402

from masa.io import read_mot_detections  # noqa: E402
from masa.train.objective import jitter_box_candidates  # noqa: E402

LAST_FRAME = 169


def jitter_overlaps(shift: float, scale: float, *, boxes: int = 2000, seed: int = 0) -> np.ndarray:
    """IoU of `boxes` jittered copies of a 100 x 200 box with it (the IoU does not depend on the
    box's size or aspect ratio: the jitter is relative to both)."""
    source = torch.tensor([[0.0, 0.0, 100.0, 200.0]])
    jittered = jitter_box_candidates(source, boxes, shift=shift, scale=scale,
                                     generator=torch.Generator().manual_seed(seed))
    return box_iou(jittered, source)[:, 0].numpy()


def detector_overlaps() -> np.ndarray:
    """IoU between the det.txt boxes of one identity on frames t and t + 1."""
    gt = read_mot_detections(SEQ / "gt" / "gt.txt")
    det = read_mot_detections(SEQ / "det" / "det.txt")
    previous: dict[int, torch.Tensor] = {}
    overlaps = []
    for frame in range(1, LAST_FRAME + 1):
        boxes = det.get(frame).xyxy.float()
        current = {int(i): b for i, b in zip(gt_identities(gt, frame, boxes), boxes) if i >= 0}
        for identity, box in current.items():
            if identity in previous:
                overlaps.append(float(box_iou(box[None], previous[identity][None])[0, 0]))
        previous = current
    return np.array(overlaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="+", default=["0.15,0.25", "0.25,0.4", "0.3,0.5"],
                        help="SHIFT,SCALE pairs (0.15,0.25 is the default of `masa train`)")
    args = parser.parse_args()
    print("jitter shift,scale | IoU >= 0.5 | IoU >= 0.7 | median IoU")
    for pair in args.pairs:
        shift, scale = (float(v) for v in pair.split(","))
        iou = jitter_overlaps(shift, scale)
        print(f"{shift:.2f},{scale:.2f}          | {np.mean(iou >= 0.5):10.1%} | "
              f"{np.mean(iou >= 0.7):10.1%} | {np.median(iou):.3f}")
    iou = detector_overlaps()
    p5, p25, p50 = np.percentile(iou, [5, 25, 50])
    print(f"det.txt, same identity on consecutive frames: {len(iou)} pairs, IoU >= 0.5 "
          f"{np.mean(iou >= 0.5):.1%}, >= 0.7 {np.mean(iou >= 0.7):.1%}; percentiles 5/25/50: "
          f"{p5:.3f} / {p25:.3f} / {p50:.3f}")


if __name__ == "__main__":
    main()
