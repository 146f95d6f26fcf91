"""masa: track anything in video with MASA adapters (Matching Anything by Segmenting Anything).

The public names are imported on first use, so `import masa.eval` does not load torch.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("masa-track")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+local"

if TYPE_CHECKING:  # pragma: no cover
    from masa.structures import Detections
    from masa.adapter.loading import load_adapter

_LAZY = {"Detections": "masa.structures", "load_adapter": "masa.adapter.loading"}

__all__ = ["Detections", "load_adapter", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'masa' has no attribute {name!r}")
