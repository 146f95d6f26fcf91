"""Runs peer trackers (roboflow `trackers`, BoxMOT) on stored boxes; executed by the peer venv.

`benchmarks/peers.py` builds a separate venv with the peers (they pull `opencv-python`, which
would clobber our `opencv-python-headless`) and runs this file with that venv's python. It must
not import masa: it reads everything from the inputs file `peers.py` writes in our venv (every
detection box with its frame, score and embedding, in `det.txt` order) and writes one
MOTChallenge txt per tracker (`frame,id,x,y,w,h,score,-1,-1,-1`) plus `summary.json` (per tracker:
seconds spent in `update`, frames, boxes written and how many of them are exactly a detector box).

Appearance trackers get the stored embeddings through BoxMOT's `reid_model=` hook:
`StoredEmbeddings.get_features(boxes, image)` looks each box up among its frame's stored boxes.

    python benchmarks/_peer_runner.py INPUTS.npz OUT_DIR [--trackers NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

BOX_TOLERANCE = 0.01  # px; stored float64 boxes reach BoxMOT as float32 (~1e-4 px off)


class StoredEmbeddings:
    """Embeddings computed elsewhere, served to BoxMOT through `get_features(boxes, image)`.

    Set `frame` to the current frame before each tracker update; each queried box is matched to
    the nearest stored box of that frame (largest coordinate difference), which must lie within
    `tolerance` pixels.

    Args:
        frames: `(M,)` frame number of each stored box.
        boxes: `(M, 4)` xyxy boxes.
        embeddings: `(M, D)` one embedding per box.
        tolerance: largest accepted coordinate difference in pixels.
    """

    def __init__(self, frames: np.ndarray, boxes: np.ndarray, embeddings: np.ndarray,
                 tolerance: float = BOX_TOLERANCE) -> None:
        if not len(frames) == len(boxes) == len(embeddings):
            raise ValueError(f"frames, boxes and embeddings differ in length: "
                             f"{len(frames)}, {len(boxes)}, {len(embeddings)}")
        self.tolerance = tolerance
        self.frame = -1
        self._rows = {int(f): np.flatnonzero(frames == f) for f in np.unique(frames)}
        self._boxes = np.asarray(boxes, np.float64)
        self._embeddings = np.asarray(embeddings, np.float32)

    def get_features(self, boxes: np.ndarray, image: Any = None) -> np.ndarray:
        """The stored embeddings of `boxes` (`(N, 4)` xyxy) in frame `self.frame`: `(N, D)`.

        Raises:
            KeyError: a box matches no stored box of the frame within the tolerance.
        """
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        rows = self._rows.get(self.frame, np.zeros(0, np.int64))
        if len(boxes) == 0:
            return np.zeros((0, self._embeddings.shape[1]), np.float32)
        if len(rows) == 0:
            raise KeyError(f"frame {self.frame}: no stored boxes")
        gap = np.abs(boxes[:, None, :] - self._boxes[rows][None, :, :]).max(2)  # (N, R)
        nearest = gap.argmin(1)
        worst = int(gap[np.arange(len(boxes)), nearest].argmax())
        if gap[worst, nearest[worst]] > self.tolerance:
            raise KeyError(f"frame {self.frame}: box {boxes[worst].tolist()} is "
                           f"{gap[worst, nearest[worst]]:.3g} px from every stored box")
        return self._embeddings[rows[nearest]]


def mot_lines(frame: int, ids: Iterable[int], xyxy: np.ndarray,
              scores: Iterable[float]) -> list[str]:
    """MOTChallenge lines `frame,id,x,y,w,h,score,-1,-1,-1` (boxes 2 decimals, scores 4)."""
    return [f"{frame},{int(i)},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{s:.4f},-1,-1,-1\n"
            for i, (x1, y1, x2, y2), s in zip(ids, np.asarray(xyxy, float).tolist(), scores)]


def write_atomic(path: Path, lines: Iterable[str]) -> None:
    """Writes `lines` to `path` through a temporary file in the same folder, then renames."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.writelines(lines)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def results_path(out: Path, tracker: str, sequence: str) -> Path:
    """Where a tracker's MOTChallenge txt goes: `out/<name as a folder name>/<sequence>.txt`."""
    return out / re.sub(r"[^A-Za-z0-9]+", "-", tracker).strip("-") / f"{sequence}.txt"


def detector_box_count(written: np.ndarray, given: np.ndarray,
                       tolerance: float = BOX_TOLERANCE) -> int:
    """How many `written` boxes (`(N, 4)`) equal one of the frame's `given` boxes (`(M, 4)`)."""
    if len(written) == 0 or len(given) == 0:
        return 0
    gap = np.abs(np.asarray(written, float)[:, None] - np.asarray(given, float)[None]).max(2)
    return int((gap.min(1) <= tolerance).sum())


def _roboflow(name: str, **options: Any) -> Callable[[float, Any], Any]:
    def build(fps: float, reid: Any) -> Any:
        import trackers

        return getattr(trackers, name)(frame_rate=fps, **options)

    return build


def _boxmot(name: str, frame_rate: bool = False, reid: bool = False,
            **options: Any) -> Callable[[float, Any], Any]:
    def build(fps: float, stored: Any) -> Any:
        import boxmot

        extra = {"frame_rate": int(round(fps))} if frame_rate else {}
        if reid:
            extra["reid_model"] = stored
        return getattr(boxmot, name)(**extra, **options)

    return build


# Each library's defaults, except: camera-motion compensation off wherever the constructor has a
# switch (a static camera; on PETS09 BoxMOT's default ECC costs Deep OC-SORT 8.8 HOTA and
# HybridSort 2.9; StrongSORT has no switch and keeps ECC), embeddings off for the motion-only rows
# and on for the `+emb` rows (BoostTrack's default is off).
PEERS: dict[str, Callable[[float, Any], Any]] = {
    "trackers SORT": _roboflow("SORTTracker"),
    "trackers ByteTrack": _roboflow("ByteTrackTracker"),
    "trackers OC-SORT": _roboflow("OCSORTTracker"),
    "trackers BoT-SORT": _roboflow("BoTSORTTracker", enable_cmc=False),
    "BoxMOT ByteTrack": _boxmot("ByteTrack", frame_rate=True),
    "BoxMOT OC-SORT": _boxmot("OcSort"),
    "BoxMOT BoT-SORT": _boxmot("BotSort", frame_rate=True, use_embeddings=False, use_cmc=False),
    "BoxMOT BoT-SORT +emb": _boxmot("BotSort", frame_rate=True, reid=True, use_cmc=False),
    "BoxMOT Deep OC-SORT +emb": _boxmot("DeepOcSort", reid=True, cmc_off=True),
    "BoxMOT StrongSORT +emb": _boxmot("StrongSort", reid=True),
    "BoxMOT BoostTrack +emb": _boxmot("BoostTrack", reid=True, use_embeddings=True, use_cmc=False),
    "BoxMOT HybridSort +emb": _boxmot("HybridSort", reid=True, cmc_method=None),
}


def _update(tracker: Any, frame_boxes: np.ndarray, scores: np.ndarray,
            image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One tracker step; the written tracks as (ids, xyxy, scores)."""
    if type(tracker).__module__.startswith("trackers."):
        import supervision as sv

        detections = sv.Detections(xyxy=frame_boxes.astype(np.float32),
                                   confidence=scores.astype(np.float32),
                                   class_id=np.zeros(len(scores), int))
        out = tracker.update(detections)
        keep = out.tracker_id >= 0
        return out.tracker_id[keep], out.xyxy[keep], out.confidence[keep]
    dets = np.column_stack([frame_boxes, scores, np.zeros(len(scores))]).astype(np.float32)
    out = tracker.update(dets.reshape(-1, 6), image)  # (K, 8) x1 y1 x2 y2 id conf cls det_ind
    return out[:, 4].astype(int), out[:, :4], out[:, 5]


def run_tracker(name: str, inputs: dict[str, Any], images: list[Path], out: Path) -> dict[str, Any]:
    """Runs one peer over every frame and writes `out/<name>/<sequence>.txt` (see module doc)."""
    import cv2

    stored = StoredEmbeddings(inputs["frames"], inputs["boxes"], inputs["embeddings"])
    tracker = PEERS[name](float(inputs["fps"]), stored)
    lines: list[str] = []
    seconds, written, from_detector = 0.0, 0, 0
    for frame, path in enumerate(images, start=1):
        rows = inputs["frames"] == frame
        image = cv2.imread(str(path))  # BGR, as BoxMOT expects
        stored.frame = frame
        start = time.perf_counter()
        ids, xyxy, scores = _update(tracker, inputs["boxes"][rows], inputs["scores"][rows], image)
        seconds += time.perf_counter() - start
        lines += mot_lines(frame, ids, xyxy, scores.tolist())
        written += len(ids)
        from_detector += detector_box_count(xyxy, inputs["boxes"][rows])
    write_atomic(results_path(out, name, inputs["sequence"]), lines)
    return {"seconds": seconds, "frames": len(images), "written": written,
            "detector_boxes": from_detector}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", type=Path, help="npz from peers.py (see `peers.write_inputs`)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--trackers", nargs="*", default=list(PEERS), choices=list(PEERS))
    args = parser.parse_args(argv)
    with np.load(args.inputs, allow_pickle=False) as data:
        inputs = {key: data[key] for key in data.files}
    inputs["sequence"] = str(inputs["sequence"])
    images = [Path(str(path)) for path in inputs["images"]]
    summary = {}
    for name in args.trackers:
        try:
            summary[name] = run_tracker(name, inputs, images, args.out)
        except Exception as error:  # noqa: BLE001 - one broken peer must not hide the others
            summary[name] = {"error": f"{type(error).__name__}: {error}"}
        print(name, summary[name], flush=True)
    write_atomic(args.out / "summary.json", [json.dumps(summary, indent=1)])


if __name__ == "__main__":
    main()
