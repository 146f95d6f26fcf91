"""TETA: every per-class and average row of the `teta` reference fixture, the open-vocabulary
split, and hand-computed cases for the rules that make TETA differ from per-class HOTA."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from masa.eval import evaluate

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
FIXTURE = SHARED / "parity" / "teta.json"
COLUMNS = (
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


def _cases():
    if not FIXTURE.is_file():
        return []
    return json.loads(FIXTURE.read_text())["cases"]


def _evaluate(tmp_path: Path, gt: dict, predictions: list, **kw):
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(predictions))
    return evaluate(tmp_path / "gt.json", tmp_path / "res.json", "tao", ["teta"], **kw)


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["name"])
def test_reproduces_reference_rows(tmp_path, case):
    result = _evaluate(tmp_path, case["gt"], case["predictions"])
    rows = {**result.per_class, "average": result.combined}
    assert set(case["expected"]) == set(rows)
    for cls, expected in case["expected"].items():
        ref = expected["TETA"]["50"]
        ours = [100 * rows[cls][c] for c in COLUMNS]
        # The reference prints "{:1.5g}" of the percentage: same string, i.e. same number to its
        # rounding.
        assert ["{0:1.5g}".format(v) for v in ours] == ref, cls
        np.testing.assert_allclose(ours, np.array(ref, float), atol=0.0015, err_msg=cls)


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["name"])
def test_open_vocabulary_split(tmp_path, case):
    # MASA's compute_teta_on_ovsetup: mean of the per-class rows over base (frequency != "r") and
    # novel.
    result = _evaluate(tmp_path, case["gt"], case["predictions"])
    freq = {c["name"]: c["frequency"] for c in case["gt"]["categories"]}
    for split, members in (
        ("base", [n for n, f in freq.items() if f != "r"]),
        ("novel", [n for n, f in freq.items() if f == "r"]),
    ):
        ref = np.mean([np.array(case["expected"][n]["TETA"]["50"], float) for n in members], axis=0)
        ours = [100 * result.splits[split][c] for c in COLUMNS]
        np.testing.assert_allclose(
            ours, ref, atol=0.0015, err_msg=split
        )  # ref averages rounded rows


def _video(frames: int) -> dict:
    images = [
        {
            "id": t + 1,
            "video_id": 1,
            "frame_index": t,
            "file_name": f"v/{t}.jpg",
            "width": 100,
            "height": 100,
        }
        for t in range(frames)
    ]
    cats = [
        {"id": 1, "name": "cat_a", "frequency": "f"},
        {"id": 2, "name": "cat_b", "frequency": "r"},
    ]
    return {
        "videos": [
            {"id": 1, "name": "v", "neg_category_ids": [], "not_exhaustive_category_ids": []}
        ],
        "images": images,
        "categories": cats,
        "annotations": [],
        "tracks": [],
    }


def _ann(n: int, frame: int, track: int, cat: int, box: list[float]) -> dict:
    return {
        "id": n,
        "image_id": frame + 1,
        "video_id": 1,
        "track_id": track,
        "category_id": cat,
        "bbox": box,
        "area": box[2] * box[3],
        "iscrowd": 0,
    }


def _pred(frame: int, track: int, cat: int, box: list[float]) -> dict:
    return {
        "image_id": frame + 1,
        "video_id": 1,
        "track_id": track,
        "category_id": cat,
        "bbox": box,
        "score": 0.9,
    }


def test_wrong_class_adds_a_class_false_positive(tmp_path):
    # One frame: gt a (class A) and b (class B) far apart; both predicted exactly, both predicted as
    # A.
    # Class A: p1 matches a at every alpha: LocA = AssocA = 1; Cls_TP 1, and b's prediction (class
    # A)
    #   adds Cls_FP 1 to A: ClsA = 1/(1+0+1) = 1/2, ClsRe = 1, ClsPr = 1/2 -> TETA = (1 + 1 + 1/2)/3
    # = 5/6.
    # Class B: p2 matches b (localisation ignores the predicted class), but Cls_FN 1: ClsA = 0 ->
    # TETA 2/3.
    # Average over the two classes: (5/6 + 2/3)/2 = 3/4.
    gt = _video(1)
    gt["annotations"] = [_ann(1, 0, 1, 1, [0, 0, 10, 10]), _ann(2, 0, 2, 2, [50, 50, 10, 10])]
    preds = [_pred(0, 1, 1, [0, 0, 10, 10]), _pred(0, 2, 1, [50, 50, 10, 10])]
    r = _evaluate(tmp_path, gt, preds)
    a, b = r.per_class["cat_a"], r.per_class["cat_b"]
    assert (a["LocA"], a["AssocA"], a["ClsA"], a["ClsRe"], a["ClsPr"]) == (1, 1, 0.5, 1, 0.5)
    assert (
        a["TETA"] == pytest.approx(5 / 6) and b["TETA"] == pytest.approx(2 / 3) and b["ClsA"] == 0
    )
    assert r.combined["TETA"] == pytest.approx(3 / 4)
    assert r.splits["base"]["TETA"] == pytest.approx(5 / 6) and r.splits["novel"][
        "TETA"
    ] == pytest.approx(2 / 3)


def test_prediction_assigned_to_another_class_is_not_a_candidate(tmp_path):
    # gt a = [0,0,10,10] (class A), gt b = [0,0,10,8] (class B); IoU(a, b) = 80/100 = 0.8.
    # p2 = a's box (class A), p1 = b's box (class B). Class-agnostic step: Hungarian on alignment *
    # IoU picks
    # a<->p2 and b<->p1 (IoU 1 each) over the crossed pairs (IoU 0.8 each).
    # Class A candidates: IoU >= 0.5 with a are p1 (0.8) and p2 (1.0), minus p1 (assigned to b,
    # class B):
    #   only p2 -> TP 1, FN 0, FP 0 at every alpha; without that rule p1 would be a localisation FP.
    # Class B likewise keeps only p1. Every field is 1.
    gt = _video(1)
    gt["annotations"] = [_ann(1, 0, 1, 1, [0, 0, 10, 10]), _ann(2, 0, 2, 2, [0, 0, 10, 8])]
    preds = [_pred(0, 1, 2, [0, 0, 10, 8]), _pred(0, 2, 1, [0, 0, 10, 10])]
    r = _evaluate(tmp_path, gt, preds)
    for cls in ("cat_a", "cat_b"):
        assert all(r.per_class[cls][c] == 1 for c in COLUMNS), cls
        assert r.per_class[cls]["Loc_FP___50"] == 0


def test_alpha_zero_counts_any_hungarian_pair(tmp_path):
    # Frame 0: gt g and prediction p coincide (IoU 1). Frame 1: p is far from g (IoU 0), but p is a
    # candidate
    # track (it overlaps g in frame 0), so frame 1's Hungarian still pairs g with p, and at alpha =
    # 0
    # (IoU >= 0 - eps) that pair is a TP.
    # alpha 0:  TP 2, FN 0, FP 0 -> LocA 1;  A(g,p) = 2: AssocA = 2*2/(2+2-2)/2 = 1.
    # alpha>0:  TP 1, FN 1, FP 0 -> LocA 1/2; A = 1: AssocA = 1*1/(2+2-1)/1 = 1/3 (19 thresholds).
    # LocA = (1 + 19/2)/20 = 0.525; AssocA = (1 + 19/3)/20 = 11/30; ClsA (alpha >= 0.5): TP 1 -> 1.
    # TETA = (0.525 + 11/30 + 1)/3. LocRe = 0.525, LocPr = 1, AssocRe = AssocPr = (1 + 19/2)/20 =
    # 0.525.
    gt = _video(2)
    gt["annotations"] = [_ann(1, 0, 1, 1, [0, 0, 10, 10]), _ann(2, 1, 1, 1, [0, 0, 10, 10])]
    preds = [_pred(0, 7, 1, [0, 0, 10, 10]), _pred(1, 7, 1, [80, 80, 10, 10])]
    a = _evaluate(tmp_path, gt, preds).per_class["cat_a"]
    assert (
        a["LocA"] == pytest.approx(0.525)
        and a["AssocA"] == pytest.approx(11 / 30)
        and a["ClsA"] == 1
    )
    assert a["TETA"] == pytest.approx((0.525 + 11 / 30 + 1) / 3)
    assert (a["LocRe"], a["LocPr"]) == (pytest.approx(0.525), 1.0)
    assert a["AssocRe"] == pytest.approx(0.525) and a["AssocPr"] == pytest.approx(0.525)
    assert (a["Loc_TP___0"], a["Loc_TP___5"]) == (2, 1)


def _rasterise(case: dict) -> tuple[dict, list]:
    """Integer boxes inside the 640x480 frame, each also given as an RLE mask of that box."""
    from pycocotools import mask as mask_utils

    def fix(entry: dict) -> dict:
        x, y, w, h = entry["bbox"]
        x0, y0 = int(np.clip(round(x), 0, 638)), int(np.clip(round(y), 0, 478))
        x1, y1 = int(np.clip(round(x + w), x0 + 1, 640)), int(np.clip(round(y + h), y0 + 1, 480))
        canvas = np.zeros((480, 640), np.uint8, order="F")
        canvas[y0:y1, x0:x1] = 1
        rle = mask_utils.encode(canvas)
        return {
            **entry,
            "bbox": [x0, y0, x1 - x0, y1 - y0],
            "segmentation": {"size": rle["size"], "counts": rle["counts"].decode("ascii")},
        }

    gt = {**case["gt"], "annotations": [fix(a) for a in case["gt"]["annotations"]]}
    return gt, [fix(p) for p in case["predictions"]]


def test_mask_iou_path_equals_box_path(tmp_path):
    case = next((c for c in _cases() if c["name"] == "everything"), None)
    if case is None:
        pytest.skip("teta fixture missing")
    gt, preds = _rasterise(case)
    boxes = _evaluate(tmp_path, gt, preds)
    masks = _evaluate(tmp_path, gt, preds, use_mask=True)
    assert boxes.per_class == masks.per_class and boxes.combined == masks.combined
    assert 0.3 < boxes.combined["TETA"] < 0.7
