"""Readers for MOTChallenge, TAO (COCO-video) and BDD100K box-track data, and their preprocessing.

References (what each step reproduces):
    trackeval/datasets/mot_challenge_2d_box.py
        :176-289  MOT txt: frame,id,x,y,w,h,conf (the "consider" flag in gt),class,...
        :324-435  distractor removal; zero-marked and non-pedestrian gt dropped
    trackeval/datasets/bdd100k.py
        :99-174   scalabel frames; crowd and distractor gt become ignore regions
        :237-289  unmatched predictions more than 50 % inside an ignore region are removed
    TAO follows teta/datasets/tao.py; that reader lives in `masa.eval.teta.read_tao`.
Frames are 0-based in memory (MOT files are 1-based on disk).
"""

from __future__ import annotations

import configparser
import functools
import json
import os
from pathlib import Path

import numpy as np

from masa.errors import InputError
from masa.eval.similarity import (
    EPS,
    DetectionTable,
    EvalDataset,
    FramePairs,
    RawSequence,
    assign_per_frame,
    box_ioa_pairs,
    frame_pairs,
    mask_ioa,
    pairs_for,
    xywh_to_xyxy,
)

__all__ = [
    "BDD_CLASSES",
    "DetectionTable",
    "EvalDataset",
    "RawSequence",
    "pairs_for",
    "preprocess_bdd",
    "preprocess_mot",
    "read_bdd",
    "read_mot",
]

_MOT_CLASS_IDS = range(1, 14)  # mot_challenge_2d_box.py:78-80
_MOT_DISTRACTORS = (2, 7, 8, 12)  # person_on_vehicle, static_person, distractor, reflection (:327)
_MOT20_DISTRACTORS = _MOT_DISTRACTORS + (6,)  # + non_mot_vehicle (:328-329)
# bdd100k.py:65-66
BDD_CLASSES = dict(pedestrian=1, rider=2, car=4, bus=5, truck=6, train=7, motorcycle=10, bicycle=11)
_BDD_DISTRACTORS = {"other person": 3, "trailer": 8, "other vehicle": 9}
_MAX_SEQ_LENGTH = 2**24  # frames of one MOT sequence (per-frame arrays are allocated)


def check_unique_ids(table: DetectionTable, what: str, seq: str) -> None:
    """TrackEval and teta refuse an id seen twice in one frame (`_check_unique_ids`)."""
    order = np.lexsort((table.ids, table.frame))
    f, i = table.frame[order], table.ids[order]
    dup = np.flatnonzero((f[1:] == f[:-1]) & (i[1:] == i[:-1]))
    if len(dup):
        frame = int(f[dup[0]])
        raise InputError(f"{what} of sequence {seq} has id {int(i[dup[0]])} twice in frame {frame}")


def malformed_json_errors(reader):
    """Turns a structural surprise in a JSON file (missing key, wrong type) into an InputError."""

    @functools.wraps(reader)
    def wrapper(gt, results, **kwargs):
        try:
            return reader(gt, results, **kwargs)
        except InputError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            detail = f"{type(e).__name__}: {e}"
            raise InputError(f"malformed data in {gt} or {results} ({detail})") from None

    return wrapper


def _preproc_matches(pairs: FramePairs, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(gt rows, tracker rows) matched at IoU >= 0.5 by the preprocessing Hungarian, in the frames
    where `frames` (bool[T]) is set. Reference: mot_challenge_2d_box.py:375-380, bdd100k.py:253-259.
    """
    go, po, off = pairs.offsets()
    score = np.where(pairs.similarity < 0.5 - EPS, 0.0, pairs.similarity)
    idx = assign_per_frame(
        score, np.where(frames, np.diff(go), 0), np.diff(po), off, positive_only=True
    )
    idx = idx[score[idx] > 0 + EPS]
    return pairs.pair_gt[idx], pairs.pair_tracker[idx]


def _frames_of(frame: np.ndarray, num_frames: int) -> np.ndarray:
    return np.bincount(frame, minlength=num_frames)[:num_frames] > 0


def preprocess_mot(seq: RawSequence, pairs: FramePairs) -> FramePairs:
    """MOTChallenge preprocessing, then ids relabelled. Reference: mot_challenge_2d_box.py:324-435.

    MOT16/17/20: predictions matched (IoU >= 0.5, Hungarian) to a distractor-class gt are removed;
    only pedestrian gt with a non-zero "consider" flag is kept. MOT15 files carry no classes: only
    zero-marked gt is removed.
    """
    gt = seq.gt
    tracker_keep = np.ones(len(seq.tracker.ids), bool)
    if seq.benchmark != "MOT15":
        distractor = np.isin(
            gt.classes, _MOT20_DISTRACTORS if seq.benchmark == "MOT20" else _MOT_DISTRACTORS
        )
        # Only a frame holding a distractor can lose a prediction, so only those frames need the
        # matching.
        g_rows, t_rows = _preproc_matches(pairs, _frames_of(gt.frame[distractor], seq.num_frames))
        tracker_keep[t_rows[distractor[g_rows]]] = False
        gt_keep = (gt.scores.astype(np.int64) != 0) & (gt.classes == 1)
    else:
        gt_keep = gt.scores.astype(np.int64) != 0
    return pairs.subset(gt_keep, tracker_keep).relabelled()


def preprocess_bdd(seq: RawSequence, pairs: FramePairs, class_id: int, *, use_mask: bool = False):
    """BDD100K preprocessing for one class, then ids relabelled. Reference: bdd100k.py:237-289.

    Unmatched predictions of the class lying more than 50 % (intersection over their own area)
    inside a crowd or distractor region are removed; gt is not filtered beyond the class.
    """
    tr_rows = np.flatnonzero(seq.tracker.classes == class_id)
    sub = pairs.subset(seq.gt.classes == class_id, seq.tracker.classes == class_id)
    ign = seq.ignore
    inside = np.zeros(len(tr_rows), bool)
    if ign is not None and len(ign.ids) and len(tr_rows):
        if use_mask:
            for t in np.intersect1d(sub.tracker_frame, ign.frame).tolist():
                rows, regions = (
                    np.flatnonzero(sub.tracker_frame == t),
                    np.flatnonzero(ign.frame == t),
                )
                ioa = mask_ioa(
                    [seq.tracker.masks[i] for i in tr_rows[rows]], [ign.masks[i] for i in regions]
                )
                inside[rows] = np.any(ioa > 0.5 + EPS, axis=1)
        else:  # every (prediction, region) pair of the same frame at once
            p_rows, p_regions, _ = frame_pairs(sub.tracker_frame, ign.frame, seq.num_frames)
            hit = box_ioa_pairs(seq.tracker.xyxy[tr_rows[p_rows]], ign.xyxy[p_regions]) > 0.5 + EPS
            inside[p_rows[hit]] = True
    if inside.any():  # matched predictions are never removed
        inside[_preproc_matches(sub, _frames_of(sub.tracker_frame[inside], seq.num_frames))[1]] = (
            False
        )
    return sub.subset(None, ~inside).relabelled()


# -----------------------------------------------------------------------------------------------
# MOT
def _read_txt(path: Path, min_cols: int) -> np.ndarray:
    """Comma- or space-separated numeric rows -> `float64[N, C]`; errors name the file and line."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read {path}: {e}") from None
    lines = [
        ln.strip().rstrip(",") for ln in text.splitlines()
    ]  # TrackEval drops one trailing empty field
    filled = [ln for ln in lines if ln]
    if not filled:
        return np.zeros((0, min_cols))
    width = len(filled[0].replace(",", " ").split())
    if "," in filled[0]:  # the usual MOT layout: check the row shape by counting commas (cheap)
        regular = all(ln.count(",") == width - 1 for ln in filled)
    else:
        regular = all(len(ln.split()) == width for ln in filled)
    if regular and width >= min_cols:
        try:  # one conversion for the whole file
            return np.array(" ".join(filled).replace(",", " ").split(), dtype=float).reshape(
                -1, width
            )
        except ValueError:
            pass
    for n, line in enumerate(lines, 1):  # find the offending line
        row = line.replace(",", " ").split()
        if not row:
            continue
        try:
            [float(x) for x in row]
        except ValueError:
            raise InputError(f"{path}: line {n}: not a number in {line!r}") from None
        if len(row) < min_cols or len(row) != width:
            raise InputError(
                f"{path}: line {n}: expected {max(width, min_cols)} columns, got {len(row)}"
            )
    raise InputError(f"{path}: malformed")  # pragma: no cover


def _mot_sequences(gt_root: Path) -> dict[str, Path]:
    if not gt_root.exists():
        raise FileNotFoundError(f"ground truth not found: {gt_root}")
    if (gt_root / "gt" / "gt.txt").is_file():
        return {gt_root.name: gt_root}
    found: dict[str, Path] = {}
    for dirpath, dirnames, _ in os.walk(gt_root, followlinks=True):
        if not (Path(dirpath) / "gt" / "gt.txt").is_file():
            dirnames.sort()
            continue
        dirnames.clear()  # a sequence folder: do not descend into img1/, det/, ...
        seq_dir = Path(dirpath)
        if seq_dir.name in found:
            raise InputError(
                f"two ground-truth sequences named {seq_dir.name}: {found[seq_dir.name]}, {seq_dir}"
            )
        found[seq_dir.name] = seq_dir
    if not found:
        raise InputError(f"no MOTChallenge sequence (<seq>/gt/gt.txt) under {gt_root}")
    return found


def _seq_length(seq_dir: Path) -> int:
    ini = seq_dir / "seqinfo.ini"
    if not ini.is_file():
        raise InputError(f"missing {ini} (needed for seqLength)")
    parser = configparser.ConfigParser()
    try:
        parser.read(ini)
        length = int(parser["Sequence"]["seqLength"])
    except (KeyError, ValueError, configparser.Error):
        raise InputError(f"{ini}: no valid [Sequence] seqLength") from None
    if not 1 <= length <= _MAX_SEQ_LENGTH:
        raise InputError(f"{ini}: seqLength must be within 1..{_MAX_SEQ_LENGTH}, but got {length}")
    return length


def _mot_table(
    rows: np.ndarray, path: Path, length: int, is_gt: bool, length_from: str = "seqinfo.ini seqLength"
) -> DetectionTable:
    """The rows as a table; `length_from` names where `length` came from, for the error."""
    whole = rows[:, [0, 1, 7] if rows.shape[1] >= 8 else [0, 1]]  # frame, id, class
    bad = ~np.isfinite(rows[:, :8]).all(axis=1) | (np.abs(whole) > 2**31).any(axis=1)
    if bad.any():
        raise InputError(
            f"{path}: data row {int(np.flatnonzero(bad)[0]) + 1}: NaN, infinite or too large value"
        )
    frame = rows[:, 0].astype(np.int64) - 1
    bad = (frame < 0) | (frame >= length)
    if bad.any():
        raise InputError(
            f"{path}: frame {int(rows[bad][0, 0])} is outside 1..{length} ({length_from})"
        )
    cols = rows.shape[1]
    classes = rows[:, 7].astype(np.int64) if cols >= 8 else np.ones(len(rows), np.int64)
    scores = rows[:, 6] if cols >= 7 else np.ones(len(rows))
    if not is_gt and len(rows) and classes.max() > 1:  # mot_challenge_2d_box.py:353-357
        raise InputError(
            f"{path}: class {classes.max()} found; MOTChallenge scores pedestrians (class 1) only"
        )
    return DetectionTable.build(
        frame, rows[:, 1].astype(np.int64), classes, xywh_to_xyxy(rows[:, 2:6]), scores
    )


def read_mot(gt: str | Path, results: str | Path) -> EvalDataset:
    """MOTChallenge folders: `<seq>/gt/gt.txt` + `<seq>/seqinfo.ini` under `gt`, `<seq>.txt` under
    `results` (or one results file for a single sequence).

    The benchmark variant is read from the ground truth: when column 8 holds MOTChallenge class ids
    (1-13), MOT17 preprocessing applies (MOT20 for sequences named MOT20-*); otherwise (2DMOT2015
    files, where columns 8-10 are -1 or world coordinates) only zero-marked gt is dropped, as
    TrackEval does for MOT15.

    Raises:
        InputError: missing or mismatched sequences, malformed lines, frames outside seqLength.
    """
    seq_dirs = _mot_sequences(Path(gt))
    res = Path(results)
    if res.is_file():
        if len(seq_dirs) != 1:
            raise InputError(
                f"{res} is one file but the ground truth has {len(seq_dirs)} sequences"
            )
        res_files = {next(iter(seq_dirs)): res}
    elif res.is_dir():
        res_files = {p.stem: p for p in sorted(res.glob("*.txt"))}
    else:
        raise FileNotFoundError(f"results not found: {res}")
    missing, extra = sorted(set(seq_dirs) - set(res_files)), sorted(set(res_files) - set(seq_dirs))
    if missing or extra:
        raise InputError(
            f"sequence names differ: no results for {missing or 'none'}; "
            f"results without ground truth: {extra or 'none'}"
        )
    sequences = []
    for name, seq_dir in sorted(seq_dirs.items()):
        length = _seq_length(seq_dir)
        gt_rows = _read_txt(seq_dir / "gt" / "gt.txt", 7)
        gt_table = _mot_table(gt_rows, seq_dir / "gt" / "gt.txt", length, True)
        tr_table = _mot_table(_read_txt(res_files[name], 6), res_files[name], length, False)
        has_classes = gt_rows.shape[1] >= 8 and np.all(np.isin(gt_rows[:, 7], _MOT_CLASS_IDS))
        bench = (
            ("MOT20" if name.startswith("MOT20") else "MOT17")
            if has_classes and len(gt_rows)
            else "MOT15"
        )
        check_unique_ids(gt_table, "ground truth", name)
        check_unique_ids(tr_table, "results", name)
        sequences.append(RawSequence(name, length, gt_table, tr_table, benchmark=bench))
    return EvalDataset("mot", tuple(sequences), {"pedestrian": 1})


# -----------------------------------------------------------------------------------------------
# JSON
def load_json(path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"not found: {path}")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"cannot read {path} as JSON: {e}") from None
    except RecursionError:
        raise InputError(f"cannot read {path} as JSON: nested too deeply") from None


def require_field(entry: dict, key: str, path: Path, n: int):
    if not isinstance(entry, dict) or key not in entry:
        raise InputError(f"{path}: entry {n} has no {key!r}")
    return entry[key]


def _bdd_videos(path: Path) -> dict[str, list[dict]]:
    """Scalabel frames by video: a folder with one JSON per video, or one JSON of all frames."""
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise InputError(f"no .json files in {path}")
        out = {}
        for f in files:
            frames = load_json(f)
            out[f.stem] = frames.get("frames", []) if isinstance(frames, dict) else frames
        return out
    frames = load_json(path)
    frames = frames.get("frames", []) if isinstance(frames, dict) else frames
    if not isinstance(frames, list):
        raise InputError(f"{path}: expected a list of scalabel frames")
    out: dict[str, list[dict]] = {}
    for n, fr in enumerate(frames):
        out.setdefault(str(require_field(fr, "videoName", path, n)), []).append(fr)
    return out


def _bdd_table(
    frames: list[dict], index_of: dict[int, int], path: Path, is_gt: bool, use_mask: bool
):
    rows, ignore, masks, ignore_masks = [], [], [], []
    for n, fr in enumerate(frames):
        key = fr.get("frameIndex", fr.get("index")) if isinstance(fr, dict) else None
        if key not in index_of:
            raise InputError(
                f"{path}: frame {n} has frame index {key!r}, which the ground truth lacks"
            )
        for lab in fr.get("labels") or []:
            cat = require_field(lab, "category", path, n)
            if cat not in BDD_CLASSES and cat not in _BDD_DISTRACTORS:
                raise InputError(f"{path}: frame {n}: unknown BDD100K category {cat!r}")
            box = require_field(lab, "box2d", path, n)
            attrs = lab.get("attributes") or {}
            entry = (
                index_of[key],
                lab.get("id"),
                BDD_CLASSES.get(cat, _BDD_DISTRACTORS.get(cat)),
                [box["x1"], box["y1"], box["x2"], box["y2"]],
                float(lab.get("score", 1.0)),
            )
            crowd = is_gt and (
                cat in _BDD_DISTRACTORS or bool(attrs.get("crowd", attrs.get("Crowd", False)))
            )
            (ignore if crowd else rows).append(entry)
            if use_mask:
                (ignore_masks if crowd else masks).append(require_field(lab, "rle", path, n))
    raw_ids = [r[1] for r in rows]
    try:
        ids = [int(i) for i in raw_ids]
    except (TypeError, ValueError):  # scalabel ids are strings: number them in order of appearance
        ids = [
            {k: v for v, k in enumerate(dict.fromkeys(map(str, raw_ids)))}[str(i)] for i in raw_ids
        ]

    def build(entries, id_list, mask_list):
        return DetectionTable.build(
            [e[0] for e in entries],
            id_list,
            [e[2] for e in entries],
            np.array([e[3] for e in entries], float).reshape(-1, 4),
            [e[4] for e in entries],
            mask_list if use_mask else None,
        )

    return build(rows, ids, masks), build(ignore, [0] * len(ignore), ignore_masks)


@malformed_json_errors
def read_bdd(gt: str | Path, results: str | Path, *, use_mask: bool = False) -> EvalDataset:
    """BDD100K box-track (seg-track with `use_mask`) in scalabel JSON: a file per video, or one.

    Frames are ordered by `frameIndex` (or TrackEval's `index`); result frames are matched to gt
    frames by that index. Ground truth of the distractor classes (other person, trailer, other
    vehicle) or marked `crowd` becomes an ignore region.
    """
    gt_videos, res_videos = _bdd_videos(Path(gt)), _bdd_videos(Path(results))
    missing, extra = (
        sorted(set(gt_videos) - set(res_videos)),
        sorted(set(res_videos) - set(gt_videos)),
    )
    if missing or extra:
        raise InputError(
            f"video names differ: no results for {missing or 'none'}; "
            f"results without ground truth: {extra or 'none'}"
        )
    sequences = []
    for name in sorted(gt_videos):
        frames = gt_videos[name]
        keys = [
            fr.get("frameIndex", fr.get("index")) if isinstance(fr, dict) else None for fr in frames
        ]
        if any(k is None for k in keys):
            raise InputError(f"ground truth of video {name}: a frame has no frameIndex")
        index_of = {k: t for t, k in enumerate(sorted(keys))}
        gt_table, ignore = _bdd_table(frames, index_of, Path(gt), True, use_mask)
        tr_table, _ = _bdd_table(res_videos[name], index_of, Path(results), False, use_mask)
        check_unique_ids(gt_table, "ground truth", name)
        check_unique_ids(tr_table, "results", name)
        sequences.append(RawSequence(name, len(frames), gt_table, tr_table, ignore))
    return EvalDataset("bdd", tuple(sequences), dict(BDD_CLASSES), {}, use_mask)
