"""Tiny SAM-MASA models for tests: every stage of the real architecture, small and fast on CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from masa.adapter.model import AdapterConfig, sam_adapter_config
from masa.segment import SamConfig, SamMasa, build_sam_masa, save_sam_masa

#: ViT width 64, 5 blocks (block 0 windowed, 1-4 global), 256x256 input (16x16 tokens).
TINY_SAM = SamConfig(
    embed_dim=64, depth=5, num_heads=2, global_attn_indexes=(1, 2, 3, 4), img_size=256, window_size=4,
    prompt_embed_dim=32, mask_in_chans=8, decoder_mlp_dim=64, iou_head_hidden_dim=32,
)
#: Adapter widths stay divisible by 32 (GroupNorm(32) in the head, GroupNorm(16) in DCN norms).
TINY_ADAPTER: AdapterConfig = sam_adapter_config(
    64, channels=32, fusion_blocks=1, head_convs=1, head_conv_channels=32, head_fc_channels=64, embed_dim=32,
    resize=(256, 256), pad_divisor=256,
)


def build_tiny_model(seed: int = 0) -> SamMasa:
    """A random-weight tiny SAM + adapter + detection head."""
    torch.manual_seed(seed)
    return build_sam_masa(TINY_SAM, TINY_ADAPTER, proposer_fc_channels=64)


@pytest.fixture(scope="session")
def tiny_model() -> SamMasa:
    return build_tiny_model()


@pytest.fixture(scope="session")
def tiny_sam_masa_checkpoint(tiny_model: SamMasa, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model in the official SAM-MASA layout: adapter, heads and SAM under detector.*."""
    return save_sam_masa(tiny_model, tmp_path_factory.mktemp("sam_masa") / "tiny_sam_masa.pth")
