"""masa: track anything in video with MASA adapters (Matching Anything by Segmenting Anything)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from masa.structures import Detections

try:
    __version__ = version("masa-track")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+local"

__all__ = ["Detections", "__version__"]
