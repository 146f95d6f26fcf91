"""Times `masa.eval.evaluate` against trackeval 1.3.0 on the same MOTChallenge inputs and checks
that the numbers are equal.

Inputs: the PETS09-S2L1, TUD-Campus and TUD-Stadtmitte ground truth of ../shared/data/mot, scored
against seeded perturbations of it (dropped boxes, swapped ids, jitter, false positives, and all of
them at once). Both sides read the files from disk and compute HOTA, CLEAR and Identity for every
sequence and combined.

    python benchmarks/eval_speed.py [--seeds 3] [--repeats 3]

Needs `pip install --no-deps trackeval==1.3.0`. Prints both times and the ratio; fails (assertion)
when a number differs by more than 1e-9.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from masa.eval import evaluate  # noqa: E402
from tests.eval.mot_helpers import (  # noqa: E402
    KINDS,
    MOT_SEQUENCES,
    assert_same_as_trackeval,
    load_gt,
    perturb,
    trackeval_mot,
    write_results,
)


def _best_of(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="perturbation seeds per kind")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs per tracker (best is kept)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "gt").mkdir()
        for name, seq_dir in MOT_SEQUENCES.items():
            (root / "gt" / name).symlink_to(seq_dir, target_is_directory=True)
        trackers = [f"{kind}-{seed}" for kind in KINDS for seed in range(args.seeds)]
        num_boxes = 0
        for tracker in trackers:
            kind, seed = tracker.rsplit("-", 1)
            for name, seq_dir in MOT_SEQUENCES.items():
                rows = perturb(load_gt(seq_dir), kind, int(seed))
                num_boxes += len(rows)
                write_results(rows, root / "trackers" / tracker / "data" / f"{name}.txt")

        # warm-up (imports, caches) for both, not timed
        trackeval_mot(root / "gt", root / "trackers", trackers[0], MOT_SEQUENCES)
        evaluate(root / "gt", root / "trackers" / trackers[0] / "data", "mot")

        t_ref = t_ours = 0.0
        checked = 0
        for tracker in trackers:
            dt_ref, ref = _best_of(
                partial(trackeval_mot, root / "gt", root / "trackers", tracker, MOT_SEQUENCES),
                args.repeats,
            )
            dt_ours, ours = _best_of(
                partial(evaluate, root / "gt", root / "trackers" / tracker / "data", "mot"),
                args.repeats,
            )
            t_ref, t_ours = t_ref + dt_ref, t_ours + dt_ours
            for seq in MOT_SEQUENCES:
                checked += assert_same_as_trackeval(
                    ours.per_sequence[seq], ref[seq]["pedestrian"], seq
                )
            checked += assert_same_as_trackeval(
                ours.combined, ref["COMBINED_SEQ"]["pedestrian"], "combined"
            )
            c = ours.combined
            print(
                f"{tracker:10s} trackeval {dt_ref * 1e3:7.1f} ms   masa {dt_ours * 1e3:6.1f} ms   "
                f"x{dt_ref / dt_ours:4.1f}   HOTA {c['HOTA']:.6f}  MOTA {c['MOTA']:.6f}  "
                f"IDF1 {c['IDF1']:.6f}"
            )

    print(
        f"\n{len(trackers)} result sets x {len(MOT_SEQUENCES)} sequences "
        f"({num_boxes} predicted boxes), best of {args.repeats} runs each"
    )
    print(f"trackeval 1.3.0: {t_ref:.3f} s")
    print(f"masa eval:       {t_ours:.3f} s")
    print(f"ratio:           {t_ref / t_ours:.2f}x faster; {checked} numbers equal to within 1e-9")
    return 0


if __name__ == "__main__":
    sys.exit(main())
