"""BDD100K box-track: per-class HOTA/CLEAR/Identity and their class/detection averages vs
trackeval's BDD100K dataset (crowd and distractor regions included), both file layouts, and MOTS
(mask IoU) == boxes."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from masa.eval import detect_format, evaluate, read_bdd
from tests.eval.mot_helpers import assert_same_as_trackeval

CLASSES = ["pedestrian", "rider", "car", "bus", "truck", "train", "motorcycle", "bicycle"]
H, W = 120, 200


def _box(x, y, w, h) -> dict:
    x0, y0 = int(np.clip(x, 0, W - 2)), int(np.clip(y, 0, H - 2))
    return {
        "x1": x0,
        "y1": y0,
        "x2": int(np.clip(x0 + w, x0 + 1, W)),
        "y2": int(np.clip(y0 + h, y0 + 1, H)),
    }


def _rle(box: dict) -> dict:
    from pycocotools import mask as mask_utils

    canvas = np.zeros((H, W), np.uint8, order="F")
    canvas[box["y1"] : box["y2"], box["x1"] : box["x2"]] = 1
    rle = mask_utils.encode(canvas)
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def make_videos(seed: int, num_videos: int = 2, num_frames: int = 12):
    """Synthetic scalabel gt and perturbed predictions: every class, distractors, a crowd region."""
    rng = np.random.default_rng(seed)
    gt, pred = {}, {}
    for v in range(num_videos):
        name = f"video-{v}"
        tracks = [
            (i + 1, c)
            for i, c in enumerate(
                CLASSES + ["car", "pedestrian", "other vehicle", "other person", "pedestrian"]
            )
        ]
        crowd_id = tracks[-1][0]
        state = {
            tid: [
                rng.uniform(0, W - 40),
                rng.uniform(0, H - 30),
                rng.uniform(12, 40),
                rng.uniform(12, 30),
                rng.uniform(-3, 3),
                rng.uniform(-2, 2),
            ]
            for tid, _ in tracks
        }
        span = {tid: sorted(rng.integers(0, num_frames, 2)) for tid, _ in tracks}
        gt_frames, pred_frames = [], []
        for t in range(num_frames):
            g_labels, p_labels = [], []
            for tid, cat in tracks:
                x, y, w, h, dx, dy = state[tid]
                state[tid][:2] = [x + dx, y + dy]
                if not span[tid][0] <= t <= span[tid][1] + 3:
                    continue
                box = _box(x, y, w, h)
                crowd = tid == crowd_id
                g_labels.append(
                    {
                        "id": str(tid),
                        "category": cat,
                        "box2d": box,
                        "rle": _rle(box),
                        "attributes": {"Crowd": crowd, "occluded": False},
                    }
                )
                if rng.random() < 0.12:
                    continue  # missed
                p_cat = (
                    cat if rng.random() > 0.1 else str(rng.choice(CLASSES))
                )  # some wrong classes
                p_id = tid + (
                    100 if t > num_frames // 2 and tid % 4 == 0 else 0
                )  # some id switches
                jit = rng.integers(-3, 4, 4)
                pbox = _box(
                    box["x1"] + jit[0],
                    box["y1"] + jit[1],
                    box["x2"] - box["x1"] + jit[2],
                    box["y2"] - box["y1"] + jit[3],
                )
                p_labels.append(
                    {
                        "id": str(p_id),
                        "category": p_cat,
                        "box2d": pbox,
                        "rle": _rle(pbox),
                        "score": float(rng.uniform(0.3, 1)),
                    }
                )
            # clutter, and unmatched predictions inside the distractor / crowd regions (removed by
            # preproc)
            for k in range(int(rng.integers(0, 3))):
                fbox = _box(
                    rng.uniform(0, W), rng.uniform(0, H), rng.uniform(8, 30), rng.uniform(8, 30)
                )
                p_labels.append(
                    {
                        "id": str(500 + 10 * t + k),
                        "category": str(rng.choice(CLASSES)),
                        "box2d": fbox,
                        "rle": _rle(fbox),
                    }
                )
            for lab in g_labels:
                if (
                    lab["category"] in ("other vehicle", "other person")
                    or lab["attributes"]["Crowd"]
                ):
                    b = lab["box2d"]
                    inner = _box(
                        b["x1"] + 1,
                        b["y1"] + 1,
                        (b["x2"] - b["x1"]) * 0.7,
                        (b["y2"] - b["y1"]) * 0.7,
                    )
                    p_labels.append(
                        {
                            "id": str(900 + 10 * t + len(p_labels)),
                            "category": "pedestrian",
                            "box2d": inner,
                            "rle": _rle(inner),
                        }
                    )
            meta = {"name": f"{name}/{t:04d}.jpg", "videoName": name, "frameIndex": t, "index": t}
            gt_frames.append({**meta, "labels": g_labels})
            pred_frames.append({**meta, "labels": p_labels})
        gt[name], pred[name] = gt_frames, pred_frames
    return gt, pred


def _write_folder(videos: dict, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frames in videos.items():
        (folder / f"{name}.json").write_text(json.dumps(frames))
    return folder


def _trackeval_bdd(gt_dir: Path, trackers: Path):
    trackeval = pytest.importorskip("trackeval")
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
    dataset = trackeval.datasets.BDD100K(
        {
            "GT_FOLDER": str(gt_dir),
            "TRACKERS_FOLDER": str(trackers),
            "TRACKERS_TO_EVAL": ["masa"],
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
    return res["BDD100K"]["masa"]["COMBINED_SEQ"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equal_to_trackeval_bdd100k(tmp_path, seed):
    pytest.importorskip("trackeval")
    gt, pred = make_videos(seed)
    gt_dir = _write_folder(gt, tmp_path / "gt")
    pred_dir = _write_folder(pred, tmp_path / "trackers" / "masa" / "data")
    ref = _trackeval_bdd(gt_dir, tmp_path / "trackers")
    ours = evaluate(gt_dir, pred_dir, "bdd")
    assert set(ours.per_class) == set(CLASSES)
    for cls in CLASSES:
        assert_same_as_trackeval(ours.per_class[cls], ref[cls], cls)
    assert_same_as_trackeval(ours.combined, ref["cls_comb_det_av"], "detection average")
    class_av = {k[1:]: v for k, v in ours.combined.items() if k.startswith("m")}
    assert assert_same_as_trackeval(class_av, ref["cls_comb_cls_av"], "class average") > 20
    assert {"mMOTA", "mIDF1", "mHOTA"} <= set(ours.combined)


def test_single_file_layout_and_scalabel_ids(tmp_path):
    gt, pred = make_videos(5)
    flat_gt = [fr for frames in gt.values() for fr in frames]
    flat_pred = [
        {**fr, "labels": [{**lab, "id": f"trk-{lab['id']}"} for lab in fr["labels"]]}
        for frames in pred.values()
        for fr in frames
    ]  # non-numeric scalabel ids
    for fr in flat_gt:
        del fr["index"]
        for lab in fr["labels"]:
            lab["attributes"] = {"crowd": lab["attributes"]["Crowd"]}
    (tmp_path / "gt.json").write_text(json.dumps(flat_gt))
    (tmp_path / "pred.json").write_text(json.dumps(flat_pred))
    per_file = evaluate(
        _write_folder(gt, tmp_path / "g"), _write_folder(pred, tmp_path / "p"), "bdd"
    )
    single = evaluate(tmp_path / "gt.json", tmp_path / "pred.json", "bdd")
    assert single.combined == per_file.combined and single.per_class == per_file.per_class
    assert detect_format(tmp_path / "gt.json") == detect_format(tmp_path / "g") == "bdd"
    seq = read_bdd(tmp_path / "gt.json", tmp_path / "pred.json").sequences[0]
    assert len(seq.ignore.ids) > 0  # crowd and distractor gt became ignore regions


def test_mots_mask_iou_equals_box_iou(tmp_path):
    # Integer boxes rasterised as masks: pixel counts equal box areas, so every IoU (and every IoA
    # with the
    # crowd regions) is the same number, and so is every metric.
    gt, pred = make_videos(7)
    gt_dir, pred_dir = _write_folder(gt, tmp_path / "gt"), _write_folder(pred, tmp_path / "pred")
    boxes = evaluate(gt_dir, pred_dir, "bdd")
    masks = evaluate(gt_dir, pred_dir, "bdd", use_mask=True)
    assert boxes.combined == masks.combined and boxes.per_class == masks.per_class
    assert boxes.per_sequence == masks.per_sequence
    assert 0.2 < boxes.combined["HOTA"] < 0.95
