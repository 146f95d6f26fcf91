"""Settings of `MasaTracker` (`--tracker masa`), each with what raising or lowering it trades off.

Times are in seconds and sizes relative to the box, so the same settings fit a 7 fps and a 30 fps
video, small and large objects. `--tracker-config FILE` reads them from JSON (what `masa tune`
writes).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from masa.errors import InputError

__all__ = ["MasaTrackerConfig", "read_tracker_config"]


@dataclass(frozen=True)
class MasaTrackerConfig:
    """Thresholds of the MASA motion + appearance tracker.

    Attributes:
        high_score_threshold: detections at or above this are matched first, against every track.
            Higher: only sure boxes steer tracks; lower: more clutter competes in the first stage.
        low_score_threshold: detections between this and `high_score_threshold` can only continue
            a track that was seen in the previous frame and overlaps them (ByteTrack's second
            stage: occluded objects keep their id through weak boxes). Below it boxes are ignored.
        init_score_threshold: an unmatched detection starts a (tentative) track only above this.
            Higher: fewer false tracks; lower: faint objects get tracks sooner.
        min_hits: detections in consecutive frames before a track is confirmed and gets an id.
            Higher: fewer ids for flickering false positives, but each track starts later (with
            `refine`, its first boxes are written back once it is confirmed).
        match_threshold: minimum fused motion + appearance similarity (0..1) of a match in the first
            stage. Higher: fewer wrong matches, more broken tracks; lower: the reverse.
        low_match_iou: minimum IoU with the predicted box for a low-score detection to continue a
            track. Higher: weak boxes rarely steal tracks, occlusions break tracks more often.
        motion_memory: seconds a lost track is still matched by its predicted position.
            Longer: bridges longer occlusions by motion, more risk of a wrong track catching a
            newcomer where the prediction has drifted.
        reid_memory: seconds a lost track is kept for re-identification by appearance (after the
            motion memory). Longer: objects come back with their id after long absences; more old
            tracks compete for newcomers (kept apart by appearance and a speed gate).
        appearance_weight: weight of appearance in the fused similarity when appearance is fully
            reliable in this scene (it is scaled down when the scene's measured reliability is
            lower). 0: motion only.
        reid_threshold: how sure appearance must be (0..1 on the scene's calibrated scale, 1 = as
            similar as a typical same-object pair) to re-identify a lost track. Higher: fewer false
            re-identifications, more new ids after absences.
        center_sigma: spread, in box sizes, of the centre-distance similarity. It lets small or
            fast objects whose boxes do not overlap between frames match. Higher: tolerates larger
            jumps, confuses neighbours more.
        max_speed: the fastest an object is assumed to move, in box sizes per second; it bounds
            where a lost track may re-appear. Higher: re-identifies fast movers, admits farther
            look-alikes.
        new_embed_weight: weight of the newest embedding in a track's memory. Higher: adapts to
            appearance change, drifts after a bad match.
        camera_motion: compensate camera motion with sparse optical flow (OpenCV) before
            matching. For moving or shaking cameras; costs a few ms per frame.
    """

    high_score_threshold: float = 0.5
    low_score_threshold: float = 0.1
    init_score_threshold: float = 0.6
    min_hits: int = 2
    match_threshold: float = 0.2
    low_match_iou: float = 0.5
    motion_memory: float = 1.0
    reid_memory: float = 10.0
    appearance_weight: float = 0.5
    reid_threshold: float = 0.7
    center_sigma: float = 0.5
    max_speed: float = 3.0
    new_embed_weight: float = 0.2
    camera_motion: bool = False

    def __post_init__(self) -> None:
        for name in (
            "high_score_threshold",
            "low_score_threshold",
            "init_score_threshold",
            "match_threshold",
            "low_match_iou",
            "appearance_weight",
            "reid_threshold",
            "new_embed_weight",
        ):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be in [0, 1], but got {value}")
        for name in ("motion_memory", "reid_memory", "center_sigma", "max_speed"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, but got {getattr(self, name)}")
        if self.min_hits < 1:
            raise ValueError(f"min_hits must be >= 1, but got {self.min_hits}")
        if self.low_score_threshold > self.high_score_threshold:
            raise ValueError("low_score_threshold must not exceed high_score_threshold")

    def replace(self, **changes: Any) -> MasaTrackerConfig:
        """A copy with `changes` (None values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def read_tracker_config(path: str | Path) -> MasaTrackerConfig:
    """Reads settings from a JSON object (`masa tune` output; keys are field names, a `tracker`
    section is also accepted).

    Raises:
        InputError: unreadable file, not a JSON object, unknown keys or invalid values.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: cannot read tracker config ({e})") from None
    if isinstance(data, dict) and isinstance(data.get("tracker"), dict):
        data = data["tracker"]
    if not isinstance(data, dict):
        raise InputError(f"{path}: a tracker config must be a JSON object of settings")
    known = {f.name: f.type for f in dataclasses.fields(MasaTrackerConfig)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise InputError(
            f"{path}: unknown tracker setting(s) {', '.join(unknown)} (known: {', '.join(known)})"
        )
    defaults = MasaTrackerConfig()
    values: dict[str, Any] = {}
    for key, value in data.items():
        expected = type(getattr(defaults, key))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not expected:
            raise InputError(f"{path}: {key} must be a {expected.__name__}, but got {value!r}")
        values[key] = value
    try:
        return MasaTrackerConfig(**values)
    except ValueError as e:
        raise InputError(f"{path}: {e}") from None
