"""Hostile input for `masa eval`: MOTChallenge folders (gt.txt, seqinfo.ini, results txt), TAO and
BDD100K scalabel JSON, as random bytes, truncated and mutated real files. Each input is either
scored or refused with `InputError`; any other exception fails the test."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from masa.errors import InputError
from masa.eval import evaluate
from tests.conftest import SHARED
from tests.fuzzing import FUZZ, hostile_file

PETS = SHARED / "data" / "mot" / "PETS09-S2L1"
SEQINFO = b"[Sequence]\nname=SEQ\nimDir=img1\nframeRate=7\nseqLength=4\nimWidth=768\nimHeight=576\n"


def _mot_lines(path: Path, frames: int = 4) -> bytes:
    """The lines of the first `frames` frames of a real MOT file."""
    lines = path.read_bytes().splitlines(keepends=True)
    return b"".join(ln for ln in lines if int(ln.split(b",")[0]) <= frames)


def _tao() -> tuple[dict, list]:
    box = {"bbox": [10.0, 10.0, 20.0, 30.0]}
    gt = {
        "videos": [{"id": 1, "name": "a/v1"}],
        "images": [{"id": i, "video_id": 1, "frame_index": i - 1} for i in (1, 2, 3)],
        "annotations": [
            {"id": i, "image_id": i, "video_id": 1, "track_id": 1, "category_id": 1, **box}
            for i in (1, 2, 3)
        ] + [{"id": 9, "image_id": 2, "video_id": 1, "track_id": 2, "category_id": 3, **box}],
        "categories": [
            {"id": 1, "name": "person", "frequency": "f"},
            {"id": 2, "name": "car", "frequency": "c", "merged": [{"id": 3}]},
        ],
    }
    results = [
        {"image_id": i, "video_id": 1, "track_id": 5, "category_id": 1, "score": 0.9, **box}
        for i in (1, 2)
    ] + [{"image_id": 2, "track_id": 6, "category_id": 2, "score": 0.4, **box}]
    return gt, results


def _bdd() -> tuple[list, list]:
    def frame(i: int, score: float | None) -> dict:
        labels = [
            {"id": "a1", "category": "car", "box2d": {"x1": 10, "y1": 10, "x2": 40, "y2": 30}},
            {"id": "b2", "category": "pedestrian", "attributes": {"crowd": i == 1},
             "box2d": {"x1": 50, "y1": 5, "x2": 60, "y2": 40}},
        ]
        if score is not None:
            for label in labels:
                label["score"] = score
        return {"name": f"v-{i}.jpg", "videoName": "v", "frameIndex": i, "labels": labels}

    return [frame(i, None) for i in range(3)], [frame(i, 0.8) for i in range(3)]


@pytest.fixture(scope="module")
def work() -> Path:
    with tempfile.TemporaryDirectory(prefix="masa-fuzz-eval-") as folder:
        yield Path(folder)


def _scored_or_input_error(gt: Path, results: Path, fmt: str) -> None:
    try:
        evaluate(gt, results, fmt)
    except InputError as e:
        assert str(e) and "\n" not in str(e), repr(e)


@pytest.fixture(scope="module")
def mot_seeds(shared: Path) -> dict[str, bytes]:
    return {
        "gt/gt.txt": _mot_lines(PETS / "gt" / "gt.txt"),
        "seqinfo.ini": SEQINFO,
        "results": _numbered(_mot_lines(PETS / "det" / "det.txt")),
    }


def _numbered(det: bytes) -> bytes:
    """det.txt lines (id -1) as tracker output: line k gets id k."""
    lines = det.splitlines(keepends=True)
    return b"".join(ln.replace(b",-1,", b",%d," % k, 1) for k, ln in enumerate(lines, 1))


def test_seeds_are_scored(work: Path, mot_seeds: dict[str, bytes]) -> None:
    """The files the fuzzing below starts from are valid."""
    _write_mot(work / "seed", mot_seeds)
    assert evaluate(work / "seed" / "gt", work / "seed" / "SEQ.txt", "mot").combined
    for name, (gt, results) in {"tao": _tao(), "bdd": _bdd()}.items():
        (work / f"{name}_gt.json").write_text(json.dumps(gt))
        (work / f"{name}_res.json").write_text(json.dumps(results))
        assert evaluate(work / f"{name}_gt.json", work / f"{name}_res.json", name).combined


def _write_mot(root: Path, files: dict[str, bytes]) -> None:
    shutil.rmtree(root, ignore_errors=True)
    (root / "gt" / "SEQ" / "gt").mkdir(parents=True)
    (root / "gt" / "SEQ" / "gt" / "gt.txt").write_bytes(files["gt/gt.txt"])
    (root / "gt" / "SEQ" / "seqinfo.ini").write_bytes(files["seqinfo.ini"])
    (root / "SEQ.txt").write_bytes(files["results"])


@FUZZ
@given(data=st.data())
def test_mot_folders_never_crash(
    work: Path, mot_seeds: dict[str, bytes], data: st.DataObject
) -> None:
    files = dict(mot_seeds)
    name = data.draw(st.sampled_from(sorted(files)))
    files[name] = data.draw(hostile_file(files[name]))
    _write_mot(work / "mot", files)
    _scored_or_input_error(work / "mot" / "gt", work / "mot" / "SEQ.txt", "mot")


@FUZZ
@given(data=st.data(), fmt=st.sampled_from(["tao", "bdd"]))
def test_json_formats_never_crash(work: Path, data: st.DataObject, fmt: str) -> None:
    docs = dict(zip(("gt", "res"), _tao() if fmt == "tao" else _bdd()))
    which = data.draw(st.sampled_from(["gt", "res"]))
    for name, doc in docs.items():
        text = json.dumps(doc).encode()
        if name == which:
            text = data.draw(hostile_file(text, doc))
        (work / f"{name}.json").write_bytes(text)
    _scored_or_input_error(work / "gt.json", work / "res.json", fmt)


@pytest.mark.parametrize("file, content, message", [
    ("results", b"nan,1,10,10,5,5,1\n", "NaN, infinite or too large value"),
    ("results", b"1,99999999999999999999999,10,10,5,5,1\n", "NaN, infinite or too large value"),
    ("seqinfo.ini", b"[Sequence]\nseqLength=99999999999999999999\n", "seqLength must be within"),
    ("results", b"1,7,0,0,0,0\n", None),  # matches nothing: CLEAR crashed on zero matches
])
def test_mot_inputs_found_by_fuzzing(
    work: Path, mot_seeds: dict[str, bytes], file: str, content: bytes, message: str | None
) -> None:
    _write_mot(work / "found", {**mot_seeds, file: content})
    if message is None:
        result = evaluate(work / "found" / "gt", work / "found" / "SEQ.txt", "mot")
        assert result.combined["HOTA"] == 0 and result.combined["CLR_TP"] == 0
        return
    with pytest.raises(InputError, match=message):
        evaluate(work / "found" / "gt", work / "found" / "SEQ.txt", "mot")


def test_deeply_nested_json_is_an_input_error(work: Path) -> None:
    (work / "deep.json").write_text("[" * 100_000)
    (work / "res.json").write_text("[]")
    for fmt in ("tao", "bdd"):
        with pytest.raises(InputError, match="nested too deeply"):
            evaluate(work / "deep.json", work / "res.json", fmt)
