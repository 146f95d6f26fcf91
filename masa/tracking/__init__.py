"""MASA trackers: `MasaTracker` (motion + appearance, the default) and the official TAO and BDD
trackers (appearance matching with a momentum memory)."""

from __future__ import annotations

from masa.tracking.matching import (
    MATCH_METRICS,
    SUPPRESSED,
    UNMATCHED,
    bisoftmax_scores,
    cosine_scores,
    distance_gate,
    greedy_assign,
    similarity_scores,
    softmax_scores,
    suppress_overlaps,
)
from masa.tracking.config import MasaTrackerConfig, read_tracker_config
from masa.tracking.masa_tracker import MasaTracker
from masa.tracking.memory import BackdropMemory, TrackMemory
from masa.tracking.refine import RefineConfig, plan_refinement
from masa.tracking.tracker import (
    MasaBddTracker,
    MasaTaoTracker,
    build_bdd_tracker,
    build_tao_tracker_demo,
    build_tao_tracker_test,
    memory_frames_from_seconds,
)

__all__ = [
    "MasaTracker",
    "MasaTrackerConfig",
    "read_tracker_config",
    "RefineConfig",
    "plan_refinement",
    "MasaTaoTracker",
    "MasaBddTracker",
    "build_tao_tracker_test",
    "build_tao_tracker_demo",
    "build_bdd_tracker",
    "memory_frames_from_seconds",
    "TrackMemory",
    "BackdropMemory",
    "similarity_scores",
    "bisoftmax_scores",
    "softmax_scores",
    "cosine_scores",
    "distance_gate",
    "greedy_assign",
    "suppress_overlaps",
    "UNMATCHED",
    "SUPPRESSED",
    "MATCH_METRICS",
]
