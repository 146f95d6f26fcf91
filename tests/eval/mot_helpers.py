"""Test helpers: seeded perturbations of MOTChallenge ground truth into results; trackeval runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
MOT_ROOT = SHARED / "data" / "mot"
MOT_SEQUENCES = {
    "PETS09-S2L1": MOT_ROOT / "PETS09-S2L1",
    "TUD-Campus": MOT_ROOT / "gt_only_2dmot2015" / "TUD-Campus",
    "TUD-Stadtmitte": MOT_ROOT / "gt_only_2dmot2015" / "TUD-Stadtmitte",
}
KINDS = ("perfect", "drop", "swap", "jitter", "fp", "all")


def load_gt(seq_dir: Path) -> np.ndarray:
    return np.loadtxt(seq_dir / "gt" / "gt.txt", delimiter=",", ndmin=2)


def perturb(gt: np.ndarray, kind: str, seed: int) -> np.ndarray:
    """Rows `frame,id,x,y,w,h,conf,-1,-1,-1` made from gt rows by one kind of error (or "all")."""
    rng = np.random.default_rng(seed)
    if kind != "all":  # "all" also keeps predictions on zero-marked (ignored) gt, which count as FP
        gt = gt[gt[:, 6].astype(int) != 0]
    rows = gt[:, :6].copy()
    ids = rows[:, 1].astype(int)
    frames = rows[:, 0].astype(int)
    if kind in ("drop", "all"):  # random misses, plus one long gap in one track
        keep = rng.random(len(rows)) > 0.15
        victim = rng.choice(np.unique(ids))
        span = frames[ids == victim]
        lo = rng.integers(span.min(), span.max() + 1)
        keep &= ~((ids == victim) & (frames >= lo) & (frames < lo + 12))
        rows, ids, frames = rows[keep], ids[keep], frames[keep]
    if kind in (
        "swap",
        "all",
    ):  # two tracks exchange ids from some frame on; one track is split in two
        uniq = np.unique(ids)
        a, b = rng.choice(uniq, 2, replace=False)
        t0 = rng.integers(frames.min(), frames.max() + 1)
        after = frames >= t0
        new = ids.copy()
        new[after & (ids == a)], new[after & (ids == b)] = b, a
        c = rng.choice(uniq)
        span = frames[ids == c]
        new[(ids == c) & (frames > np.median(span))] = uniq.max() + 1
        ids = new
    if kind in ("jitter", "all"):  # localisation noise proportional to box size
        wh = rows[:, 4:6].copy()
        rows[:, 2:4] += rng.normal(0, 0.08, (len(rows), 2)) * wh
        rows[:, 4:6] = wh * np.exp(rng.normal(0, 0.08, (len(rows), 2)))
    out = np.column_stack([frames, ids, rows[:, 2:6]])
    if kind in ("fp", "all"):  # clutter: short false tracks at random places
        extra, next_id = [], ids.max() + 100
        fmin, fmax = frames.min(), frames.max()
        for _ in range(max(3, len(rows) // 60)):
            start = rng.integers(fmin, fmax + 1)
            x, y = rng.uniform(0, 600), rng.uniform(0, 400)
            w, h = rng.uniform(20, 60), rng.uniform(50, 120)
            for t in range(start, min(fmax, start + rng.integers(1, 15)) + 1):
                x, y = x + rng.normal(0, 3), y + rng.normal(0, 3)
                extra.append([t, next_id, x, y, w, h])
            next_id += 1
        out = np.vstack([out, np.array(extra)])
    out = out[np.argsort(out[:, 0], kind="stable")]
    conf = rng.uniform(0.3, 1.0, (len(out), 1))
    return np.hstack([out, conf, -np.ones((len(out), 3))])


def write_results(rows: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(
        path,
        rows,
        fmt=["%d", "%d", "%.3f", "%.3f", "%.3f", "%.3f", "%.4f", "%d", "%d", "%d"],
        delimiter=",",
    )


def trackeval_mot(
    gt_root: Path, trackers_root: Path, tracker: str, sequences, benchmark: str = "MOT15"
):
    """trackeval 1.3.0's MotChallenge2DBox: HOTA, CLEAR, Identity -> `res[seq]['pedestrian']`."""
    import contextlib
    import io

    import trackeval

    evaluator = trackeval.Evaluator(
        {
            "USE_PARALLEL": False,
            "PRINT_RESULTS": False,
            "PRINT_CONFIG": False,
            "TIME_PROGRESS": False,
            "OUTPUT_SUMMARY": False,
            "OUTPUT_DETAILED": False,
            "PLOT_CURVES": False,
            "LOG_ON_ERROR": None,
        }
    )
    dataset = trackeval.datasets.MotChallenge2DBox(
        {
            "GT_FOLDER": str(gt_root),
            "TRACKERS_FOLDER": str(trackers_root),
            "TRACKERS_TO_EVAL": [tracker],
            "BENCHMARK": benchmark,
            "SKIP_SPLIT_FOL": True,
            "SEQ_INFO": {s: None for s in sequences},
            "PRINT_CONFIG": False,
        }
    )
    metrics = [
        trackeval.metrics.HOTA(),
        trackeval.metrics.CLEAR({"PRINT_CONFIG": False}),
        trackeval.metrics.Identity({"PRINT_CONFIG": False}),
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        res, _ = evaluator.evaluate([dataset], metrics)
    return res["MotChallenge2DBox"][tracker]


def assert_same_as_trackeval(
    ours: dict, ref_by_metric: dict, where: str, atol: float = 1e-9
) -> int:
    """Every TrackEval field present in `ours` agrees within `atol`; returns how many agreed."""
    checked = 0
    for fields in ref_by_metric.values():
        for key, value in fields.items():
            if key not in ours:
                continue
            assert abs(float(np.mean(value)) - ours[key]) <= atol, (
                where,
                key,
                float(np.mean(value)),
                ours[key],
            )
            checked += 1
    return checked
