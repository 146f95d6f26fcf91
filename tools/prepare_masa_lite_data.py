"""Builds the unlabeled training set of masa-lite from ../shared/data, with instance proposals.

Images (linked, never copied into the repository):
- coco128 train2017 (128) with proposals converted from its COCO instance annotations;
- coco128 val2017 (128), OpenCV's sample photos (36), every 5th DAVIS 2016 frame of the 8
  sequences, and every 10th frame of each clip in ../shared/data/videos: proposals from the
  weight-free selective search of `masa proposals` (no human labels, no detector), or with
  `--unlabeled-method fastestdet` FastestDet's detections as pseudo-boxes (score > 0.3).
No PETS09-S2L1 frame (the evaluation domain; `vtest.avi` is the same footage) is used.

    python tools/prepare_masa_lite_data.py --out /tmp/masa_lite_data
    # -> /tmp/masa_lite_data/images/{coco,unlabeled}/..., /tmp/masa_lite_data/proposals.json
"""

from __future__ import annotations

import argparse
import functools
import json
import os
from pathlib import Path

import cv2

from masa.io import open_frames
from masa.train.proposals import build_fastestdet_proposer, make_proposals
from masa.train.selective_search import selective_search_proposals

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
EVALUATION_DOMAIN = ("PETS09", "vtest")
MAX_PROPOSALS = 100  # the `masa proposals` default
FASTESTDET_SCORE = 0.3  # the `masa proposals --method fastestdet` default


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.exists():
        os.symlink(src, dst)


def collect(root: Path) -> None:
    coco = SHARED / "images" / "coco128" / "images"
    for image in sorted((coco / "train2017").glob("*.jpg")):
        _link(image, root / "coco" / image.name)
    unlabeled = root / "unlabeled"
    for image in sorted((coco / "val2017").glob("*.jpg")):
        _link(image, unlabeled / "coco_val" / image.name)
    for image in sorted((SHARED / "images" / "opencv_samples").iterdir()):
        if image.suffix.lower() in (".jpg", ".png", ".jpeg", ".bmp"):
            _link(image, unlabeled / "opencv" / image.name)
    for seq in sorted((SHARED / "davis2016" / "JPEGImages").iterdir()):
        for image in sorted(seq.glob("*.jpg"))[::5]:
            _link(image, unlabeled / "davis" / f"{seq.name}_{image.name}")
    for video in sorted((SHARED / "videos").glob("*.mp4")):
        if any(tag in video.name for tag in EVALUATION_DOMAIN):
            continue
        for frame in open_frames(video, stride=10):
            path = unlabeled / "videos" / f"{video.stem}_{frame.frame_idx:05d}.jpg"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(path), cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))


def merge(parts: dict[str, Path], out: Path) -> None:
    """Concatenates proposal files made per sub-folder; file names become relative to the root."""
    images, annotations, next_image, next_ann = [], [], 1, 1
    for prefix, path in parts.items():
        data = json.loads(path.read_text())
        remap = {}
        for image in data["images"]:
            remap[image["id"]] = next_image
            images.append({**image, "id": next_image, "file_name": f"{prefix}/{image['file_name']}"})
            next_image += 1
        for ann in data["annotations"]:
            annotations.append({**ann, "id": next_ann, "image_id": remap[ann["image_id"]]})
            next_ann += 1
    methods = " + ".join(f"{prefix}: {json.loads(path.read_text())['info']['method']}" for prefix, path in parts.items())
    info = {"description": "masa-lite training proposals", "method": methods,
            "parts": {k: str(v) for k, v in parts.items()}}
    out.write_text(json.dumps({"info": info, "images": images, "annotations": annotations,
                               "categories": [{"id": 1, "name": "object"}]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--unlabeled-method", choices=("selective-search", "fastestdet"),
                        default="selective-search",
                        help="proposals of the images without COCO boxes (masa-lite: "
                        "selective-search)")
    args = parser.parse_args()
    root = args.out / "images"
    collect(root)
    coco_json = SHARED / "images" / "coco128" / "annotations_coco_json" / "instances_train2017_coco128.json"
    coco, _ = make_proposals(root / "coco", args.out / "proposals_coco.json", method="coco", coco_json=coco_json)
    if args.unlabeled_method == "fastestdet":
        weights = SHARED / "weights" / "fastestdet" / "FastestDet.onnx"
        detect = build_fastestdet_proposer(weights, score_threshold=FASTESTDET_SCORE)
        params = {"weights": weights.name, "bytes": weights.stat().st_size,
                  "score_threshold": FASTESTDET_SCORE}
    else:
        detect = functools.partial(selective_search_proposals, max_boxes=MAX_PROPOSALS)
        params = {"max_boxes": MAX_PROPOSALS}
    unlabeled, _ = make_proposals(
        root / "unlabeled", args.out / "proposals_unlabeled.json", method=args.unlabeled_method,
        detect=detect, params=params,
    )
    merge({"coco": coco, "unlabeled": unlabeled}, args.out / "proposals.json")
    for part, path in (("coco", coco), ("unlabeled", unlabeled)):
        data = json.loads(path.read_text())
        with_boxes = len({a["image_id"] for a in data["annotations"]})
        print(f"{part}: {len(data['images'])} images ({with_boxes} with proposals), "
              f"{len(data['annotations'])} proposals")
    summary = json.loads((args.out / "proposals.json").read_text())
    print(f"{len(summary['images'])} images, {len(summary['annotations'])} proposals -> {args.out / 'proposals.json'}")


if __name__ == "__main__":
    main()
