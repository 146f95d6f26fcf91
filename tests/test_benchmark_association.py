"""The association benchmark's switch audit (`benchmarks/association.py`)."""

import importlib.util
from pathlib import Path

import numpy as np

from masa.io.detections import DetectionTable

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "association.py"
_SPEC = importlib.util.spec_from_file_location("association_benchmark", _PATH)
association = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(association)

PERSON_A = [0, 0, 20, 40]
PERSON_B = [100, 0, 120, 40]
CLUTTER = [300, 300, 320, 340]


def _table(rows: list[tuple[int, int, list[float]]]) -> DetectionTable:
    frames = np.array([frame for frame, _, _ in rows])
    ids = np.array([identity for _, identity, _ in rows])
    xyxy = np.array([box for _, _, box in rows], dtype=np.float32)
    ones = np.ones(len(rows))
    return DetectionTable(frames, xyxy, ones, ones.astype(np.int64), {1: "person"}, source_id=ids)


def test_switch_sources_names_where_each_switch_comes_from():
    people = ((1, PERSON_A), (2, PERSON_B))
    truth = _table([(f, person, box) for f in range(4) for person, box in people])
    results = _table([
        (0, 10, PERSON_A), (0, 20, PERSON_B), (0, 30, CLUTTER),
        (1, 30, PERSON_A), (1, 20, PERSON_B),  # A takes the clutter box's id
        (2, 20, PERSON_A), (2, 40, PERSON_B),  # A takes B's id, B gets a fresh one
        (3, 20, PERSON_A), (3, 40, PERSON_B),  # no change
    ])
    counts = association.switch_sources(truth, results, num_frames=4)
    assert counts == {"new id": 1, "another person's id": 1, "an unmatched box's id": 1}


def test_switch_sources_counts_nothing_for_stable_ids():
    truth = _table([(f, 1, PERSON_A) for f in range(3)])
    results = _table([(f, 7, PERSON_A) for f in range(3)] + [(1, 8, CLUTTER)])
    counts = association.switch_sources(truth, results, num_frames=3)
    assert sum(counts.values()) == 0
