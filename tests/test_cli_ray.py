"""`masa track --ray` on a local Ray cluster (2 CPUs, time-boxed): the same track files as a run in
one process, the manifest, a failed task retried once, and what each task asks for."""

from __future__ import annotations

import json
import logging
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from masa.io.sources import VideoItem
from masa_cli.app import app
from masa_cli.settings import BatchOptions, ModelOptions, OutputOptions, TrackOptions
from tests.batch_helpers import DETS, SAMPLE, one_thread, pets_folder  # noqa: F401 - fixture

ray = pytest.importorskip("ray")
runner = CliRunner()


@contextmanager
def time_box(seconds: int) -> Iterator[None]:
    """Fails the test (TimeoutError) instead of hanging when Ray takes longer than `seconds`."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"Ray took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    with time_box(120):
        ray.init(
            num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False
        )
    yield
    ray.shutdown()


def test_ray_batch_writes_the_same_tracks_as_one_process(
    cluster: None, shared: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    videos, dets = tmp_path / "videos", tmp_path / "dets"
    videos.mkdir()
    dets.mkdir()
    shutil.copy(SAMPLE, videos / "shapes.mp4")
    shutil.copy(DETS, dets / "shapes.txt")
    _, seq_dets = pets_folder(shared, videos / "pets", 5)
    (dets / "pets.txt").write_text(seq_dets)
    (videos / "broken.mp4").write_bytes(b"not a video")
    shutil.copy(DETS, dets / "broken.txt")
    args = [
        "track",
        str(videos),
        "--detections",
        str(dets),
        "--checkpoint",
        str(tiny_checkpoint),
        "--end",
        "5",
        "--quiet",
    ]
    with time_box(240):
        local = runner.invoke(app, [*args, "--out", str(tmp_path / "local")])
        on_ray = runner.invoke(app, [*args, "--out", str(tmp_path / "ray"), "--ray"])
    assert local.exit_code == on_ray.exit_code == 1, (
        local.output,
        on_ray.output,
    )  # broken.mp4 failed
    for name in ("shapes", "pets"):
        for suffix in (".txt", ".json", ".mp4"):
            assert (tmp_path / "ray" / name / f"{name}{suffix}").is_file()
        for suffix in (".txt", ".json"):
            assert (tmp_path / "ray" / name / f"{name}{suffix}").read_text() == (
                tmp_path / "local" / name / f"{name}{suffix}"
            ).read_text()
    records = {
        json.loads(line)["name"]: json.loads(line)
        for line in (tmp_path / "ray" / "manifest.jsonl").read_text().splitlines()
    }
    assert {n: r["status"] for n, r in records.items()} == {
        "shapes": "done",
        "pets": "done",
        "broken": "failed",
    }
    error = records["broken"]["error"]
    assert "cannot read video" in error and "after a retry" not in error  # bad input is not retried
    assert records["shapes"]["video"] == str(videos / "shapes.mp4")


def test_failed_task_is_retried_once(cluster: None, tmp_path: Path) -> None:
    from masa_cli.manifest import VideoRecord
    from masa_cli.ray_runner import run_on_ray

    attempts = tmp_path / "attempts"
    attempts.mkdir()

    def flaky(options: TrackOptions, item: VideoItem) -> VideoRecord:
        import uuid

        (attempts / f"{item.name}.{uuid.uuid4().hex}").touch()
        if item.name == "always" or len(list(attempts.glob(f"{item.name}.*"))) < 2:
            raise RuntimeError(f"worker trouble on {item.name}")
        return VideoRecord(item.source, item.name, "done", frames=1)

    items = [
        VideoItem("clips/flaky.mp4", "flaky", "file"),
        VideoItem("clips/always.mp4", "always", "file"),
    ]
    options = TrackOptions(
        sources=("clips",),
        output=OutputOptions(out=tmp_path / "out"),
        batch=BatchOptions(ray="local"),
    )
    with time_box(120):
        records = {r.name: r for r in run_on_ray(options, items, task=flaky)}
    assert records["flaky"].status == "done" and len(list(attempts.glob("flaky.*"))) == 2
    assert records["always"].status == "failed" and len(list(attempts.glob("always.*"))) == 2
    assert records["always"].error == "RuntimeError: worker trouble on always (after a retry)"


@pytest.mark.parametrize(
    "device, given, cluster_gpus, expected",
    [
        ("auto", None, 0, 0.0),
        ("auto", None, 2, 1.0),
        ("cuda:1", None, 0, 1.0),
        ("cpu", None, 4, 0.0),
        ("auto", 0.25, 4, 0.25),
    ],
)
def test_tasks_ask_for_a_gpu_when_the_run_uses_cuda(
    device: str,
    given: float | None,
    cluster_gpus: int,
    expected: float,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from masa_cli import ray_runner

    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 8, "GPU": cluster_gpus})
    options = TrackOptions(
        sources=("x",),
        model=ModelOptions(device=device),
        batch=BatchOptions(ray="auto", gpus_per_task=given),
    )
    assert ray_runner._gpus_per_task(options) == expected


def test_bare_ray_starts_a_local_cluster_of_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    from masa_cli import ray_runner

    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: calls.append(kwargs))
    assert ray_runner._connect(
        TrackOptions(sources=("x",), batch=BatchOptions(ray="local", workers=3))
    )
    assert ray_runner._connect(
        TrackOptions(sources=("x",), batch=BatchOptions(ray="10.0.0.2:6379"))
    )
    assert calls[0]["num_cpus"] == 3 and "address" not in calls[0]
    assert calls[1]["address"] == "10.0.0.2:6379"


def test_tasks_get_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from masa_cli import ray_runner
    from masa_cli.settings import DetectorOptions, InputOptions

    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights.onnx").write_bytes(b"")
    options = TrackOptions(
        sources=("clips",),
        input=InputOptions(detections=Path("dets")),
        detector=DetectorOptions(detector_weights="weights.onnx", model="org/hub-id"),
        output=OutputOptions(out=Path("out")),
    )
    portable = ray_runner._portable(options)
    assert (
        portable.input.detections == tmp_path / "dets" and portable.output.out == tmp_path / "out"
    )
    assert portable.detector.detector_weights == str(tmp_path / "weights.onnx")
    assert portable.detector.model == "org/hub-id" and portable.output.quiet
    item = ray_runner._portable_item(VideoItem("clips/a.mp4", "a", "file"))
    assert item.source == str(tmp_path / "clips" / "a.mp4")
