"""A plain MOTChallenge `gt.txt` (no sequence folder, no `seqinfo.ini`) scored against one results
file, e.g. `masa eval --gt samples/shapes_gt.txt --results masa_out/shapes.txt`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from masa.errors import InputError
from masa.eval.readers import _mot_table, _read_txt, check_unique_ids
from masa.eval.similarity import EvalDataset, RawSequence

__all__ = ["read_mot_file"]


def read_mot_file(
    gt: str | Path, results: str | Path, *, num_frames: int | None = None
) -> EvalDataset:
    """Reads a ground-truth txt file and a results txt file as one MOTChallenge sequence.

    Without a sequence folder the benchmark is unknown, so the file is scored class-agnostic, as
    TrackEval scores 2DMOT2015: every ground-truth row whose flag (column 7) is not 0 is an object,
    whatever its class column holds (MOT17/MOT20 class filtering needs the MOTChallenge folder).
    The sequence takes the results file's name.

    Args:
        gt: ground truth, `frame,id,x,y,w,h,flag[,class,...]` rows with 1-based frames.
        results: tracks, `frame,id,x,y,w,h[,score,...]` rows with 1-based frames.
        num_frames: length of the sequence (`seqLength`); default: the last frame in either file.

    Raises:
        InputError: malformed lines, a frame past `num_frames`, an id twice in one frame.
    """
    gt, results = Path(gt), Path(results)
    for path in (gt, results):
        if not path.is_file():
            raise FileNotFoundError(
                f"{'ground truth' if path == gt else 'results'} not found: {path}"
            )
    if num_frames is not None and num_frames < 1:
        raise InputError(f"the number of frames must be >= 1, but got {num_frames}")
    gt_rows, tr_rows = _read_txt(gt, 7), _read_txt(results, 6)
    frames = np.concatenate([gt_rows[:, 0], tr_rows[:, 0]])
    last = frames[np.isfinite(frames)].max(initial=0)  # NaN rows are _mot_table's error to report
    length = num_frames if num_frames is not None else int(min(last, 2**31))
    if length < 1:
        raise InputError(f"{gt} and {results} have no rows: nothing to score")
    name = results.stem
    source = "--frames" if num_frames is not None else "the last frame in either file"
    gt_table = _mot_table(gt_rows, gt, length, True, source)
    tr_table = _mot_table(tr_rows, results, length, False, source)
    check_unique_ids(gt_table, "ground truth", name)
    check_unique_ids(tr_table, "results", name)
    sequence = RawSequence(name, length, gt_table, tr_table, benchmark="MOT15")
    return EvalDataset("mot", (sequence,), {"pedestrian": 1})
