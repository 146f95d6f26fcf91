"""Parity with the official MasaTaoTracker / MasaBDDTracker on `shared/parity/trackers.json`.

The fixture holds six seeded synthetic sequences (crossing objects, look-alikes, occlusion gaps,
low-score duplicates, clutter) and, per config, the official tracker's output per frame in the
order it returns it. Embeddings are rows of `trackers.embeddings.safetensors`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
import torch

from masa.structures import Detections
from masa.tracking import MasaBddTracker, MasaTaoTracker

PARITY_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "parity"
TRACKERS_JSON = PARITY_DIR / "trackers.json"
EMBEDDINGS_FILE = PARITY_DIR / "trackers.embeddings.safetensors"
CONFIG_NAMES = ("tao_test", "tao_demo", "bdd")
NUM_SEQUENCES = 6

pytestmark = pytest.mark.skipif(
    not (TRACKERS_JSON.is_file() and EMBEDDINGS_FILE.is_file()),
    reason=f"parity fixture not found: {TRACKERS_JSON} and {EMBEDDINGS_FILE}",
)


@pytest.fixture(scope="module", autouse=True)
def _single_thread() -> Iterator[None]:
    # Thousands of tiny ops: intra-op threads only add contention on a shared CPU (8x slower).
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def fixture() -> dict[str, Any]:
    from safetensors.torch import load_file

    with TRACKERS_JSON.open() as f:
        data = json.load(f)
    data["embeddings"] = load_file(str(EMBEDDINGS_FILE))
    return data


def _tracker_from_official(name: str, config: dict[str, Any]) -> MasaTaoTracker | MasaBddTracker:
    """Maps the official keyword names of `configs[name]` onto ours."""
    common = dict(
        init_score_threshold=config["init_score_thr"],
        obj_score_threshold=config["obj_score_thr"],
        match_score_threshold=config["match_score_thr"],
        memory_frames=config["memo_tracklet_frames"],
        new_embed_weight=config["memo_momentum"],
    )
    if name.startswith("tao"):
        # distractor_* are not in the fixture's config: the class defaults 0.5 / 0.3 apply.
        max_distance = config["max_distance"]
        return MasaTaoTracker(
            **common,
            distractor_score_threshold=config.get("distractor_score_thr", 0.5),
            distractor_iou_threshold=config.get("distractor_nms_thr", 0.3),
            max_distance=None if max_distance == -1 else max_distance,
            fps=config["fps"],
        )
    return MasaBddTracker(
        **common,
        backdrop_frames=config["memo_backdrop_frames"],
        nms_conf_threshold=config["nms_conf_thr"],
        backdrop_iou_threshold=config["nms_backdrop_iou_thr"],
        class_iou_threshold=config["nms_class_iou_thr"],
        match_metric=config["match_metric"],
        with_cats=config["with_cats"],
    )


def _frame_detections(frame: dict[str, Any], embeddings: torch.Tensor) -> Detections:
    n = len(frame["scores"])
    return Detections.from_arrays(
        torch.tensor(frame["boxes_xyxy"], dtype=torch.float32).reshape(n, 4),
        torch.tensor(frame["scores"], dtype=torch.float32),
        torch.tensor(frame["labels"], dtype=torch.int64),
        embedding=embeddings,
    )


def test_fixture_has_six_sequences_and_three_configs(fixture: dict[str, Any]) -> None:
    assert len(fixture["sequences"]) == NUM_SEQUENCES
    assert set(fixture["configs"]) == set(CONFIG_NAMES)


@pytest.mark.parametrize("config_name", CONFIG_NAMES)
@pytest.mark.parametrize("sequence_index", range(NUM_SEQUENCES))
def test_matches_official_tracker(
    fixture: dict[str, Any], sequence_index: int, config_name: str
) -> None:
    sequence = fixture["sequences"][sequence_index]
    tracker = _tracker_from_official(config_name, fixture["configs"][config_name])
    all_embeddings = fixture["embeddings"][sequence["embeddings_key"]]  # (sum N, D)
    row = 0
    for frame, expected in zip(sequence["frames"], sequence["expected"][config_name], strict=True):
        n = len(frame["scores"])
        dets = _frame_detections(frame, all_embeddings[row : row + n])
        row += n
        out = tracker.update(dets, frame["frame_id"])

        where = f"seed {sequence['seed']}, {config_name}, frame {frame['frame_id']}"
        assert out.tracker_id is not None and out.tracker_id.dtype == torch.int64
        assert out.tracker_id.tolist() == expected["ids"], where
        assert out.class_id.tolist() == expected["labels"], where
        expected_xyxy = torch.tensor(expected["boxes_xyxy"], dtype=torch.float32).reshape(-1, 4)
        torch.testing.assert_close(out.xyxy, expected_xyxy, rtol=0, atol=1e-5, msg=where)
        expected_scores = torch.tensor(expected["scores"], dtype=torch.float32)
        torch.testing.assert_close(out.confidence, expected_scores, rtol=0, atol=1e-5, msg=where)
    assert row == all_embeddings.shape[0]
