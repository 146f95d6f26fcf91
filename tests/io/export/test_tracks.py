"""masa.io.export.tracks: boxes regrouped by track, pauses found against the processed frames."""

from __future__ import annotations

import numpy as np
import pytest

from masa.io.export.tracks import TrackRows
from tests.io.export.dets import STRIDED, dets


def test_tracks_in_id_order_with_pauses_and_next_frames() -> None:
    rows = TrackRows()
    for frame_idx, d in STRIDED:
        rows.add(frame_idx, d)
    assert rows.frames == [0, 2, 4, 6, 8] and rows.num_boxes == 6  # the untracked box is skipped
    first, second = rows.tracks()
    # tracker id 0 -> track 1: absent from frame 4, the next processed frame after 2
    assert first.track_id == 1 and first.frames.tolist() == [0, 2, 6, 8]
    assert first.next_frames.tolist() == [2, 4, 8, -1]
    assert first.pauses.tolist() == [False, True, False, True]
    assert first.class_id == 1  # classes 1, 1, 2, 1
    assert first.xyxy[2].tolist() == [6, 0, 16, 10]
    # tracker id 3 -> track 4: frames 2 and 4, gone at 6
    assert second.track_id == 4 and second.frames.tolist() == [2, 4]
    assert second.pauses.tolist() == [False, True] and second.next_frames.tolist() == [4, 6]
    assert second.class_id == 2 and second.scores.tolist() == [0.5, 0.5]


def test_class_ties_go_to_the_smaller_id_and_extras_follow_their_boxes() -> None:
    rows = TrackRows()
    rows.add(0, dets([[0, 0, 1, 1], [0, 0, 2, 2]], [7, 2], class_id=[5, 9]), extras=["a", "b"])
    rows.add(1, dets([[0, 0, 3, 3]], [7], class_id=[4]), extras=["c"])
    by_id = {t.track_id: t for t in rows.tracks()}
    assert by_id[8].class_id == 4 and by_id[8].extras == ["a", "c"]
    assert by_id[3].extras == ["b"] and by_id[3].pauses.tolist() == [True]


def test_bad_input() -> None:
    rows = TrackRows()
    rows.add(3, dets([[0, 0, 1, 1]], [0]))
    with pytest.raises(ValueError, match="frames must increase"):
        rows.add(3, dets([[0, 0, 1, 1]], [0]))
    with pytest.raises(ValueError, match="extras must have 1"):
        rows.add(4, dets([[0, 0, 1, 1]], [0]), extras=[])
    assert list(TrackRows().tracks()) == []
    assert np.array_equal(next(rows.tracks()).frames, [3])
