"""TETA (Track Every Thing Accuracy; Li et al., ECCV 2022) exactly as `teta` computes it.

References (siyuanliii/TETA; SPEC §6.3):
    teta/metrics/teta.py
        `TETA.__init__`                   alphas 0.00..0.95 (20); ClsA for alpha >= 0.5 (10)
        `compute_global_assignment`       step 1: class-agnostic matching at IoU >= 0.5
        `eval_sequence_single_thr`        step 2: Loc/Assoc/Cls counts of one class
        `compute_global_alignment_score`  as HOTA's (masa.eval.hota.global_alignment)
        `compute_association_scores`      as HOTA's AssA/AssRe/AssPr
        `_combine_sequences_thr`, `_combine_classes_class_averaged_thr`, `_compute_final_fields`
    teta/datasets/tao.py
        `get_preprocessed_seq_data_thr`   a class's candidates: predictions with IoU >= 0.5 to
                                          one of its gt in that frame, minus those step 1 assigned
                                          to gt of another class; the class scores the union of
                                          their tracks
    teta/eval.py
        `eval_sequence`                   the Cls_FP that class c' receives from every other
                                          class is added to c' after all classes of a sequence
`exhaustive=False` (MASA's setting): unmatched predictions never add class false positives.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from masa.errors import InputError
from masa.eval.hota import association_scores, global_alignment
from masa.eval.readers import check_unique_ids, load_json, malformed_json_errors, require_field
from masa.eval.similarity import (
    EPS,
    DetectionTable,
    EvalDataset,
    FramePairs,
    RawSequence,
    assign_per_frame,
    xywh_to_xyxy,
)

__all__ = [
    "TETA_ALPHAS",
    "TETA_FIELDS",
    "TetaCounts",
    "combine_teta",
    "read_tao",
    "split_classes",
    "teta_fields",
    "teta_is_empty",
    "teta_sequence",
]

#: `np.arange(0.0, 0.99, 0.05)`: 20 thresholds; from index 10 (alpha = 0.5) on, classification too.
TETA_ALPHAS = np.arange(0.0, 0.99, 0.05)
_CLS_FROM = 10
_OVERLAP_IOU = 0.5  # candidate threshold (teta/datasets/tao.py `overlap_ious_thr`, the "thr = 50")
TETA_FIELDS = (
    "TETA",
    "LocA",
    "AssocA",
    "ClsA",
    "LocRe",
    "LocPr",
    "AssocRe",
    "AssocPr",
    "ClsRe",
    "ClsPr",
)


@dataclass(frozen=True, eq=False)
class TetaCounts:
    """Combinable TETA state of one class: `float64[20]` loc/assoc, `float64[10]` cls arrays."""

    loc_tp: np.ndarray
    loc_fn: np.ndarray
    loc_fp: np.ndarray
    assoc_a: np.ndarray
    assoc_re: np.ndarray
    assoc_pr: np.ndarray
    cls_tp: np.ndarray
    cls_fn: np.ndarray
    cls_fp: np.ndarray

    @classmethod
    def empty(cls, num_gt_dets: int = 0) -> TetaCounts:
        z, zc = np.zeros(len(TETA_ALPHAS)), np.zeros(len(TETA_ALPHAS) - _CLS_FROM)
        return cls(z, z + num_gt_dets, z, z, z, z, zc, zc, zc)


def _class_agnostic_assignment(pairs: FramePairs) -> np.ndarray:
    """Step 1: for every tracker row, the gt row it is assigned to across classes (-1: none)."""
    assigned = np.full(len(pairs.tracker_ids), -1, np.int64)
    overlapping = np.zeros(len(pairs.tracker_ids), bool)
    overlapping[pairs.pair_tracker[pairs.similarity >= _OVERLAP_IOU]] = True
    if not overlapping.any() or len(pairs.gt_ids) == 0:
        return assigned
    keep = np.isin(pairs.tracker_ids, np.unique(pairs.tracker_ids[overlapping]))
    sub = pairs.subset(None, keep).relabelled()
    ga, _, _ = global_alignment(sub)
    go, po, off = sub.offsets()
    score = ga[sub.gt_ids[sub.pair_gt], sub.tracker_ids[sub.pair_tracker]] * sub.similarity
    idx = assign_per_frame(score, np.diff(go), np.diff(po), off)
    idx = idx[sub.similarity[idx] >= 0.5 - EPS]
    assigned[np.flatnonzero(keep)[sub.pair_tracker[idx]]] = sub.pair_gt[idx]
    return assigned


def _class_counts(pairs: FramePairs, class_id: int, assigned: np.ndarray, class_ids: np.ndarray):
    """Step 2 for one class -> (its counts without others' Cls_FP, Cls_FP it gives each class)."""
    fp_given = np.zeros((len(class_ids), len(TETA_ALPHAS) - _CLS_FROM))
    gt_c = pairs.gt_classes == class_id  # (G,)
    near = np.zeros(len(pairs.tracker_ids), bool)
    near[pairs.pair_tracker[(pairs.similarity >= _OVERLAP_IOU) & gt_c[pairs.pair_gt]]] = True
    taken_elsewhere = (assigned >= 0) & ~gt_c[np.maximum(assigned, 0)]
    overlap = near & ~taken_elsewhere  # (P,) this frame's candidates
    num_gt, num_overlap = int(gt_c.sum()), int(overlap.sum())
    if num_overlap == 0:
        return TetaCounts.empty(num_gt), fp_given
    if num_gt == 0:
        return TetaCounts.empty(), fp_given

    tr_keep = np.isin(pairs.tracker_ids, np.unique(pairs.tracker_ids[overlap]))
    sub = pairs.subset(gt_c, tr_keep).relabelled()
    ga, gt_count, tr_count = global_alignment(sub)
    gid, tid = sub.gt_ids[sub.pair_gt], sub.tracker_ids[sub.pair_tracker]  # (M,)
    go, po, off = sub.offsets()
    matched = assign_per_frame(ga[gid, tid] * sub.similarity, np.diff(go), np.diff(po), off)
    ok = sub.similarity[matched][None, :] >= TETA_ALPHAS[:, None] - EPS  # (20, K)
    tr_rows = np.flatnonzero(tr_keep)[sub.pair_tracker[matched]]  # (K,) rows in `pairs`
    loc_tp = ok.sum(axis=1).astype(float)
    loc_fp = num_overlap - (ok & overlap[tr_rows][None, :]).sum(axis=1)

    pred_cls = pairs.tracker_classes[tr_rows]  # (K,)
    ok_cls = ok[_CLS_FROM:]  # (10, K)
    correct = pred_cls == class_id
    cls_tp = (ok_cls & correct).sum(axis=1).astype(float)
    cls_fn = (ok_cls & ~correct).sum(axis=1).astype(float)
    for j, other in enumerate(class_ids.tolist()):
        if other != class_id:
            fp_given[j] = (ok_cls & (pred_cls == other)).sum(axis=1)

    a_idx, k_idx = np.nonzero(ok)
    assoc = association_scores(
        a_idx, gid[matched][k_idx], tid[matched][k_idx], gt_count, tr_count, loc_tp
    )
    counts = TetaCounts(
        loc_tp, num_gt - loc_tp, loc_fp.astype(float), *assoc, cls_tp, cls_fn, np.zeros(len(cls_tp))
    )
    return counts, fp_given


def teta_sequence(pairs: FramePairs, class_ids: Sequence[int]) -> dict[int, TetaCounts]:
    """TETA counts of one sequence for each class of `class_ids` (the classes with gt anywhere).

    `pairs` holds every gt and predicted detection of the sequence, with classes and raw track ids.
    """
    ids = np.asarray(class_ids, np.int64)
    assigned = _class_agnostic_assignment(pairs)
    results, fp_total = {}, np.zeros((len(ids), len(TETA_ALPHAS) - _CLS_FROM))
    for c in ids.tolist():
        results[c], fp_given = _class_counts(pairs, c, assigned, ids)
        fp_total += fp_given
    out = {}
    for j, c in enumerate(ids.tolist()):
        r = results[c]
        out[c] = TetaCounts(
            r.loc_tp,
            r.loc_fn,
            r.loc_fp,
            r.assoc_a,
            r.assoc_re,
            r.assoc_pr,
            r.cls_tp,
            r.cls_fn,
            r.cls_fp + fp_total[j],
        )
    return out


def combine_teta(results: Sequence[TetaCounts]) -> TetaCounts:
    """Combines sequences: counts summed, AssocA weighted by Loc_TP (`_combine_sequences_thr`)."""
    empty = TetaCounts.empty()
    tot = {
        k: sum((getattr(r, k) for r in results), getattr(empty, k))
        for k in ("loc_tp", "loc_fn", "loc_fp", "cls_tp", "cls_fn", "cls_fp")
    }
    weight = np.maximum(1.0, tot["loc_tp"])
    assoc = [
        sum((getattr(r, k) * r.loc_tp for r in results), empty.loc_tp) / weight
        for k in ("assoc_a", "assoc_re", "assoc_pr")
    ]
    return TetaCounts(
        tot["loc_tp"],
        tot["loc_fn"],
        tot["loc_fp"],
        *assoc,
        tot["cls_tp"],
        tot["cls_fn"],
        tot["cls_fp"],
    )


def teta_fields(c: TetaCounts) -> dict[str, np.ndarray | float]:
    """TETA and its parts (`_compute_final_fields`): arrays over 20 alphas, Cls* alpha means."""
    loc_a = c.loc_tp / np.maximum(1, c.loc_tp + c.loc_fn + c.loc_fp)
    cls_a = float(np.mean(c.cls_tp / np.maximum(1, c.cls_tp + c.cls_fn + c.cls_fp)))
    return {
        "TETA": (loc_a + c.assoc_a + cls_a) / 3,
        "LocA": loc_a,
        "AssocA": c.assoc_a,
        "ClsA": cls_a,
        "LocRe": c.loc_tp / np.maximum(1, c.loc_tp + c.loc_fn),
        "LocPr": c.loc_tp / np.maximum(1, c.loc_tp + c.loc_fp),
        "AssocRe": c.assoc_re,
        "AssocPr": c.assoc_pr,
        "ClsRe": float(np.mean(c.cls_tp / np.maximum(1, c.cls_tp + c.cls_fn))),
        "ClsPr": float(np.mean(c.cls_tp / np.maximum(1, c.cls_tp + c.cls_fp))),
        "Loc_TP": c.loc_tp,
        "Loc_FN": c.loc_fn,
        "Loc_FP": c.loc_fp,
        "Cls_TP": c.cls_tp,
        "Cls_FN": c.cls_fn,
        "Cls_FP": c.cls_fp,
    }


def teta_is_empty(c: TetaCounts) -> bool:
    """A class the average skips (`ignore_empty`): no localisation TP, FN or FP at any alpha."""
    return not bool(np.any(c.loc_tp + c.loc_fn + c.loc_fp > 0 + EPS))


def split_classes(
    per_class: Mapping[str, TetaCounts], frequency: Mapping[str, str]
) -> dict[str, list[str]]:
    """Open-vocabulary split (`compute_teta_on_ovsetup`): novel = frequency "r", base = the rest."""
    names = list(per_class)
    return {
        "base": [n for n in names if frequency.get(n, "") != "r"],
        "novel": [n for n in names if frequency.get(n, "") == "r"],
    }


@malformed_json_errors
def read_tao(gt: str | Path, results: str | Path, *, use_mask: bool = False) -> EvalDataset:
    """TAO / COCO-video ground truth JSON and TAO results JSON, read as `teta`'s TAO reader does.

    Reference: teta/datasets/tao.py (`_load_raw_file`, `_merge_categories`, `_compute_vid_mappings`,
    `_compute_image_to_timestep_mappings`): categories with a `merged` tag are merged; a video's
    timesteps are its gt images that have annotations, ordered by frame_index, so predictions on
    other images are ignored; a gt track's class is that of its first annotation.

    Results are a list of `{image_id, video_id?, category_id, track_id, bbox: [x, y, w, h], score}`
    (SPEC §6.2).

    Only classes with ground-truth tracks are evaluated. With `use_mask`, every annotation needs an
    RLE `segmentation`.
    """
    gt_path, res_path = Path(gt), Path(results)
    data, preds = load_json(gt_path), load_json(res_path)
    for key in ("videos", "images", "annotations", "categories"):
        if not isinstance(data, dict) or key not in data:
            raise InputError(f"{gt_path}: not a TAO/COCO-video annotation file (no {key!r})")
    if isinstance(preds, dict) and "annotations" in preds:
        preds = preds["annotations"]
    if not isinstance(preds, list):
        raise InputError(f"{res_path}: expected a list of result entries")
    merge = {m["id"]: c["id"] for c in data["categories"] for m in c.get("merged", [])}
    images = {img["id"]: img for img in data["images"]}
    num_frames = {v["id"]: 0 for v in data["videos"]}
    for img in data["images"]:
        num_frames[img["video_id"]] = num_frames.get(img["video_id"], 0) + 1

    def grouped(entries: list, path: Path) -> dict[int, dict[int, list[dict]]]:
        out: dict[int, dict[int, list[dict]]] = {}
        for n, ann in enumerate(entries):
            image_id = require_field(ann, "image_id", path, n)
            for key in ("bbox", "track_id", "category_id") + (
                ("segmentation",) if use_mask else ()
            ):
                require_field(ann, key, path, n)
            video = ann.get("video_id", images.get(image_id, {}).get("video_id"))
            out.setdefault(video, {}).setdefault(image_id, []).append(ann)
        return out

    gt_by_video, pr_by_video = grouped(data["annotations"], gt_path), grouped(preds, res_path)
    track_cat: dict[tuple, int] = {}
    for ann in data["annotations"]:
        video = ann.get("video_id", images.get(ann["image_id"], {}).get("video_id"))
        track_cat.setdefault(
            (video, ann["track_id"]), merge.get(ann["category_id"], ann["category_id"])
        )
    seen = set(track_cat.values())
    classes = {c["name"]: c["id"] for c in data["categories"] if c["id"] in seen}
    frequency = {c["name"]: c.get("frequency", "") for c in data["categories"] if c["id"] in seen}

    def table(by_image: dict[int, list[dict]], timestep: dict[int, int]) -> DetectionTable:
        anns = [(timestep[i], a) for i, lst in by_image.items() if i in timestep for a in lst]
        rows = np.array([a["bbox"] for _, a in anns], float).reshape(-1, 4)
        return DetectionTable.build(
            [t for t, _ in anns],
            [a["track_id"] for _, a in anns],
            [merge.get(a["category_id"], a["category_id"]) for _, a in anns],
            xywh_to_xyxy(rows),
            [a.get("score", 1.0) for _, a in anns],
            [a["segmentation"] for _, a in anns] if use_mask else None,
        )

    sequences = []
    for video in data["videos"]:
        annotated = sorted(gt_by_video.get(video["id"], {}), key=lambda i: images[i]["frame_index"])
        timestep = {image_id: t for t, image_id in enumerate(annotated)}
        name = str(video["name"]).replace("/", "-")
        seq = RawSequence(
            name,
            num_frames[video["id"]],
            table(gt_by_video.get(video["id"], {}), timestep),
            table(pr_by_video.get(video["id"], {}), timestep),
        )
        check_unique_ids(seq.gt, "ground truth", name)
        check_unique_ids(seq.tracker, "results", name)
        sequences.append(seq)
    sequences.sort(key=lambda s: s.name)
    return EvalDataset("tao", tuple(sequences), classes, frequency, use_mask)
