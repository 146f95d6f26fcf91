"""Peer trackers on the association benchmark's boxes: roboflow `trackers` and BoxMOT.

The peers pull `opencv-python`, which overwrites our `opencv-python-headless`, so they live in a
separate venv this module builds once under `~/.cache/masa-bench/peers-<hash of the pins>`
(`PINNED`; torch comes from the local wheel index). Every peer gets the same boxes: every row of
the sequence's `det/det.txt`, at the sequence's frame rate, with each library's defaults
(BoT-SORT's camera-motion compensation off: a static camera, and roboflow's needs frames):

- motion only: roboflow `trackers` SORT, ByteTrack, OC-SORT, BoT-SORT; BoxMOT ByteTrack,
  OC-SORT, BoT-SORT (embeddings off);
- appearance (`+emb`): BoxMOT BoT-SORT, Deep OC-SORT, StrongSORT, BoostTrack, HybridSort fed OUR
  embeddings (masa-lite by default, `--peer-embeddings CHECKPOINT` for another adapter) through
  BoxMOT's `reid_model=` hook. They are computed here, in our venv, and stored with the boxes;
  the peer venv looks each box up (`_peer_runner.StoredEmbeddings`), so masa is not installed
  there.

`_peer_runner.py`, run by the peer venv's python, writes one MOTChallenge txt per tracker; this
module scores them with `masa eval` (as `association.py` does). Each row names the boxes the peer
writes: the detector's own (`det boxes`) or its Kalman estimate (`KF boxes`), measured per row.
`association.py --peers` (the default) appends these rows to its table; alone:

    python benchmarks/peers.py [--peer-embeddings CHECKPOINT] [--peer-trackers NAME ...]
"""

from __future__ import annotations

import argparse
import configparser
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

import _peer_runner

REPO = Path(__file__).resolve().parents[1]
SEQ = REPO.parent / "shared" / "data" / "mot" / "PETS09-S2L1"
RUNNER = Path(_peer_runner.__file__).resolve()
PINNED = ("trackers==2.6.1", "boxmot==25.0.0", "torch==2.14.1", "torchvision==0.29.1")
CACHE = Path.home() / ".cache" / "masa-bench"
CHECK = ("import boxmot, cv2, supervision, trackers; from importlib.metadata import version; "
         "boxmot.BotSort, trackers.BoTSORTTracker; print(version('boxmot'), version('trackers'))")


def venv_dir(cache: Path = CACHE) -> Path:
    """Where the peer venv for `PINNED` and this Python version lives."""
    key = "\n".join((*PINNED, f"python {sys.version_info.major}.{sys.version_info.minor}"))
    return cache / f"peers-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def ensure_venv(cache: Path = CACHE, log: Callable[[str], None] = print) -> Path | None:
    """The peer venv's python, building the venv first if it is not there (2-4 min here, 6.4 GB).

    It is built in a temporary folder and renamed when its imports work, so a half-built venv is
    never used. Returns None (and logs why) when it cannot be built, e.g. offline.
    """
    target = venv_dir(cache)
    python = target / "bin" / "python"
    if (target / ".ready").is_file():
        return python
    cache.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=cache, prefix=f"{target.name}.building-"))
    log(f"peers: building {target} ({', '.join(PINNED)}; a few minutes, once)")
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(building)], check=True,
                       capture_output=True, text=True)
        pip = [str(building / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, *PINNED], check=True, capture_output=True, text=True)
        check = subprocess.run([str(building / "bin" / "python"), "-c", CHECK], check=True,
                               capture_output=True, text=True)
        (building / ".ready").write_text("\n".join(PINNED) + "\n")
        if (target / ".ready").is_file():  # another run finished first
            shutil.rmtree(building)
            return python
        shutil.rmtree(target, ignore_errors=True)  # a half-built venv of an interrupted run
        os.replace(building, target)
        log(f"peers: venv ready (boxmot, trackers: {check.stdout.strip()})")
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or ""
        log(f"peers: cannot build the venv: {error} {detail.strip()[-500:]}")
        shutil.rmtree(building, ignore_errors=True)
        return None
    return python


def masa_embedder(checkpoint: str | Path = "masa_lite", resize: int | None = None) -> Any:
    """The embedding source of the appearance rows: an adapter (`embed(image, boxes)`)."""
    from masa.weights import load_adapter

    return load_adapter(checkpoint, resize=resize)


def _checkpoint(value: str) -> str:
    """`--peer-embeddings`: a checkpoint file or known name, checked when parsed."""
    from masa.weights import resolve_checkpoint

    try:
        resolve_checkpoint(value)
    except (OSError, ValueError) as error:
        raise argparse.ArgumentTypeError(str(error)) from error
    return value


def write_inputs(path: Path, seq: Path, embedder: Any) -> None:
    """Stores what the peer runner reads: every `det.txt` box with its frame (1-based), score and
    embedding (`embedder.embed(rgb_image, boxes_xyxy) -> (N, D)`), in `det.txt` order, plus the
    image files, sequence name and frame rate."""
    from masa.io import open_frames, read_mot_detections

    table = read_mot_detections(seq / "det" / "det.txt")
    frames = open_frames(seq / "img1")
    seqinfo = configparser.ConfigParser()
    seqinfo.read(seq / "seqinfo.ini")
    images = sorted((seq / "img1").glob(f"*{seqinfo.get('Sequence', 'imExt')}"))
    if len(images) != len(frames):
        raise ValueError(f"{seq / 'img1'}: {len(images)} image files but {len(frames)} frames")
    keys = ("frames", "boxes", "scores", "embeddings")
    columns: dict[str, list[np.ndarray]] = {key: [] for key in keys}
    with torch.inference_mode():
        for frame in frames:
            detections = table.get(frame.frame_idx)
            if len(detections) == 0:
                continue
            embeddings = embedder.embed(frame.image, detections.xyxy).float().cpu()
            columns["frames"].append(np.full(len(detections), frame.frame_idx + 1))
            columns["boxes"].append(detections.xyxy.double().cpu().numpy())
            columns["scores"].append(detections.confidence.double().cpu().numpy())
            columns["embeddings"].append(embeddings.numpy().reshape(len(detections), -1))
    arrays = {key: np.concatenate(values) for key, values in columns.items()}
    with open(path, "wb") as file:
        np.savez(file, **arrays, images=np.array([str(p) for p in images]),
                 sequence=np.array(seq.name), fps=np.array(frames.fps))


def run_peers(python: Path, seq: Path, embedder: Any, out: Path, trackers: list[str] | None = None,
              log: Callable[[str], None] = print) -> dict[str, dict[str, Any]]:
    """Runs the peers in their venv and scores them; `{tracker: row}`.

    A row holds the `masa eval` metrics, `boxes` (`boxes_label`), `frames/s` (the tracker's
    `update` alone), or only `error` when a peer failed.
    """
    from masa.eval import evaluate

    inputs = out / "inputs.npz"
    write_inputs(inputs, seq, embedder)
    command = [str(python), str(RUNNER), str(inputs), str(out)]
    if trackers:
        command += ["--trackers", *trackers]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"peer runner failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    rows: dict[str, dict[str, Any]] = {}
    for name, run in summary.items():
        if "error" in run:
            log(f"peers: {name} failed: {run['error']}")
            rows[name] = {"error": run["error"]}
            continue
        results = _peer_runner.results_path(out, name, seq.name)
        metrics = ("hota", "clear", "identity")
        scores = evaluate(seq, results, format="mot", metrics=metrics).combined
        rows[name] = {**scores, "boxes": boxes_label(run["detector_boxes"], run["written"]),
                      "frames/s": run["frames"] / run["seconds"]}
    return rows


def boxes_label(detector_boxes: int, written: int) -> str:
    """Which boxes a peer wrote: `det boxes` when all are detector boxes, else `KF boxes` with the
    share that still is one (a Kalman estimate rarely equals the detection to 0.01 px)."""
    if detector_boxes == written:
        return "det boxes"
    return f"KF boxes, {detector_boxes / written:.0%} det"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The peer options `association.py` shares."""
    parser.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True,
                        help="add the peer trackers' rows (builds their venv once, a few minutes; "
                             "skipped when it cannot be built)")
    parser.add_argument("--peer-embeddings", type=_checkpoint, default=None,
                        help="adapter checkpoint (name or path) whose embeddings the BoxMOT "
                             "appearance trackers get (default: --lite's where given, at "
                             "--lite-resize, else masa_lite)")
    parser.add_argument("--peer-trackers", nargs="*", default=None, metavar="NAME",
                        choices=list(_peer_runner.PEERS),
                        help="run only these peers (names as in the table)")


def format_row(source: str, name: str, row: dict[str, Any], metrics: tuple[str, ...]) -> str:
    """One markdown row shaped like `association.py`'s (NN-acc `-`: no embedding probe here)."""
    if "error" in row:
        return f"| {source} | {name} | " + " | ".join("-" for _ in metrics) + " | - | - |"
    cells = [f"{int(row[k])}" if k == "IDSW" else f"{100 * row[k]:.1f}" for k in metrics]
    label = f"{name} ({row['boxes']})"
    return f"| {source} | {label} | " + " | ".join(cells) + f" | - | {row['frames/s']:.1f} |"


def table_rows(args: argparse.Namespace, metrics: tuple[str, ...], seq: Path = SEQ,
               log: Callable[[str], None] = print) -> list[str]:
    """The peer rows for `association.py`'s table; none (and a logged reason) when `--no-peers`,
    when the venv cannot be built or when the run fails, so the rest of the table survives."""
    if not args.peers:
        return []
    python = ensure_venv(log=log)
    if python is None:
        return []
    start = time.perf_counter()
    checkpoint, resize = args.peer_embeddings, None
    if checkpoint is None:  # association.py's masa-lite rows' model, else the packaged one
        checkpoint = getattr(args, "lite", None) or "masa_lite"
        resize = getattr(args, "lite_resize", None)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            embedder = masa_embedder(checkpoint, resize)
            rows = run_peers(python, seq, embedder, Path(tmp), args.peer_trackers, log=log)
    except Exception as error:  # noqa: BLE001 - the peers must not cost the table computed before
        log(f"peers: no rows: {type(error).__name__}: {error}")
        return []
    lines = [format_row("det.txt", name, row, metrics) for name, row in rows.items()]
    log("\n".join(lines) + f"\npeers: {len(rows)} trackers in {time.perf_counter() - start:.0f} s "
        f"(+emb rows: embeddings of {checkpoint}; frames/s: the peer's update alone)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    metrics = ("HOTA", "AssA", "DetA", "IDF1", "IDSW", "MOTA")
    lines = table_rows(args, metrics, log=lambda line: print(line, file=sys.stderr, flush=True))
    print("| boxes | tracker | " + " | ".join(metrics) + " | NN-acc | frames/s |")
    print("|" + "---|" * (len(metrics) + 4))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
