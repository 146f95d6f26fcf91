"""The tracking commands are one implementation: the same options, declared once, other defaults;
`--ray` with or without an address."""

from __future__ import annotations

import dataclasses

import pytest
import typer

from masa_cli import command
from masa_cli import options as opt
from masa_cli.app import app
from masa_cli.command import tracking_command
from masa_cli.settings import SegmentOptions

COMMANDS = ("track", "detect-track", "segment-track")


def _command(name: str):
    return typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]


def _params(name: str, *args: str) -> dict:
    command = _command(name)
    return command.make_context(name, list(args), resilient_parsing=False).params


def test_commands_share_one_option_set_and_differ_in_defaults() -> None:
    names = {c: {p.name for p in _command(c).params} for c in COMMANDS}
    segment = {f.name for f in dataclasses.fields(SegmentOptions)}
    assert names["track"] == names["detect-track"]
    assert names["segment-track"] == names["track"] | segment
    assert {"detector", "prompt", "detections", "ray", "overwrite", "fps", "preset"} <= names[
        "track"
    ]
    defaults = {c: _params(c, "video.mp4") for c in COMMANDS}
    assert (defaults["track"]["detector"], defaults["detect-track"]["detector"]) == (
        None,
        "fastestdet",
    )
    assert defaults["track"]["checkpoint"] == "masa_lite"
    assert defaults["segment-track"]["checkpoint"] == "sam_vitb_masa"


def test_the_users_grounding_dino_line_parses() -> None:
    params = _params("track", "video.mp4", "--detector", "grounding-dino", "--prompt", "car")
    assert (params["sources"], params["detector"], params["prompt"]) == (
        ["video.mp4"],
        "grounding-dino",
        "car",
    )


@pytest.mark.parametrize(
    "args, sources, ray",
    [
        (["a.mp4"], ["a.mp4"], None),
        (["a.mp4", "--ray"], ["a.mp4"], "local"),
        (["--ray", "clips/", "b.mp4"], ["clips/", "b.mp4"], "local"),
        (["--ray", "--quiet", "clips/"], ["clips/"], "local"),
        (["clips/", "--ray", "10.0.0.2:6379"], ["clips/"], "10.0.0.2:6379"),
        (["clips/", "--ray", "auto"], ["clips/"], "auto"),
        (["--ray=ray://head:10001", "clips/"], ["clips/"], "ray://head:10001"),
    ],
)
def test_ray_takes_an_optional_address(
    args: list[str], sources: list[str], ray: str | None
) -> None:
    params = _params("track", *args)
    assert (params["sources"], params["ray"]) == (sources, ray)


@dataclasses.dataclass(frozen=True)
class _Quiet:
    quiet: opt.Quiet = False


@dataclasses.dataclass(frozen=True)
class _Twice:
    sources: opt.Sources
    first: _Quiet = dataclasses.field(default_factory=_Quiet)
    second: _Quiet = dataclasses.field(default_factory=_Quiet)


def test_options_are_declared_once_and_defaults_must_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="no such options"):
        tracking_command(lambda options: None, doc="", defaults={"no_such_option": 1})
    monkeypatch.setattr(command, "TrackOptions", _Twice)
    with pytest.raises(ValueError, match="'quiet' is declared twice"):
        tracking_command(lambda options: None, doc="")
