"""`evaluate(gt, results, format, metrics) -> EvalResult`: read, preprocess, score and combine.

How results are combined (the references' rules):
    sequences -> combined, per class: counts summed, ratios weighted as each metric's
        `combine_sequences` does (trackeval/eval.py:118-129; teta/eval.py `evaluate_tracker`);
    classes -> class average: plain mean of each ratio over the non-empty classes, counts summed
        (`combine_classes_class_averaged(..., ignore_empty_classes=True)`; teta's "average");
    BDD also reports the detection average over classes (`combine_classes_det_averaged`) under
        the plain names, and the class averages with an "m" prefix (mHOTA, mMOTA, mIDF1, ...).
Values are fractions in [0, 1] (HOTA/TETA fields averaged over alpha, as the references summarise
them); each alpha's value is also given as `NAME___<100*alpha>` (TrackEval's detailed naming).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from masa.errors import InputError
from masa.eval import clear, hota, identity, teta
from masa.eval.mot_file import read_mot_file
from masa.eval.readers import (
    EvalDataset,
    pairs_for,
    preprocess_bdd,
    preprocess_mot,
    read_bdd,
    read_mot,
)
from masa.eval.teta import read_tao

__all__ = [
    "EvalResult",
    "FORMATS",
    "METRICS",
    "default_metrics",
    "detect_format",
    "evaluate",
    "evaluate_dataset",
]

FORMATS = ("mot", "tao", "bdd")
METRICS = ("hota", "clear", "identity", "teta")
_SUPPORTED = {
    "mot": ("hota", "clear", "identity"),
    "bdd": ("hota", "clear", "identity"),
    "tao": ("teta",),
}
_INT_FIELDS = (
    set(clear.CLEAR_INT_FIELDS)
    | set(identity.IDENTITY_INT_FIELDS)
    | set(hota.HOTA_INT_ARRAY_FIELDS)
    | {"Loc_TP", "Loc_FN", "Loc_FP", "Cls_TP", "Cls_FN", "Cls_FP"}
)


@dataclass(frozen=True)
class EvalResult:
    """Every number of one evaluation; `to_dict()` is the `--json` layout."""

    format: str
    metrics: tuple[str, ...]
    combined: dict[str, float | int]
    per_sequence: dict[str, dict[str, float | int]]
    per_class: dict[str, dict[str, float | int]] = field(default_factory=dict)
    #: TAO open-vocabulary split ("base": LVIS frequency != "r", "novel": "r") when the gt has "r".
    splits: dict[str, dict[str, float | int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "combined": self.combined,
            "per_sequence": self.per_sequence,
            "per_class": self.per_class,
        }
        if self.splits:
            out["open_vocabulary"] = self.splits
        return out


def detect_format(gt: str | Path) -> str:
    """`mot` for MOTChallenge folders and `.txt` files, `bdd` for scalabel JSON, `tao` for
    TAO/COCO-video JSON."""
    path = Path(gt)
    if path.is_dir():
        return "bdd" if any(path.glob("*.json")) and not any(path.rglob("gt/gt.txt")) else "mot"
    if path.suffix.lower() == ".json" and path.is_file():
        with open(path, "rb") as f:
            head = f.read(1 << 16)
        return "tao" if b'"videos"' in head or b'"categories"' in head else "bdd"
    if not path.exists():
        raise FileNotFoundError(f"ground truth not found: {path}")
    if path.suffix.lower() == ".txt":
        return "mot"  # a plain gt.txt
    raise InputError(f"cannot tell the format of {path}; pass --format mot|tao|bdd")


def default_metrics(fmt: str) -> tuple[str, ...]:
    return _SUPPORTED[fmt]


def evaluate(
    gt: str | Path,
    results: str | Path,
    format: str | None = None,  # noqa: A002 - the CLI option's name
    metrics: Sequence[str] | None = None,
    *,
    use_mask: bool = False,
    num_frames: int | None = None,
) -> EvalResult:
    """Reads ground truth and results, then scores them.

    Args:
        gt: MOTChallenge folder or plain gt.txt file (`masa.eval.mot_file`), TAO/COCO-video JSON,
            or BDD100K scalabel JSON (file or folder).
        results: the matching results (MOT: folder of `<seq>.txt`; TAO: results JSON; BDD: JSON or
            folder).
        format: "mot", "tao" or "bdd"; detected from `gt` when None.
        metrics: any of "hota", "clear", "identity" (MOT, BDD) or "teta" (TAO); default: all of a
            format's.
        use_mask: score with mask IoU on the formats' RLE masks (TAO `segmentation`, BDD `rle`).
        num_frames: length of the sequence of a plain gt.txt file (default: its last frame).

    Raises:
        InputError: unknown format or metric, or bad input files (see `masa.eval.readers`).
    """
    fmt = detect_format(gt) if format is None else format.lower()
    if fmt not in FORMATS:
        raise InputError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    names = _check_metrics(fmt, metrics)
    if use_mask and fmt == "mot":
        raise InputError(
            "MOTChallenge txt files carry boxes only; mask IoU needs --format tao or bdd"
        )
    plain_mot = fmt == "mot" and Path(gt).is_file()
    if num_frames is not None and not plain_mot:
        raise InputError(
            "the number of frames is for a plain gt.txt file (a folder has seqinfo.ini)"
        )
    if plain_mot:
        dataset = read_mot_file(gt, results, num_frames=num_frames)
    elif fmt == "mot":
        dataset = read_mot(gt, results)
    elif fmt == "tao":
        dataset = read_tao(gt, results, use_mask=use_mask)
    else:
        dataset = read_bdd(gt, results, use_mask=use_mask)
    return evaluate_dataset(dataset, names)


def _check_metrics(fmt: str, metrics: Sequence[str] | None) -> tuple[str, ...]:
    if not metrics:
        return default_metrics(fmt)
    names = tuple(dict.fromkeys(m.strip().lower() for m in metrics if m.strip()))
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise InputError(f"unknown metric {unknown[0]!r}; expected some of {', '.join(METRICS)}")
    unsupported = [m for m in names if m not in _SUPPORTED[fmt]]
    if unsupported:
        raise InputError(
            f"metric {unsupported[0]!r} is not available for --format {fmt} "
            f"(available: {', '.join(_SUPPORTED[fmt])})"
        )
    return names


# ------------------------------------------------------------------------------------- per metric
def _score(name: str, pairs):
    if name == "hota":
        return hota.hota_sequence(pairs)
    if name == "clear":
        return clear.clear_sequence(pairs)
    return identity.identity_sequence(pairs)


def _combine(name: str, counts: list):
    if name == "hota":
        return hota.combine_hota(counts)
    if name == "clear":
        return clear.combine_clear(counts)
    if name == "teta":
        return teta.combine_teta(counts)
    return identity.combine_identity(counts)


def _fields(name: str, counts) -> dict[str, Any]:
    if name == "hota":
        return hota.hota_fields(counts)
    if name == "clear":
        return clear.clear_fields(counts)
    if name == "teta":
        return teta.teta_fields(counts)
    return identity.identity_fields(counts)


def _is_empty(name: str, counts) -> bool:
    """A class that the class average skips (the references' `ignore_empty_classes`)."""
    if name == "hota":
        return not bool(np.any(counts.tp + counts.fn + counts.fp > 0 + np.finfo(float).eps))
    if name == "clear":
        return counts.tp + counts.fn + counts.fp == 0
    if name == "teta":
        return teta.teta_is_empty(counts)
    return counts.idtp + counts.idfn + counts.idfp == 0


def _class_average(field_dicts: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean of every ratio (arrays stay per alpha), sum of every count, over the given classes."""
    if not field_dicts:
        return {}
    out = {}
    for key in field_dicts[0]:
        values = [d[key] for d in field_dicts]
        out[key] = sum(values) if key in _INT_FIELDS else np.mean(values, axis=0)
    return out


def _summary(
    fields: dict[str, Any], prefix: str = "", detail: bool = True
) -> dict[str, float | int]:
    """Alpha-averaged value of each field (ints for counts), then each alpha's (`NAME___50`)."""
    out: dict[str, float | int] = {}
    details: dict[str, float | int] = {}
    for key, value in fields.items():
        is_int = key in _INT_FIELDS
        if np.ndim(value) == 0:
            out[prefix + key] = int(value) if is_int else float(value)
            continue
        alphas = hota.ALPHAS if len(value) == len(hota.ALPHAS) else teta.TETA_ALPHAS[-len(value) :]
        if not is_int:
            out[prefix + key] = float(np.mean(value))
        if detail:
            for a, v in zip(alphas, value):
                details[f"{prefix}{key}___{int(round(100 * a))}"] = int(v) if is_int else float(v)
    out.update(details)
    return out


def _class_fields(
    metrics: Iterable[str], per_class_counts: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Class average of each metric over its non-empty classes, as one field dict."""
    out: dict[str, Any] = {}
    for m in metrics:
        kept = [_fields(m, c[m]) for c in per_class_counts.values() if not _is_empty(m, c[m])]
        out.update(_class_average(kept))
    return out


# -------------------------------------------------------------------------------------- evaluation
def evaluate_dataset(dataset: EvalDataset, metrics: Sequence[str] | None = None) -> EvalResult:
    """Scores an already-read dataset (see `masa.eval.readers`)."""
    names = _check_metrics(dataset.format, metrics)
    if dataset.format == "mot":
        return _evaluate_mot(dataset, names)
    if dataset.format == "tao":
        return _evaluate_tao(dataset, names)
    return _evaluate_bdd(dataset, names)


def _evaluate_mot(dataset: EvalDataset, names: tuple[str, ...]) -> EvalResult:
    per_seq_counts = {}
    for seq in dataset.sequences:
        pairs = preprocess_mot(seq, pairs_for(seq))
        per_seq_counts[seq.name] = {m: _score(m, pairs) for m in names}
    per_sequence = {
        s: _summary({k: v for m in names for k, v in _fields(m, c[m]).items()})
        for s, c in per_seq_counts.items()
    }
    combined = {}
    for m in names:
        combined.update(_fields(m, _combine(m, [c[m] for c in per_seq_counts.values()])))
    return EvalResult("mot", names, _summary(combined), per_sequence)


def _evaluate_tao(dataset: EvalDataset, names: tuple[str, ...]) -> EvalResult:
    ids = list(dataset.classes.values())
    per_seq = {
        seq.name: teta.teta_sequence(pairs_for(seq, use_mask=dataset.use_mask), ids)
        for seq in dataset.sequences
    }
    per_class_counts = {
        name: {"teta": teta.combine_teta([r[cid] for r in per_seq.values()])}
        for name, cid in dataset.classes.items()
    }
    per_class = {
        name: _summary(teta.teta_fields(c["teta"])) for name, c in per_class_counts.items()
    }
    combined = _summary(_class_fields(names, per_class_counts))
    per_sequence = {}
    for seq_name, res in per_seq.items():
        seq_counts = {
            name: {"teta": teta.combine_teta([res[cid]])} for name, cid in dataset.classes.items()
        }
        per_sequence[seq_name] = _summary(_class_fields(names, seq_counts))
    splits = {}
    if any(f == "r" for f in dataset.frequency.values()):
        for split, members in teta.split_classes(per_class_counts, dataset.frequency).items():
            rows = [teta.teta_fields(per_class_counts[n]["teta"]) for n in members]
            if rows:
                splits[split] = _summary(_class_average(rows))
    return EvalResult("tao", names, combined, per_sequence, per_class, splits)


def _evaluate_bdd(dataset: EvalDataset, names: tuple[str, ...]) -> EvalResult:
    counts: dict[str, dict[str, dict[str, Any]]] = {}  # seq -> class -> metric -> counts
    for seq in dataset.sequences:
        raw = pairs_for(seq, use_mask=dataset.use_mask)
        counts[seq.name] = {}
        for cls_name, cid in dataset.classes.items():
            pairs = preprocess_bdd(seq, raw, cid, use_mask=dataset.use_mask)
            counts[seq.name][cls_name] = {m: _score(m, pairs) for m in names}
    per_class_counts = {
        c: {m: _combine(m, [counts[s][c][m] for s in counts]) for m in names}
        for c in dataset.classes
    }
    per_class = {
        c: _summary({k: v for m in names for k, v in _fields(m, pc[m]).items()})
        for c, pc in per_class_counts.items()
        if not all(_is_empty(m, pc[m]) for m in names)
    }
    combined = _bdd_combined(names, per_class_counts)
    per_sequence = {s: _bdd_combined(names, counts[s]) for s in counts}
    return EvalResult("bdd", names, combined, per_sequence, per_class)


def _bdd_combined(
    names: tuple[str, ...], class_counts: dict[str, dict[str, Any]]
) -> dict[str, float | int]:
    det_av: dict[str, Any] = {}
    for m in names:
        det_av.update(_fields(m, _combine(m, [c[m] for c in class_counts.values()])))
    cls_av = _class_fields(names, class_counts)
    cls_av = {k: v for k, v in cls_av.items() if k not in _INT_FIELDS}
    return {**_summary(det_av), **_summary(cls_av, prefix="m", detail=False)}
