"""Association benchmark: zero-shot tracking on PETS09-S2L1 (frames 1-169), scored with `masa eval`.

Every tracker gets the same boxes, (a) the given Faster R-CNN `det.txt` detections and (b) the
ground-truth boxes as detections, so the table compares association alone:

- `iou`: greedy IoU matching against each track's last box (no appearance);
- `bytetrack`: ByteTrack from roboflow's `trackers` package (maintained implementation),
  installed with --no-deps into `benchmarks/.site` so it cannot change our dependencies;
- `raw-shufflenet`: the MASA tracker on raw ImageNet ShuffleNetV2 features (RoIAlign of the
  stride-16 map, no MASA training): the paper's "off-the-shelf features" baseline (Table 8 row 1),
  at masa-lite's inference side unless `--raw-resize` says otherwise;
- `masa-lite`: the MASA tracker with the project's own trained model (`--lite PATH`);
- `r50-random`: the official MASA-R50 architecture with random weights (lower bound). It costs
  ~20 s per frame on a CPU (one forward per frame serves both box sets; its frames/s is that
  forward's): `--skip r50-random` leaves it out;
- `oracle-ids`: the MASA tracker with perfect appearance: each box's embedding encodes the
  ground-truth identity it overlaps (IoU >= 0.5), or a code of its own when it overlaps none. It
  is the upper bound of appearance association on these boxes with this tracker, not a method.

All MASA rows use the official demo tracker settings with the sequence's frame rate. `NN-acc`
scores the embeddings alone (`NeighbourProbe`): how often a box's most similar box in the previous
frame has its ground-truth identity. A second table (`switch_sources`) says where each tracker's
identity switches come from: a fresh id, another person's id, or the id of a box that overlapped
no person (a false positive or a loose box).

    python benchmarks/association.py --lite masa/assets/masa_lite.safetensors

`--lite-resize N` runs the masa-lite rows at another inference side than the checkpoint's (with
`--skip iou bytetrack raw-shufflenet r50-random oracle-ids` it is a quick sensitivity sweep).
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor
from torchvision.ops import box_iou, roi_align

from masa.adapter.preprocess import preprocess_image
from masa.io import MotTxtWriter, open_frames, read_mot_detections
from masa.pipeline import StageTimer, track_frames
from masa.structures import Detections

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fusion_rows  # noqa: E402  (benchmarks/fusion_rows.py, beside this script)

REPO = Path(__file__).resolve().parents[1]
SEQ = REPO.parent / "shared" / "data" / "mot" / "PETS09-S2L1"
SHUFFLENET = REPO.parent / "shared" / "data" / "weights" / "fastestdet" / "shufflenetv2.pth"
SITE = Path(__file__).resolve().parent / ".site"
BYTETRACK_PACKAGES = ("trackers==2.6.1", "pydeprecate==0.9.0")
METRICS = ("HOTA", "AssA", "DetA", "IDF1", "IDSW", "MOTA")


class IouTracker:
    """Greedy IoU association: each detection, by descending score, takes the free track whose
    last box overlaps it most (IoU >= `iou_threshold`); tracks live `memory_frames` frames unseen.
    New tracks start from unmatched detections above `init_score_threshold`."""

    def __init__(self, iou_threshold: float = 0.3, memory_frames: int = 10, init_score_threshold: float = 0.1):
        self.iou_threshold, self.memory_frames, self.init_score_threshold = iou_threshold, memory_frames, init_score_threshold
        self.reset()

    def reset(self) -> None:
        self.ids, self.boxes, self.last = np.zeros(0, np.int64), torch.zeros(0, 4), np.zeros(0, np.int64)
        self.next_id = 0

    def update(self, detections: Detections, frame_idx: int) -> Detections:
        order = torch.argsort(detections.confidence, descending=True)
        dets = detections[order]
        ids = np.full(len(dets), -1, np.int64)
        ious = box_iou(dets.xyxy.cpu(), self.boxes).numpy() if len(self.boxes) else np.zeros((len(dets), 0))
        for i in range(len(dets)):  # (N, T) greedy by detection score
            if ious.shape[1] and ious[i].max() >= self.iou_threshold:
                j = int(ious[i].argmax())
                ids[i] = self.ids[j]
                ious[:, j] = -1
        new = (ids == -1) & (dets.confidence.cpu().numpy() > self.init_score_threshold)
        ids[new] = np.arange(self.next_id, self.next_id + new.sum())
        self.next_id += int(new.sum())
        keep = ids >= 0
        for i in np.flatnonzero(keep):
            hit = np.flatnonzero(self.ids == ids[i])
            if len(hit):
                self.boxes[hit[0]], self.last[hit[0]] = dets.xyxy[i].cpu(), frame_idx
            else:
                self.ids = np.append(self.ids, ids[i])
                self.boxes = torch.cat([self.boxes, dets.xyxy[i : i + 1].cpu()])
                self.last = np.append(self.last, frame_idx)
        alive = frame_idx - self.last < self.memory_frames
        self.ids, self.boxes, self.last = self.ids[alive], self.boxes[torch.from_numpy(alive)], self.last[alive]
        return dets[torch.from_numpy(keep)].replace(tracker_id=torch.from_numpy(ids[keep]))


class ByteTrackAdapter:
    """`trackers.ByteTrackTracker` behind the pipeline's tracker interface."""

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self.reset()

    def reset(self) -> None:
        trackers = _import_bytetrack()
        self.tracker = trackers.ByteTrackTracker(frame_rate=self.fps)

    def update(self, detections: Detections, frame_idx: int) -> Detections:
        out = self.tracker.update(detections.replace(embedding=None).to_supervision())
        tracked = Detections.from_supervision(out)
        return tracked[tracked.tracker_id >= 0]


def _import_bytetrack() -> Any:
    if str(SITE) not in sys.path:
        sys.path.insert(0, str(SITE))
    try:
        return importlib.import_module("trackers")
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(SITE),
                        *BYTETRACK_PACKAGES], check=True)
        importlib.invalidate_caches()
        return importlib.import_module("trackers")


class NoEmbedding:
    """For trackers that use boxes only."""

    def embed(self, image: np.ndarray, boxes_xyxy: Tensor) -> Tensor:
        return torch.zeros(len(boxes_xyxy), 1)


class RawFeatureEmbedder:
    """ImageNet ShuffleNetV2 stride-16 features, RoIAligned to 7x7 and flattened: no MASA training."""

    def __init__(self, weights: Path, resize: tuple[int, int]) -> None:
        from masa.adapter.backbones import load_imagenet_shufflenetv2

        self.backbone = load_imagenet_shufflenetv2(weights).eval()
        self.resize = resize

    @torch.inference_mode()
    def embed(self, image: np.ndarray, boxes_xyxy: Tensor) -> Tensor:
        images, (sx, sy) = preprocess_image(image, scale=self.resize)
        levels = self.backbone(images)
        stride = self.backbone.strides[1]
        rois = torch.cat([torch.zeros(len(boxes_xyxy), 1), boxes_xyxy.cpu() * torch.tensor([sx, sy, sx, sy])], 1)
        pooled = roi_align(levels[1], rois, 7, 1.0 / stride, 0, aligned=True)  # (N, C, 7, 7)
        return pooled.flatten(1)  # (N, C * 49)


def gt_identities(gt: Any, frame_idx: int, boxes_xyxy: Tensor) -> Tensor:
    """The ground-truth identity each box overlaps with IoU >= 0.5 (greedy by IoU, one box per
    identity; gt rows with the "consider" flag 0 are skipped), -1 for none; `Tensor[N] int64`."""
    truth = gt.get(frame_idx)
    truth = truth[truth.confidence > 0]
    ids = torch.full((len(boxes_xyxy),), -1, dtype=torch.int64)
    if len(truth) == 0 or len(boxes_xyxy) == 0:
        return ids
    ious = box_iou(boxes_xyxy.cpu().float(), truth.xyxy.float())  # (N, G)
    for _ in range(min(ious.shape)):
        i, j = divmod(int(ious.argmax()), ious.shape[1])
        if ious[i, j] < 0.5:
            break
        ids[i] = int(truth.data["source_id"][j])
        ious[i, :], ious[:, j] = -1, -1
    return ids


class OracleIdEmbedder:
    """Embeddings that are one-hot codes (times `scale`) of each box's ground-truth identity
    (`gt_identities`); other boxes get a code used once. Set `frame_idx` before `embed`."""

    def __init__(self, gt: Any, dim: int = 8192, scale: float = 10.0) -> None:
        self.gt, self.dim, self.scale = gt, dim, scale
        self.frame_idx = 0
        self.next_free = dim - 1  # codes of unmatched boxes count down from the top

    def embed(self, image: np.ndarray, boxes_xyxy: Tensor) -> Tensor:
        codes = gt_identities(self.gt, self.frame_idx, boxes_xyxy)
        for i in torch.nonzero(codes < 0).flatten().tolist():
            codes[i], self.next_free = self.next_free, self.next_free - 1
        return self.scale * torch.nn.functional.one_hot(codes, self.dim).float()


class NeighbourProbe:
    """Wraps an embedder and measures its frame-to-frame nearest-neighbour accuracy: how often a
    box's most cosine-similar box of the previous frame has the same ground-truth identity (boxes
    without one, or whose identity is absent from the previous frame, are not counted). It scores
    the embeddings alone, apart from any tracker policy. Set `frame_idx` before `embed`."""

    def __init__(self, embedder: Any, gt: Any) -> None:
        self.embedder, self.gt = embedder, gt
        self.frame_idx, self.hits, self.count = 0, 0, 0
        self.previous: tuple[int, Tensor, Tensor] | None = None

    def embed(self, image: np.ndarray, boxes_xyxy: Tensor) -> Tensor:
        embeddings = self.embedder.embed(image, boxes_xyxy)
        ids = gt_identities(self.gt, self.frame_idx, boxes_xyxy)
        unit = torch.nn.functional.normalize(embeddings.float().cpu(), dim=1)
        if self.previous is not None and self.previous[0] == self.frame_idx - 1 and len(unit):
            _, prev_unit, prev_ids = self.previous
            counted = (ids >= 0) & (ids[:, None] == prev_ids[None, :]).any(1)
            if counted.any():
                nearest = (unit[counted] @ prev_unit.T).argmax(1)
                self.hits += int((prev_ids[nearest] == ids[counted]).sum())
                self.count += int(counted.sum())
        self.previous = (self.frame_idx, unit, ids)
        return embeddings

    @property
    def accuracy(self) -> float:
        return self.hits / self.count if self.count else float("nan")


class SharedForwardEmbedder:
    """Runs a slow embedder once per frame for the boxes of every source (`tables`) and keeps
    every source's embeddings (small) for the later runs over the same frames (RoI embeddings do
    not depend on the other boxes). Set `frame_idx` before `embed`. `frames_per_second` counts
    the shared forwards only."""

    def __init__(self, embedder: Any, tables: list[Any]) -> None:
        self.embedder, self.tables = embedder, tables
        self.frame_idx, self.seconds, self.forwards = 0, 0.0, 0
        self.cache: dict[int, list[tuple[Tensor, Tensor]]] = {}

    def embed(self, image: np.ndarray, boxes_xyxy: Tensor) -> Tensor:
        if self.frame_idx not in self.cache:
            boxes = [table.get(self.frame_idx).xyxy for table in self.tables]
            start = time.perf_counter()
            embeddings = self.embedder.embed(image, torch.cat(boxes)).split([len(b) for b in boxes])
            self.seconds, self.forwards = self.seconds + time.perf_counter() - start, self.forwards + 1
            self.cache[self.frame_idx] = list(zip(boxes, embeddings))
        for cached_boxes, embeddings in self.cache[self.frame_idx]:
            if cached_boxes.shape == boxes_xyxy.shape and torch.equal(cached_boxes, boxes_xyxy.cpu()):
                return embeddings
        raise ValueError(f"frame {self.frame_idx}: boxes of no known source")

    @property
    def frames_per_second(self) -> float:
        return self.forwards / self.seconds


SWITCH_KINDS = ("new id", "another person's id", "an unmatched box's id")


def switch_sources(gt: Any, results: Any, num_frames: int) -> dict[str, int]:
    """Where identity switches come from, read from a results file alone (any tracker).

    Each frame's result boxes get the ground-truth identity they overlap (`gt_identities`); when
    a person's box next carries another tracker id than its previous one, the new id is counted
    as a fresh id, an id whose previous box was another person's, or an id whose previous box
    overlapped no person (a false positive or a loose box). The greedy IoU >= 0.5 matching makes
    the total close to, not equal to, TrackEval's IDSW."""
    counts = dict.fromkeys(SWITCH_KINDS, 0)
    person_to_id: dict[int, int] = {}
    id_to_person: dict[int, int] = {}
    for frame_idx in range(num_frames):
        boxes = results.get(frame_idx)
        people = gt_identities(gt, frame_idx, boxes.xyxy).tolist()
        track_ids = boxes.data["source_id"].tolist() if len(boxes) else []
        for person, track_id in zip(people, track_ids):
            previous = person_to_id.get(person)
            if person >= 0 and previous is not None and previous != track_id:
                owner = id_to_person.get(track_id)
                kind = 0 if owner is None else 1 if owner >= 0 else 2
                counts[SWITCH_KINDS[kind]] += 1
            if person >= 0:
                person_to_id[person] = track_id
        id_to_person.update(zip(track_ids, people))
    return counts


def _masa_tracker(fps: float) -> Any:
    from masa.tracking import build_tao_tracker_demo

    return build_tao_tracker_demo(fps=fps)


def run(name: str, frames: Any, table: Any, embedder: Any, tracker: Any, out: Path,
        gt: Any, refine: Any = None) -> tuple[dict[str, float], float]:
    from masa.eval import evaluate
    from masa.refine_pass import refine_results

    timer = StageTimer()
    results = out / name / "PETS09-S2L1.txt"
    probe = NeighbourProbe(embedder, gt)

    def detect(i: int, image: np.ndarray) -> Detections:
        for frame_aware in (probe, embedder):  # wrappers that read per-frame tables
            if hasattr(frame_aware, "frame_idx"):
                frame_aware.frame_idx = i
        return table.get(i)

    with MotTxtWriter(results) as writer:
        stream = track_frames(frames, detect, probe, tracker, timer=timer)
        if refine is not None:  # MasaTracker's offline refinement (timed as the "refine" stage)
            stream = refine_results(stream, tracker=tracker, frames=frames, config=refine, spool_dir=out,
                                    name=name, need_images=False, timer=timer)
        for result in stream:
            writer.write(result.frame_idx, result.detections)
    scores = evaluate(SEQ, results, format="mot", metrics=("hota", "clear", "identity")).combined
    busy = sum(v for k, v in timer.seconds.items() if k != "decode")
    switches = switch_sources(gt, read_mot_detections(results), len(frames))
    row = {**{k: scores[k] for k in METRICS}, "NN-acc": probe.accuracy, **switches}
    return row, timer.frames / busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lite", type=Path, default=REPO / "masa" / "assets" / "masa_lite.safetensors")
    parser.add_argument("--lite-resize", type=int, default=None,
                        help="inference side for the masa-lite rows (default: the checkpoint's own)")
    parser.add_argument("--raw-resize", type=int, default=None,
                        help="inference side for the raw-shufflenet rows (default: masa-lite's, same input)")
    parser.add_argument("--skip", nargs="*", default=[], help="rows to leave out")
    parser.add_argument("--threads", type=int, default=2)
    import peers  # benchmarks/peers.py (beside this script): roboflow trackers and BoxMOT rows
    peers.add_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from masa.adapter import build_masa_adapter_r50
    from masa.weights import load_adapter

    raw_side = args.raw_resize or args.lite_resize or load_adapter(args.lite).config.resize[0]
    frames = open_frames(SEQ / "img1")
    fps = frames.fps
    gt = read_mot_detections(SEQ / "gt" / "gt.txt")
    sources = {"det.txt": read_mot_detections(SEQ / "det" / "det.txt"), "gt boxes": gt}
    lite = lambda: load_adapter(args.lite, resize=args.lite_resize)  # noqa: E731
    rows: dict[str, Callable[[], tuple[Any, ...]]] = {
        **fusion_rows.masa_rows(fps, {
            "lite": lite, "raw": lambda: RawFeatureEmbedder(SHUFFLENET, (raw_side,) * 2),
            "motion": NoEmbedding, "oracle": lambda: OracleIdEmbedder(gt)}),
        "iou": lambda: (NoEmbedding(), IouTracker()),
        "bytetrack": lambda: (NoEmbedding(), ByteTrackAdapter(fps)),
        "raw-shufflenet": lambda: (RawFeatureEmbedder(SHUFFLENET, (raw_side,) * 2), _masa_tracker(fps)),
        "masa-lite": lambda: (lite(), _masa_tracker(fps)),
        "r50-random": lambda: (r50_random(), _masa_tracker(fps)),
        "oracle-ids": lambda: (OracleIdEmbedder(gt), _masa_tracker(fps)),
    }
    shared_r50: list[SharedForwardEmbedder] = []

    def r50_random() -> SharedForwardEmbedder:  # one forward per frame serves both sources
        if not shared_r50:
            torch.manual_seed(0)
            shared_r50.append(SharedForwardEmbedder(build_masa_adapter_r50().eval(), list(sources.values())))
        return shared_r50[0]

    header = "| boxes | tracker | " + " | ".join(METRICS) + " | NN-acc | frames/s |"
    lines = [header, "|" + "---|" * (len(METRICS) + 4)]
    switch_lines = ["| boxes | tracker | " + " | ".join(SWITCH_KINDS) + " |",
                    "|" + "---|" * (len(SWITCH_KINDS) + 2)]
    with tempfile.TemporaryDirectory() as tmp:
        for source_name, table in sources.items():
            for row, build in rows.items():
                if row in args.skip:
                    continue
                start = time.perf_counter()
                embedder, tracker, *refine = build()
                scores, speed = run(f"{source_name}-{row}", frames, table, embedder, tracker, Path(tmp), gt,
                                    *refine)
                cells = [f"{100 * scores[k]:.1f}" if k != "IDSW" else f"{int(scores[k])}" for k in METRICS]
                if isinstance(embedder, SharedForwardEmbedder):  # time of the shared forwards
                    speed = embedder.frames_per_second
                nn_acc = "-" if isinstance(embedder, NoEmbedding) else f"{100 * scores['NN-acc']:.1f}"
                lines.append(f"| {source_name} | {row} | " + " | ".join(cells) + f" | {nn_acc} | {speed:.1f} |")
                print(lines[-1], f"({time.perf_counter() - start:.0f} s)", flush=True)
                counts = " | ".join(str(scores[k]) for k in SWITCH_KINDS)
                switch_lines.append(f"| {source_name} | {row} | {counts} |")
    lines += peers.table_rows(args, METRICS)
    print("\n".join(lines))
    print("\nA person's box takes over (switch_sources):")
    print("\n".join(switch_lines))
    if "held-out" not in args.skip:
        print("\nHeld out (nothing tuned here): TUD sequences' own Faster R-CNN boxes, motion only")
        held_out = {"masa+motion": _refined_masa, "iou": lambda fps: IouTracker(),
                    "bytetrack": lambda fps: ByteTrackAdapter(fps)}
        held_lines = fusion_rows.held_out_rows({k: v for k, v in held_out.items() if k not in args.skip}, METRICS)
        print("\n".join(["| sequence | tracker | " + " | ".join(METRICS) + " |",
                         "|" + "---|" * (len(METRICS) + 2), *held_lines]))


def _refined_masa(fps: float) -> Any:
    tracker = fusion_rows.masa_tracker(fps)
    tracker.refine = fusion_rows.RefineConfig()
    return tracker


if __name__ == "__main__":
    main()
