"""`masa tune`: search `MasaTracker` settings on labelled sequences with Optuna (TPE, seeded).

Embeddings are computed once per sequence; each trial then only re-runs the tracker (and the
refinement) on the stored detections and scores the result with `masa eval` (TrackEval-exact), so
a trial costs milliseconds per frame.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from masa.io.writers import MotTxtWriter
from masa.structures import Detections
from masa.tracking.config import MasaTrackerConfig
from masa.tracking.masa_tracker import MasaTracker
from masa.tracking.refine import RefineConfig
from masa.tracking.replay import refined_frames

__all__ = ["TuneSequence", "TuneResult", "DEFAULT_SPACE", "track_sequence", "tune_tracker"]

#: Searched settings: name -> (low, high); ints are searched as ints.
DEFAULT_SPACE: dict[str, tuple[float, float]] = {
    "high_score_threshold": (0.2, 0.8),
    "init_score_threshold": (0.2, 0.9),
    "min_hits": (1, 5),
    "match_threshold": (0.05, 0.6),
    "low_match_iou": (0.2, 0.8),
    "motion_memory": (0.2, 3.0),
    "appearance_weight": (0.0, 1.0),
    "reid_threshold": (0.3, 0.95),
    "center_sigma": (0.1, 1.5),
}
METRICS = ("HOTA", "IDF1", "AssA", "MOTA")


@dataclass
class TuneSequence:
    """A labelled sequence with its detections (embeddings included) stored in memory.

    Attributes:
        name: for messages.
        gt_folder: MOTChallenge sequence folder with `gt/gt.txt` and `seqinfo.ini` (what
            `masa eval` reads).
        fps: processed frame rate.
        frames: `(frame_idx, detections)` of every frame, in order.
    """

    name: str
    gt_folder: Path
    fps: float
    frames: list[tuple[int, Detections]] = field(default_factory=list)


@dataclass
class TuneResult:
    """The best settings found and every trial's `(settings, score)`."""

    config: MasaTrackerConfig
    score: float
    metric: str
    trials: list[tuple[dict[str, Any], float]]


def track_sequence(
    sequence: TuneSequence, config: MasaTrackerConfig, refine: RefineConfig | None, out: Path
) -> Path:
    """Tracks a stored sequence into a MOT txt file `out` (refined unless `refine` is None)."""
    tracker = MasaTracker(config, fps=sequence.fps)
    online = [(i, tracker.update(d, i)) for i, d in sequence.frames]
    if refine is not None:
        gap = round(refine.interpolate_gap * sequence.fps)
        results: Iterable[tuple[int, Detections]] = refined_frames(
            online, tracker.refinement_plan(refine), interpolate_frames=gap
        )
    else:
        results = online
    with MotTxtWriter(out) as writer:
        for frame_idx, detections in results:
            writer.write(frame_idx, detections)
    return out


def tune_tracker(
    sequences: Sequence[TuneSequence],
    *,
    metric: str = "HOTA",
    trials: int = 40,
    seed: int = 0,
    space: dict[str, tuple[float, float]] | None = None,
    base: MasaTrackerConfig | None = None,
    refine: RefineConfig | None = RefineConfig(),
    on_trial: Callable[[int, dict[str, Any], float], None] | None = None,
) -> TuneResult:
    """Searches settings that maximise `metric` (mean over `sequences`).

    Args:
        metric: HOTA, IDF1, AssA or MOTA.
        trials: settings tried (the first is `base`, so the result is never worse than it).
        seed: the sampler's seed (same seed, same trials).
        space: searched settings (`DEFAULT_SPACE` when None); the others keep `base`'s values.
        base: starting settings (defaults when None).
        refine: refinement settings, or None to score the online tracks.
        on_trial: called after each trial with `(number, settings, score)`.

    Raises:
        ImportError: optuna is not installed (`pip install 'masa-track[tune]'`).
        ValueError: an unknown metric or setting.
    """
    import optuna

    from masa.eval import evaluate

    metric = metric.upper()
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, but got {metric!r}")
    base = base or MasaTrackerConfig()
    space = dict(DEFAULT_SPACE if space is None else space)
    known = {f.name for f in dataclasses.fields(MasaTrackerConfig)}
    if set(space) - known:
        raise ValueError(
            f"unknown tracker settings in the search space: {sorted(set(space) - known)}"
        )
    history: list[tuple[dict[str, Any], float]] = []

    def objective(trial: optuna.Trial) -> float:
        values = {}
        for name, (low, high) in space.items():
            if isinstance(getattr(base, name), int):
                values[name] = trial.suggest_int(name, int(low), int(high))
            else:
                values[name] = trial.suggest_float(name, low, high)
        try:
            config = dataclasses.replace(base, **values)
        except ValueError:
            return 0.0  # settings that contradict each other (e.g. low above high threshold)
        scores = []
        with tempfile.TemporaryDirectory() as tmp:
            for sequence in sequences:
                result = track_sequence(
                    sequence, config, refine, Path(tmp) / f"{sequence.name}.txt"
                )
                combined = evaluate(
                    sequence.gt_folder, result, format="mot", metrics=("hota", "clear", "identity")
                ).combined
                scores.append(float(combined[metric]))
        score = sum(scores) / len(scores)
        history.append((values, score))
        if on_trial is not None:
            on_trial(trial.number, values, score)
        return score

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial({name: getattr(base, name) for name in space})
    study.optimize(objective, n_trials=trials)
    best = dataclasses.replace(base, **study.best_params)
    return TuneResult(best, float(study.best_value), metric, history)
