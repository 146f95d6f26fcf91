"""Batches on Ray: one task per video, on a local cluster or one that `--ray ADDRESS` joins.

Each task tracks one video with the same code as a run in one process (`batch.track_one`), so the
tracks are the same; a worker keeps its models loaded for its next task. Bad input (a corrupt
video, a missing detections file) comes back as a failed record; any other error fails the task,
which Ray runs once more (`max_retries=1`, also when a worker dies) before it is recorded failed.
Tasks ask for `--cpus-per-task` CPUs and, when the run uses CUDA, `--gpus-per-task` GPUs (1 by
default, fractions allowed). Paths are made absolute, so every node must see the videos, weights
and OUT at the same paths (a shared filesystem); the driver alone writes the manifest.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from masa.errors import InputError
from masa.io.sources import VideoItem
from masa_cli.batch import one_line, track_one
from masa_cli.manifest import VideoRecord
from masa_cli.settings import TrackOptions

__all__ = ["run_on_ray", "track_task"]

_ENGINES: dict[TrackOptions, Any] = {}


def track_task(options: TrackOptions, item: VideoItem) -> VideoRecord:
    """The Ray task: tracks one video in a worker, reusing the models of its last task."""
    from masa_cli.engine import TrackEngine

    engine = _ENGINES.get(options)
    if engine is None:
        _ENGINES.clear()
        engine = _ENGINES[options] = TrackEngine(options)
    return track_one(engine, item, errors=(InputError, OSError))


#: Options given as text that may name a local file or folder.
_PATH_OPTIONS = ("checkpoint", "detector_weights", "model", "sam")


def _absolute(value: Any) -> Any:
    """A path (or a name that is an existing path) made absolute; anything else unchanged."""
    if isinstance(value, Path):
        return value.absolute()
    if isinstance(value, str) and "://" not in value and Path(value).exists():
        return str(Path(value).absolute())
    return value


def _portable(options: TrackOptions) -> TrackOptions:
    """The options as every worker needs them: every path absolute, no progress display."""
    groups = {}
    for f in dataclasses.fields(options):
        group = getattr(options, f.name)
        if dataclasses.is_dataclass(group):
            paths = {
                g.name: _absolute(getattr(group, g.name))
                for g in dataclasses.fields(group)
                if isinstance(getattr(group, g.name), Path) or g.name in _PATH_OPTIONS
            }
            groups[f.name] = dataclasses.replace(group, **paths)
    portable = dataclasses.replace(options, **groups)
    return dataclasses.replace(portable, output=dataclasses.replace(portable.output, quiet=True))


def _portable_item(item: VideoItem) -> VideoItem:
    if item.live:
        return item
    return dataclasses.replace(item, source=os.path.abspath(item.source))


def _connect(options: TrackOptions) -> bool:
    """Connects to (or starts) the cluster; True when this call started it."""
    import ray

    batch = options.batch
    if ray.is_initialized():
        return False
    if batch.ray == "local":
        cpus = batch.cpus_per_task if batch.cpus_per_task > 0 else 1.0
        workers = batch.workers or max(1, int((os.cpu_count() or 1) // cpus))
        ray.init(
            num_cpus=max(1, math.ceil(workers * cpus)),
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
        return True
    if batch.workers is not None:
        raise InputError(
            "--workers sizes a local cluster (bare --ray); a cluster's size is its own"
        )
    try:
        ray.init(address=batch.ray, logging_level=logging.WARNING, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise InputError(
            f"--ray {batch.ray}: cannot connect to the Ray cluster ({one_line(e)})"
        ) from None
    return True


def _gpus_per_task(options: TrackOptions) -> float:
    """`--gpus-per-task`, else 1 when the run uses CUDA (`cuda*`, or `auto` with cluster GPUs)."""
    import ray

    if options.batch.gpus_per_task is not None:
        return options.batch.gpus_per_task
    device = options.model.device
    if device.startswith("cuda"):
        return 1.0
    return 1.0 if device == "auto" and ray.cluster_resources().get("GPU", 0) > 0 else 0.0


def _failure(item: VideoItem, error: BaseException) -> VideoRecord:
    cause = getattr(error, "cause", None)
    text = (
        one_line(cause) if isinstance(cause, BaseException) else str(error).strip().splitlines()[0]
    )
    return VideoRecord(item.source, item.name, "failed", error=f"{text} (after a retry)")


def run_on_ray(
    options: TrackOptions,
    items: list[VideoItem],
    *,
    task: Callable[[TrackOptions, VideoItem], VideoRecord] = track_task,
) -> Iterator[VideoRecord]:
    """Runs one Ray task per video and yields each video's record as its task finishes.

    Args:
        options: the run's options (`options.batch` says which cluster and what each task asks for).
        items: the videos.
        task: the function each task runs (tests swap it).

    Raises:
        InputError: Ray is not installed, or the cluster cannot be reached.
    """
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs Ray: pip install 'masa-track[ray]'") from None
    started = _connect(options)
    pending: dict[Any, VideoItem] = {}
    try:
        portable, gpus = _portable(options), _gpus_per_task(options)
        available = ray.cluster_resources().get("GPU", 0)
        if started and options.batch.ray == "local" and gpus > available:
            raise InputError(
                f"each task asks for {gpus:g} GPUs, but this machine's cluster has {available:g}; "
                "pass --gpus-per-task 0 or --device cpu"
            )
        remote = ray.remote(task).options(
            num_cpus=options.batch.cpus_per_task,
            num_gpus=gpus,
            max_retries=1,
            retry_exceptions=True,
        )
        pending = {remote.remote(portable, _portable_item(item)): item for item in items}
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            item = pending.pop(ref)
            try:
                record = ray.get(ref)
            except ray.exceptions.RayError as e:
                record = _failure(item, e)
            yield dataclasses.replace(record, video=item.source)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()
