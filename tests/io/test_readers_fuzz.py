"""Hostile input for the detection readers and `seqinfo.ini`: random bytes, truncated and mutated
real files. Each input either parses into something usable or raises `InputError`; any other
exception fails the test."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from masa.errors import InputError
from masa.io import check_frames, open_frames, read_detections
from tests.conftest import REPO, SHARED
from tests.fuzzing import FUZZ, hostile_file

PETS = SHARED / "data" / "mot" / "PETS09-S2L1"


def _head(path: Path, lines: int = 40) -> bytes:
    return b"".join(path.read_bytes().splitlines(keepends=True)[:lines])


def _mot_files() -> list[bytes]:
    files = [REPO / "samples" / "shapes_dets.txt", PETS / "det" / "det.txt", PETS / "gt" / "gt.txt"]
    return [_head(p) for p in files if p.is_file()]


def _coco_results() -> list:
    return [
        {"image_id": 1, "video_id": 1, "track_id": 3, "bbox": [10.0, 20.0, 30.5, 40.0],
         "score": 0.9, "category_id": 1, "category_name": "disc"},
        {"image_id": 2, "video_id": 1, "track_id": 3, "bbox": [12.0, 21.0, 30.0, 40.0],
         "score": 0.8, "category_id": 2},
    ]


def _coco_dataset() -> dict:
    return {
        "images": [
            {"id": 7, "video_id": 1, "frame_index": 0, "height": 6, "width": 5},
            {"id": 9, "video_id": 1, "height": 6, "width": 5},
        ],
        "annotations": [
            {"image_id": 7, "bbox": [0, 0, 2, 3], "category_id": 1, "instance_id": 1,
             "segmentation": {"size": [6, 5], "counts": "0330b0"}},
            {"image_id": 9, "bbox": [1, 1, 2, 2], "category_id": 2, "score": 0.5, "track_id": 2,
             "segmentation": {"size": [6, 5], "counts": [7, 2, 4, 2, 15]}},
            {"frame_index": 1, "image_id": 9, "bbox": [1, 1, 2, 2], "category_id": 1, "track_id": 4,
             "segmentation": [[1, 1, 3, 1, 3, 3, 1, 3]]},
        ],
        "categories": [{"id": 1, "name": "disc"}, {"id": 2, "name": "square"}],
    }


@pytest.fixture(scope="module")
def work() -> Path:
    with tempfile.TemporaryDirectory(prefix="masa-fuzz-") as folder:
        yield Path(folder)


def _parses_or_input_error(path: Path) -> None:
    try:
        table = read_detections(path)
    except InputError as e:
        assert "\n" not in str(e) and str(e), repr(e)
        return
    assert all(frame_idx >= 0 for frame_idx in table.frame_indices)
    for frame_idx in table.frame_indices[:3]:  # what `masa track` does with a table
        dets = table.get(frame_idx)
        assert np.isfinite(dets.xyxy.numpy()).all() and len(dets) > 0
    try:
        check_frames(table, 50, path)
    except InputError as e:
        assert "\n" not in str(e)


def test_real_inputs_parse(work: Path) -> None:
    """The seeds of the fuzzing below are themselves valid."""
    for k, data in enumerate(_mot_files()):
        (work / f"seed{k}.txt").write_bytes(data)
        assert read_detections(work / f"seed{k}.txt").num_detections > 0
    (work / "seed.json").write_text(json.dumps(_coco_results()))
    assert read_detections(work / "seed.json").num_detections == 2
    (work / "seed.json").write_text(json.dumps(_coco_dataset()))
    table = read_detections(work / "seed.json")
    masks = [table.get(frame_idx).mask for frame_idx in table.frame_indices]
    assert table.frame_indices == [0, 1] and [m.shape for m in masks] == [(2, 6, 5), (1, 6, 5)]


@FUZZ
@given(data=st.data())
def test_mot_txt_reader_never_crashes(work: Path, data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(_mot_files()))
    path = work / "dets.txt"
    path.write_bytes(data.draw(hostile_file(seed)))
    _parses_or_input_error(path)


@FUZZ
@given(data=st.data())
def test_coco_json_reader_never_crashes(work: Path, data: st.DataObject) -> None:
    doc = data.draw(st.sampled_from([_coco_results(), _coco_dataset()]))
    path = work / "dets.json"
    path.write_bytes(data.draw(hostile_file(json.dumps(doc).encode(), doc)))
    _parses_or_input_error(path)


SEQINFO = (
    b"[Sequence]\nname=PETS09-S2L1\nimDir=img1\nframeRate=7\nseqLength=169\nimWidth=768\n"
    b"imHeight=576\nimExt=.jpg\n"
)


@FUZZ
@given(ini=hostile_file(SEQINFO))
def test_seqinfo_never_crashes(work: Path, ini: bytes) -> None:
    img1 = work / "SEQ" / "img1"
    if not img1.is_dir():
        img1.mkdir(parents=True)
        cv2.imwrite(str(img1 / "000001.png"), np.zeros((4, 6, 3), np.uint8))
    (work / "SEQ" / "seqinfo.ini").write_bytes(ini)
    try:
        frames = open_frames(img1)
    except InputError as e:
        assert "\n" not in str(e) and "seqinfo.ini" in str(e)
        return
    assert frames.name == "SEQ" and math.isfinite(frames.fps) and frames.fps > 0


def _result(**fields) -> list:
    return [{"image_id": 1, "bbox": [1, 1, 2, 2], "score": 0.5, "category_id": 1, **fields}]


def _polygon_on(image: dict, polygon: list) -> dict:
    return {"images": [{"id": 1, **image}], "categories": [{"id": 1, "name": "a"}], "annotations": [
        {"image_id": 1, "bbox": [1, 1, 2, 2], "category_id": 1, "segmentation": [polygon]}]}


# Inputs the fuzzing found that crashed the readers (a traceback, or a segfault or an
# out-of-memory kill inside pycocotools), each with the one-line error it gives now.
FOUND = {
    "deep nesting": ("[" * 100_000, "nested too deeply"),
    "category id 2**70": (_result(category_id=2**70), "category_id must be an integer"),
    "image id 2**70": (_result(image_id=2**70), "image_id must be an integer >= 1"),
    "bbox of 10**400": (_result(bbox=[1, 1, 10**400, 2]), "bbox must be 4 numbers"),
    "video id a list": (_result(video_id=[1]), "video_id must be numbers or strings"),
    "image id a list": ({"images": [{"id": [1]}], "annotations": []}, "must be numbers or strings"),
    "image height text": (_polygon_on({"height": "x", "width": 5}, [1, 1, 3, 1, 3, 3]),
                          "mask height and width must be integers"),
    "terapixel mask": (_polygon_on({"height": 10**6, "width": 10**6}, [1, 1, 3, 1, 3, 3]),
                       "larger than 67108864 pixels"),
    "polygon far away": (_polygon_on({"height": 6, "width": 5}, [1, 1, 1e12, 1, 3, 3]),
                         "polygon coordinates must be numbers within the frame"),
    "polygon NaN": (_polygon_on({"height": 6, "width": 5}, [1, 1, math.nan, 1, 3, 3]),
                    "polygon coordinates must be numbers within the frame"),
    "MOT frame 1e23": ("99999999999999999999999,-1,1,1,2,2,0.5\n", "frame must be <= 2147483648"),
}


@pytest.mark.parametrize("case", sorted(FOUND))
def test_inputs_found_by_fuzzing(work: Path, case: str) -> None:
    content, message = FOUND[case]
    path = work / ("found.txt" if isinstance(content, str) and "," in content else "found.json")
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(InputError, match=message) as e:
        read_detections(path)
    assert "\n" not in str(e.value)


def test_seqinfo_infinite_frame_rate(work: Path) -> None:
    (work / "INF" / "img1").mkdir(parents=True)
    cv2.imwrite(str(work / "INF" / "img1" / "1.png"), np.zeros((4, 6, 3), np.uint8))
    (work / "INF" / "seqinfo.ini").write_text("[Sequence]\nframeRate=inf\n")
    with pytest.raises(InputError, match="frameRate must be a positive number"):
        open_frames(work / "INF" / "img1")
