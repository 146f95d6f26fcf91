"""Shared fixtures. Tests run offline, on CPU, with tiny models; real data comes from ../shared."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# No network, no writes to the user's caches (set before any test imports transformers or torch.hub).
_CACHE = Path(tempfile.mkdtemp(prefix="masa-test-cache-"))
for _name in ("HF_HOME", "MPLCONFIGDIR", "TORCH_HOME", "MASA_HOME"):
    os.environ[_name] = str(_CACHE / _name.lower())
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["MASA_OFFLINE"] = "1"
torch.set_num_threads(min(2, torch.get_num_threads()))


def tiny_adapter_config():
    """A ResNet-18 adapter with narrow layers: every stage of the real architecture, fast on CPU."""
    from masa.adapter import AdapterConfig

    return AdapterConfig(
        backbone="resnet18", in_channels=(64, 128, 256, 512), channels=32, fusion_blocks=1,
        head_convs=1, head_conv_channels=32, head_fc_channels=64, embed_dim=32, resize=(256, 256),
    )


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared data folder beside the checkout; tests that need it skip without it."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is not present")
    return SHARED


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight adapter in the project's own checkpoint format."""
    from masa.adapter import build_masa_adapter
    from masa.weights import save_adapter

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    return save_adapter(build_masa_adapter(tiny_adapter_config()), path, note="random weights for tests")


@pytest.fixture(scope="session")
def readme_sample_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """The README's `masa` commands on the bundled sample, run once in order (tracking, scoring,
    pre-labeling): (folder holding their `masa_out/`, [(command, CliRunner result)])."""
    from tests.readme_commands import run_sample_commands

    folder = tmp_path_factory.mktemp("readme")
    return folder, run_sample_commands(folder)
