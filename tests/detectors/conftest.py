"""Fixtures of the detector tests: a tiny Grounding DINO saved to a folder like a hub download."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.detectors.tiny_gdino import save_tiny_gdino


@pytest.fixture(scope="session")
def tiny_gdino_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    return save_tiny_gdino(tmp_path_factory.mktemp("tiny-gdino"))
