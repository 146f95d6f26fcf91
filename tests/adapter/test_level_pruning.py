"""The fusion computes only the pyramid levels the RoIs are pooled from, with unchanged values."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from masa.adapter import build_masa_adapter
from masa.adapter.fusion import levels_per_block
from tests.conftest import tiny_adapter_config


@pytest.mark.parametrize(
    "levels, expected",
    [
        ([0], [{0, 1, 2}, {0, 1}, {0}]),
        ([4], [{2, 3, 4}, {3, 4}, {4}]),
        ([0, 3], [{0, 1, 2, 3, 4}, {0, 1, 2, 3, 4}, {0, 3}]),
        ([2, 7, -1], [{0, 1, 2, 3, 4}, {1, 2, 3}, {2}]),  # levels outside the pyramid are ignored
        (None, [None, None, None]),
    ],
)
def test_each_block_computes_what_the_next_one_reads(levels, expected) -> None:
    assert levels_per_block(levels, num_levels=5, num_blocks=3) == expected


def _adapter(fusion: str):
    config = dataclasses.replace(tiny_adapter_config(), fusion=fusion, fusion_blocks=3)
    adapter = build_masa_adapter(config)
    torch.manual_seed(1)
    for block in adapter.fusion.dyhead_blocks:  # offsets of a few pixels, like trained ones
        torch.nn.init.normal_(block.spatial_conv_offset.weight, std=0.05)
        torch.nn.init.normal_(block.spatial_conv_offset.bias, std=1.0)
    return adapter


@pytest.mark.parametrize("fusion", ["deform_fusion", "dyhead"])
@pytest.mark.parametrize(
    "sides",
    [
        [20.0, 40.0],  # every box on the finest level
        [150.0],  # one box on level 1
        [30.0, 300.0],  # levels 0 and 2
    ],
)
def test_pruned_embeddings_equal_the_full_pyramid(fusion: str, sides: list[float]) -> None:
    adapter = _adapter(fusion)
    images = torch.randn(2, 3, 320, 320)
    rois = torch.tensor([[i % 2, 5.0, 7.0, 5.0 + s, 7.0 + s] for i, s in enumerate(sides)])
    with torch.inference_mode():
        full = adapter.features(images)
        expected = adapter.embed_rois(full, rois)
        used = adapter.roi_levels_of(rois)
        pruned = adapter.features(images, used)
        actual = adapter(images, rois)
    assert all(pruned[level] is None for level in range(len(full)) if level not in used)
    for level in used:
        assert torch.equal(pruned[level], full[level])
    assert torch.equal(actual, expected)


def test_fewer_deformable_convolutions_run_for_fine_boxes(monkeypatch: pytest.MonkeyPatch) -> None:
    import masa.adapter.fusion as fusion

    adapter = _adapter("deform_fusion")
    calls = []
    real = fusion.deform_conv2d
    monkeypatch.setattr(
        fusion, "deform_conv2d", lambda x, *a, **k: calls.append(x.shape) or real(x, *a, **k)
    )
    images = torch.randn(1, 3, 256, 256)
    with torch.inference_mode():
        adapter.features(images)
        full = len(calls)
        calls.clear()
        adapter(images, torch.tensor([[0, 10.0, 10.0, 40.0, 50.0]]))
    # 5 levels: 13 DCNs per block (5 mid, 4 low, 4 high) = 39. Levels {0,1,2}, {0,1}, {0}:
    # (3 mid, 2 low, 3 high) + (2, 1, 2) + (1, 0, 1) = 15
    assert (full, len(calls)) == (39, 15)
