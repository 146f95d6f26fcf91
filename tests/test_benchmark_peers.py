"""The pure-python parts of the peer benchmark (`benchmarks/peers.py`,
`benchmarks/_peer_runner.py`); the peer venv itself is not needed."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    if str(BENCHMARKS) not in sys.path:  # peers.py imports its runner as a sibling module
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = _load("_peer_runner")
peers = _load("peers")

FRAMES = np.array([1, 1, 2, 2, 2])
BOXES = np.array([[0, 0, 10, 20], [649.441, 231.502, 693.858, 317.632],
                  [0, 0, 10, 20], [5, 5, 15, 25], [100, 100, 120, 140]], dtype=np.float64)
EMBEDDINGS = np.arange(10, dtype=np.float32).reshape(5, 2)


def test_stored_embeddings_returns_each_boxs_own_row_in_query_order():
    stored = runner.StoredEmbeddings(FRAMES, BOXES, EMBEDDINGS)
    stored.frame = 2
    query = BOXES[[4, 2, 3]].astype(np.float32)  # BoxMOT hands float32 boxes in its own order
    np.testing.assert_array_equal(stored.get_features(query, image=None), EMBEDDINGS[[4, 2, 3]])
    stored.frame = 1  # the same box in another frame has another embedding
    np.testing.assert_array_equal(stored.get_features(BOXES[[1, 0]]), EMBEDDINGS[[1, 0]])


def test_stored_embeddings_refuses_a_box_it_does_not_hold():
    stored = runner.StoredEmbeddings(FRAMES, BOXES, EMBEDDINGS)
    stored.frame = 2
    with pytest.raises(KeyError, match="px from every stored box"):
        stored.get_features(np.array([[5, 5, 15, 25.5]]))
    stored.frame = 3
    with pytest.raises(KeyError, match="no stored boxes"):
        stored.get_features(BOXES[:1])
    assert stored.get_features(np.zeros((0, 4))).shape == (0, 2)


def test_mot_lines_and_atomic_write(tmp_path):
    boxes = np.array([[10, 20, 40, 80], [0.5, 1.25, 2.5, 3.0]])
    lines = runner.mot_lines(3, [7, 8], boxes, [0.9, 0.12345])
    assert lines == ["3,7,10.00,20.00,30.00,60.00,0.9000,-1,-1,-1\n",
                     "3,8,0.50,1.25,2.00,1.75,0.1235,-1,-1,-1\n"]
    path = runner.results_path(tmp_path, "BoxMOT BoT-SORT +emb", "SEQ")
    assert path == tmp_path / "BoxMOT-BoT-SORT-emb" / "SEQ.txt"
    runner.write_atomic(path, lines)
    assert path.read_text() == "".join(lines)
    assert sorted(p.name for p in path.parent.iterdir()) == ["SEQ.txt"]  # no temporary left

    def failing():
        yield "partial\n"
        raise RuntimeError("tracker broke")

    with pytest.raises(RuntimeError):
        runner.write_atomic(path, failing())
    assert path.read_text() == "".join(lines)  # the old file stays whole
    assert sorted(p.name for p in path.parent.iterdir()) == ["SEQ.txt"]


def test_detector_box_count_and_label():
    given = np.array([[0, 0, 10, 20], [5, 5, 15, 25]], dtype=np.float64)
    written = np.array([[0, 0, 10, 20.004], [5.3, 5, 15, 25], [0, 0, 10, 20]], dtype=np.float32)
    assert runner.detector_box_count(written, given) == 2
    assert runner.detector_box_count(written[:0], given) == 0
    assert peers.boxes_label(5, 5) == "det boxes"
    assert peers.boxes_label(1, 4) == "KF boxes, 25% det"


class _RowCountEmbedder:
    """Embeds each box as (x1, number of boxes in its frame), so stored rows can be checked."""

    def embed(self, image: np.ndarray, boxes_xyxy: torch.Tensor) -> torch.Tensor:
        count = torch.full((len(boxes_xyxy),), float(len(boxes_xyxy)))
        return torch.stack([boxes_xyxy[:, 0], count], 1)


def test_write_inputs_keeps_every_det_row_in_order(tmp_path):
    seq = tmp_path / "SEQ"
    (seq / "img1").mkdir(parents=True)
    (seq / "det").mkdir()
    import cv2

    for frame in (1, 2, 3):
        cv2.imwrite(str(seq / "img1" / f"{frame:06d}.jpg"), np.zeros((40, 60, 3), np.uint8))
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=SEQ\nimDir=img1\nframeRate=5\nseqLength=3\n"
                                     "imWidth=60\nimHeight=40\nimExt=.jpg\n")
    (seq / "det" / "det.txt").write_text("1,-1,1.5,2,10,20,0.9,-1,-1,-1\n"
                                         "1,-1,30,2,10,20,0.6,-1,-1,-1\n"
                                         "3,-1,7.25,8,5,6,0.7,-1,-1,-1\n")
    path = tmp_path / "inputs.npz"
    peers.write_inputs(path, seq, _RowCountEmbedder())
    with np.load(path, allow_pickle=False) as data:
        np.testing.assert_array_equal(data["frames"], [1, 1, 3])
        np.testing.assert_allclose(data["boxes"],
                                   [[1.5, 2, 11.5, 22], [30, 2, 40, 22], [7.25, 8, 12.25, 14]])
        np.testing.assert_allclose(data["scores"], [0.9, 0.6, 0.7], rtol=1e-6)
        np.testing.assert_allclose(data["embeddings"], [[1.5, 2], [30, 2], [7.25, 1]])
        names = [Path(str(p)).name for p in data["images"]]
        assert names == ["000001.jpg", "000002.jpg", "000003.jpg"]
        assert str(data["sequence"]) == "SEQ" and float(data["fps"]) == 5.0
        stored = runner.StoredEmbeddings(data["frames"], data["boxes"], data["embeddings"])
    stored.frame = 3
    query = np.array([[7.25, 8, 12.25, 14]], np.float32)
    np.testing.assert_allclose(stored.get_features(query), [[7.25, 1]])


def test_venv_dir_depends_on_the_pins(tmp_path, monkeypatch):
    first = peers.venv_dir(tmp_path)
    monkeypatch.setattr(peers, "PINNED", (*peers.PINNED[:-1], "torchvision==0.0.1"))
    assert peers.venv_dir(tmp_path) != first and first.parent == tmp_path
    assert first.name.startswith("peers-")


def test_table_rows_never_cost_the_rest_of_the_table(monkeypatch):
    parser = argparse.ArgumentParser()
    peers.add_arguments(parser)
    logged: list[str] = []
    assert peers.table_rows(parser.parse_args(["--no-peers"]), ("HOTA",), log=logged.append) == []
    monkeypatch.setattr(peers, "ensure_venv", lambda log: Path("/no/python"))
    monkeypatch.setattr(peers, "masa_embedder", lambda checkpoint, resize: None)

    def broken_runner(*args, **kwargs):
        raise RuntimeError("peer runner failed (1): boom")

    monkeypatch.setattr(peers, "run_peers", broken_runner)
    assert peers.table_rows(parser.parse_args([]), ("HOTA",), log=logged.append) == []
    assert logged == ["peers: no rows: RuntimeError: peer runner failed (1): boom"]
    row = {"HOTA": 0.3761, "IDSW": 23.0, "boxes": "det boxes", "frames/s": 299.94}
    assert peers.format_row("det.txt", "trackers BoT-SORT", row, ("HOTA", "IDSW")) == (
        "| det.txt | trackers BoT-SORT (det boxes) | 37.6 | 23 | - | 299.9 |")
