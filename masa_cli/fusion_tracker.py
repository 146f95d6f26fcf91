"""`--tracker masa` from the command line: the settings file, the shared tracker options and the
MasaTracker-only options become a `MasaTrackerConfig`; `--refine` becomes a `RefineConfig`."""

from __future__ import annotations

from typing import Any

from masa.errors import InputError

__all__ = ["MASA_ONLY", "build_masa_tracker", "refine_config"]

#: Options of MasaTracker alone (field names of `MasaTrackerConfig`, settable as --high-score-threshold ...).
MASA_ONLY = (
    "high_score_threshold",
    "min_hits",
    "low_match_iou",
    "motion_memory",
    "appearance_weight",
    "reid_threshold",
    "center_sigma",
    "max_speed",
    "camera_motion",
)
#: Shared tracker options -> the MasaTracker setting they set.
SHARED = {
    "init_score_threshold": "init_score_threshold",
    "match_score_threshold": "match_threshold",
    "new_embed_weight": "new_embed_weight",
    "obj_score_threshold": "low_score_threshold",
}
_OFFICIAL_ONLY = ("max_distance", "distractor_score_threshold", "distractor_iou_threshold")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_official(settings: Any) -> None:
    """Official presets take none of MasaTracker's own options."""
    given = [
        _flag(k) for k in (*MASA_ONLY, "tracker_config") if getattr(settings, k, None) is not None
    ]
    if given:
        preset = getattr(settings.preset, "value", settings.preset)
        raise InputError(f"{', '.join(given)} apply to --tracker masa only, not --tracker {preset}")


def build_masa_tracker(settings: Any, fps: float) -> Any:
    """A `MasaTracker` from `--tracker-config FILE` (if given), then the options given on the
    command line (None keeps the file's or the default value).

    Raises:
        InputError: an official-tracker-only option, a bad settings file or an invalid value.
    """
    from masa.tracking import MasaTracker, MasaTrackerConfig, read_tracker_config

    given = [_flag(k) for k in _OFFICIAL_ONLY if getattr(settings, k, None) is not None]
    if given:
        raise InputError(
            f"{', '.join(given)} apply to the official TAO tracker only, not --tracker masa"
        )
    path = getattr(settings, "tracker_config", None)
    config = read_tracker_config(path) if path is not None else MasaTrackerConfig()
    changes = {field: getattr(settings, option, None) for option, field in SHARED.items()}
    changes.update({k: getattr(settings, k, None) for k in MASA_ONLY})
    if settings.memory_frames is not None and settings.memory_seconds is not None:
        raise InputError("give --memory-frames or --memory-seconds, not both")
    if settings.memory_seconds is not None:
        changes["reid_memory"] = settings.memory_seconds
    elif settings.memory_frames is not None:
        changes["reid_memory"] = settings.memory_frames / fps  # frames of the source's own rate
    try:
        return MasaTracker(config.replace(**changes), fps=fps)
    except ValueError as e:
        raise InputError(str(e)) from None


def refine_config(refine: bool | None, *, preset: str, live: bool) -> Any:
    """The `RefineConfig` to use, or None: on by default for `--tracker masa` on files and folders,
    off for live streams (nothing can be rewritten there) and the official presets."""
    from masa.tracking import RefineConfig

    preset = getattr(preset, "value", preset)
    if refine and preset != "masa":
        raise InputError(f"--refine applies to --tracker masa only, not --tracker {preset}")
    if refine and live:
        raise InputError("--refine needs the whole video: it is not available for live streams")
    if refine is None:
        refine = preset == "masa" and not live
    return RefineConfig() if refine else None
