"""`--tracker masa` options: the settings file, command-line overrides, refinement defaults and
the one-line errors for options of the other trackers."""

from __future__ import annotations

import dataclasses
import json

import pytest

from masa.errors import InputError
from masa.tracking import MasaTracker
from masa_cli.fusion_tracker import refine_config
from masa_cli.options import TrackerPreset
from masa_cli.runner import build_tracker
from masa_cli.settings import TrackerSettings


def test_default_is_the_masa_tracker_with_file_then_options(tmp_path):
    assert TrackerSettings().preset == TrackerPreset.masa
    config = tmp_path / "t.json"
    config.write_text(json.dumps({"tracker": {"min_hits": 4, "appearance_weight": 0.25}}))
    settings = dataclasses.replace(TrackerSettings(), tracker_config=config, min_hits=3, memory_seconds=4.0,
                                   obj_score_threshold=0.2)
    tracker = build_tracker(settings, fps=5.0, index_fps=25.0)
    assert isinstance(tracker, MasaTracker) and tracker.fps == 25.0  # time by the source's own rate
    c = tracker.config
    assert (c.min_hits, c.appearance_weight, c.reid_memory, c.low_score_threshold) == (3, 0.25, 4.0, 0.2)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"preset": TrackerPreset.tao, "min_hits": 3}, "--min-hits apply to --tracker masa only, not --tracker tao"),
        ({"max_distance": 50.0}, "--max-distance apply to the official TAO tracker only"),
        ({"match_score_threshold": 1.5}, "match_threshold must be in"),
        ({"memory_frames": 5, "memory_seconds": 1.0}, "not both"),
    ],
)
def test_option_errors(changes, message):
    with pytest.raises(InputError, match=message):
        build_tracker(dataclasses.replace(TrackerSettings(), **changes), fps=10.0)


def test_refinement_default_and_errors():
    assert refine_config(None, preset=TrackerPreset.masa, live=False) is not None
    assert refine_config(None, preset=TrackerPreset.masa, live=True) is None
    assert refine_config(None, preset=TrackerPreset.tao, live=False) is None
    assert refine_config(False, preset=TrackerPreset.masa, live=False) is None
    with pytest.raises(InputError, match="--refine applies to --tracker masa only"):
        refine_config(True, preset=TrackerPreset.bdd, live=False)
    with pytest.raises(InputError, match="not available for live streams"):
        refine_config(True, preset=TrackerPreset.masa, live=True)
