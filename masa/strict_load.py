"""Strict state-dict loading whose error lists the offending keys (a missing key is an error)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torch import Tensor, nn

from masa.weights import CheckpointError

__all__ = ["strict_load"]


def strict_load(
    model: nn.Module,
    state: dict[str, Tensor],
    path: Path,
    *,
    names: Callable[[str], str] | None = None,
) -> None:
    """`load_state_dict(strict=True)` with a one-line error that lists the offending keys.

    Args:
        model: the module to load into.
        state: tensors under the model's key names.
        path: the file they came from (named in the error).
        names: how keys are shown in the error (e.g. `masa.adapter.official.official_name`, so an
            official checkpoint's errors use its own key names); None shows them as they are.

    Raises:
        CheckpointError: missing, unexpected or mis-shaped keys (up to 10 of each listed).
    """
    expected = model.state_dict()
    name = names or (lambda k: k)
    missing = sorted(name(k) for k in set(expected) - set(state))
    unexpected = sorted(name(k) for k in set(state) - set(expected))
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s): {', '.join(missing[:10])}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {', '.join(unexpected[:10])}")
    shapes = [
        f"{name(k)} {tuple(v.shape)} != {tuple(expected[k].shape)}"
        for k, v in state.items() if k in expected and v.shape != expected[k].shape
    ]
    if shapes:
        problems.append(f"{len(shapes)} shape mismatch(es): {', '.join(shapes[:10])}")
    if problems:
        raise CheckpointError(f"{path} does not fit the model: " + "; ".join(problems))
    model.load_state_dict(state, strict=True)
