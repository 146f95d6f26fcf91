"""`masa`: the command-line entry point. Each subcommand lives in its own module."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="masa",
    help="Track anything in video with MASA: boxes from any detector, text prompts, or SAM masks.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        from masa import __version__

        typer.echo(f"masa {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Track anything in video with MASA."""


def _register() -> None:
    """Adds each subcommand. Command modules import only typer at top level."""
    from masa_cli import detect_track, proposals, segment_track, track, train, tune
    from masa_cli import eval as eval_cmd
    from masa_cli.command import TrackingCommand

    app.command("track", cls=TrackingCommand)(track.track)
    app.command("detect-track", cls=TrackingCommand)(detect_track.detect_track)
    app.command("segment-track", cls=TrackingCommand)(segment_track.segment_track)
    app.command("eval")(eval_cmd.eval_command)
    app.command("proposals")(proposals.proposals)
    app.command("train")(train.train)
    app.command("tune")(tune.tune)


_register()


def main() -> None:
    """Console-script entry point."""
    app()
