"""The on-disk spool of tracking results used by refinement."""

from __future__ import annotations

import torch

from masa.io.spool import DetectionSpool
from masa.structures import Detections


def test_round_trip_with_masks_and_cleanup(tmp_path):
    mask = torch.zeros(2, 5, 7, dtype=torch.bool)
    mask[0, 1:3, 2:6] = True
    first = Detections(torch.tensor([[0.0, 1, 2, 3], [4, 5, 6, 7]]), torch.tensor([0.5, 0.25]),
                       torch.tensor([1, 2]), mask=mask, tracker_id=torch.tensor([3, -1]),
                       data={"track_key": torch.tensor([9, 11])})
    with DetectionSpool(tmp_path, "clip") as spool:
        spool.append(4, first)
        spool.append(5, Detections.empty())
        for _ in range(2):  # it can be read more than once
            frames = list(spool)
            assert [f for f, _ in frames] == [4, 5]
            back = frames[0][1]
            assert torch.equal(back.xyxy, first.xyxy) and torch.equal(back.mask, mask)
            assert back.tracker_id.tolist() == [3, -1] and back.data["track_key"].tolist() == [9, 11]
            assert len(frames[1][1]) == 0
        assert spool.path.exists()
    assert not spool.path.exists() and list(tmp_path.iterdir()) == []


def test_a_frame_without_detections_keeps_its_mask_shape(tmp_path):
    empty = Detections(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.int64),
                       mask=torch.zeros(0, 5, 7, dtype=torch.bool), tracker_id=torch.zeros(0, dtype=torch.int64))
    with DetectionSpool(tmp_path, "clip") as spool:
        spool.append(0, empty)
        ((frame_idx, back),) = list(spool)
    assert frame_idx == 0 and back.mask.shape == (0, 5, 7)
