"""Builds the tracking commands' Typer signatures from `masa_cli.settings.TrackOptions`.

`track`, `detect-track` and `segment-track` are one implementation: each is
`tracking_command(run, ...)` with other defaults (and, for segment-track, the SAM group), so the
options are declared once, as dataclass fields.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from collections.abc import Callable, Collection, Mapping
from typing import Any

from typer.core import TyperCommand

from masa_cli.common import cli_errors
from masa_cli.settings import TrackOptions

__all__ = ["TrackingCommand", "tracking_command"]

#: Options whose value may be left out, and the value they then take (`--ray` = `--ray=local`).
OPTIONAL_VALUES = {"--ray": "local"}
_RAY_ADDRESS = re.compile(r"^(auto|local|ray://\S+|[\w.\-\[\]:]+:\d+)$")


def _group_type(hint: Any) -> type | None:
    """The dataclass a field holds (also inside Optional[...]), or None for a leaf option."""
    for candidate in (hint, *typing.get_args(hint)):
        if dataclasses.is_dataclass(candidate):
            return candidate  # type: ignore[return-value]
    return None


def _leaves(cls: type, groups: Collection[str]) -> list[tuple[tuple[str, ...], str, Any, Any]]:
    """`(group path, name, Annotated type, default)` of every option of `cls`, depth first.

    Optional groups (default None) are included only when named in `groups`.
    """
    hints = typing.get_type_hints(cls, include_extras=True)
    leaves = []
    for f in dataclasses.fields(cls):
        group = _group_type(hints[f.name])
        if group is None:
            default = inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
            leaves.append(((), f.name, hints[f.name], default))
        elif f.default is not None or f.name in groups:
            leaves += [
                ((f.name, *path), name, hint, d) for path, name, hint, d in _leaves(group, groups)
            ]
    return leaves


def _build(cls: type, values: Mapping[str, Any], groups: Collection[str]) -> Any:
    """The dataclass `cls` filled from flat `values` (lists become tuples, so it stays hashable)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        group = _group_type(hints[f.name])
        if group is None:
            value = values[f.name]
            kwargs[f.name] = tuple(value) if isinstance(value, list) else value
        elif f.default is not None or f.name in groups:
            kwargs[f.name] = _build(group, values, groups)
    return cls(**kwargs)


def tracking_command(
    run: Callable[[TrackOptions], None],
    *,
    doc: str,
    defaults: Mapping[str, Any] | None = None,
    groups: Collection[str] = (),
) -> Callable[..., None]:
    """A Typer command function whose parameters are the fields of `TrackOptions`.

    Args:
        run: called with the parsed options; user errors become one-line exits (`cli_errors`).
        doc: the command's help text.
        defaults: other defaults for some options, by field name.
        groups: optional option groups to include (e.g. "segment").

    Raises:
        ValueError: two options with one name, or a default for an option that does not exist.
    """
    defaults = dict(defaults or {})
    params = []
    for _, name, hint, default in _leaves(TrackOptions, groups):
        if any(p.name == name for p in params):
            raise ValueError(f"option {name!r} is declared twice in TrackOptions")
        params.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=hint,
                default=defaults.pop(name, default),
            )
        )
    if defaults:
        raise ValueError(f"no such options: {sorted(defaults)}")
    checked_run = cli_errors(run)

    def command(**values: Any) -> None:
        checked_run(_build(TrackOptions, values, groups))

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = doc
    return command


class TrackingCommand(TyperCommand):
    """A Typer command where `--ray` may be given without a value (then it starts a local cluster).

    `--ray ADDRESS` takes the next word as the address when it looks like one (host:port,
    ray://..., auto, local); otherwise, as for a bare `--ray` at the end or before another option,
    the next word stays a SOURCE.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        rewritten: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "--":
                rewritten += args[i:]
                break
            if arg in OPTIONAL_VALUES:
                following = args[i + 1] if i + 1 < len(args) else None
                if following is not None and _RAY_ADDRESS.match(following):
                    rewritten.append(f"{arg}={following}")
                    i += 2
                    continue
                arg = f"{arg}={OPTIONAL_VALUES[arg]}"
            rewritten.append(arg)
            i += 1
        return super().parse_args(ctx, rewritten)
