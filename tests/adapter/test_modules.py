"""Adapter building blocks on tiny inputs, with answers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from masa.adapter import AdapterConfig, build_masa_adapter
from masa.adapter.fusion import DeformFusion, DyDCNv2, reinterpret_as_flat
from masa.adapter.head import EmbedHead, extract_roi_features, map_rois_to_levels
from masa.adapter.necks import FPN
from masa.adapter.preprocess import preprocess_image, rescale_size
from tests.conftest import tiny_adapter_config


@pytest.mark.parametrize(
    "side, num_levels, level",
    [
        (50, 4, 0), (111.9, 4, 0),  # log2(111.9/56) = 0.999 -> 0
        (112, 4, 1), (223, 4, 1),  # log2(2) = 1 (the 1e-6 keeps exact powers on the upper level)
        (224, 4, 2), (447, 4, 2),
        (448, 4, 3), (2000, 4, 3),  # clamped to the last level
        (2000, 3, 2), (10, 3, 0),
    ],
)
def test_roi_level_mapping(side: float, num_levels: int, level: int) -> None:
    rois = torch.tensor([[0, 10, 10, 10 + side, 10 + side]], dtype=torch.float32)
    assert map_rois_to_levels(rois, num_levels).tolist() == [level]


def test_reinterpret_as_flat_reads_row_major_memory() -> None:
    # A (1, 2, 4, 4) map read as (1, 2, 2, 2): the first 8 values of the flat memory,
    # i.e. rows 0-1 of channel 0 -- not the top-left 2x2 crop of each channel.
    maps = torch.arange(32.0).view(1, 2, 4, 4)
    out = reinterpret_as_flat(maps, 2, 2, 2)
    assert out.flatten().tolist() == list(range(8))
    assert not torch.equal(out, maps[:, :, :2, :2])


def test_deform_conv_with_zero_offsets_is_a_plain_conv() -> None:
    torch.manual_seed(0)
    dcn = DyDCNv2(32)
    x = torch.randn(1, 32, 9, 11)
    offset = torch.zeros(1, 18, 9, 11)
    mask = torch.ones(1, 9, 9, 11)
    expected = dcn.norm(F.conv2d(x, dcn.conv.weight, padding=1))
    torch.testing.assert_close(dcn(x, offset, mask), expected, atol=1e-5, rtol=1e-5)


def test_fpn_levels_and_extra_level_sizes() -> None:
    fpn = FPN((8, 16), out_channels=32, num_outs=4)
    outs = fpn([torch.randn(2, 8, 13, 20), torch.randn(2, 16, 7, 10)])
    # Extra levels are max_pool2d(kernel=1, stride=2): ceil(7/2) = 4, ceil(4/2) = 2.
    assert [tuple(o.shape) for o in outs] == [(2, 32, 13, 20), (2, 32, 7, 10), (2, 32, 4, 5), (2, 32, 2, 3)]


def test_deform_fusion_keeps_shapes_on_odd_sizes() -> None:
    torch.manual_seed(0)
    fusion = DeformFusion(32, num_blocks=2)
    feats = [torch.randn(1, 32, h, w) for h, w in ((25, 33), (13, 17), (7, 9), (4, 5), (2, 3))]
    outs = fusion(feats)
    assert [o.shape for o in outs] == [f.shape for f in feats]
    # Offsets are zero-initialised, as in mmdet: the first forward is a fixed, finite function.
    assert all(torch.isfinite(o).all() for o in outs)


def test_embed_head_shapes() -> None:
    head = EmbedHead(32, num_convs=2, conv_channels=32, fc_channels=64, embed_dim=16)
    assert head(torch.randn(5, 32, 7, 7)).shape == (5, 16)
    feats = [torch.randn(1, 32, 16, 16), torch.randn(1, 32, 8, 8)]
    assert extract_roi_features(feats, torch.zeros(0, 5), (4, 8)).shape == (0, 32, 7, 7)


@pytest.mark.parametrize(
    "hw, scale, expected",
    [
        ((576, 768), (1024, 1024), (768, 1024)),  # PETS: factor 4/3
        ((720, 1280), (1333, 800), (750, 1333)),  # factor min(1333/1280, 800/720); 749.8 + 0.5 -> 750
        ((100, 50), (1024, 1024), (1024, 512)),  # upscaling too
    ],
)
def test_rescale_size_matches_mmcv(hw: tuple[int, int], scale: tuple[int, int], expected: tuple[int, int]) -> None:
    assert rescale_size(*hw, scale) == expected


def test_preprocess_pads_with_zeros_after_normalising() -> None:
    image = np.full((50, 70, 3), 255, np.uint8)
    x, (sx, sy) = preprocess_image(image, scale=(100, 100), pad_divisor=32)
    # factor min(100/70, 100/50) = 1.4286 -> 71 x 100, padded to 96 x 128.
    assert x.shape == (1, 3, 96, 128) and (sx, sy) == (100 / 70, 71 / 50)
    assert torch.all(x[..., 71:, :] == 0) and torch.all(x[..., :, 100:] == 0)
    torch.testing.assert_close(x[0, 0, 0, 0], torch.tensor((255 - 123.675) / 58.395))
    with pytest.raises(ValueError, match="uint8"):
        preprocess_image(image.astype(np.float32))


def test_embed_api_on_a_frame() -> None:
    torch.manual_seed(0)
    adapter = build_masa_adapter(tiny_adapter_config())
    image = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    boxes = [[10, 10, 60, 100], [-5, -5, 200, 200], [100, 20, 101, 21]]  # also out of frame and tiny
    embeds = adapter.embed(image, boxes)
    assert embeds.shape == (3, 32) and embeds.dtype == torch.float32 and torch.isfinite(embeds).all()
    # One frame, the same boxes: the same embeddings (deterministic, batch-independent).
    torch.testing.assert_close(adapter.embed(image, boxes[:1]), embeds[:1])
    assert adapter.embed(image, np.zeros((0, 4))).shape == (0, 32)


def test_gradients_reach_every_trainable_part() -> None:
    torch.manual_seed(0)
    adapter = build_masa_adapter(tiny_adapter_config()).train()
    images = torch.randn(2, 3, 64, 64)
    rois = torch.tensor([[0, 4.0, 4.0, 40.0, 50.0], [1, 0.0, 0.0, 63.0, 63.0]])
    adapter(images, rois).square().sum().backward()
    for name in ("backbone.conv1.weight", "neck.lateral_convs.0.conv.weight", "head.fc_embed.weight",
                 "fusion.dyhead_blocks.0.spatial_conv_mid.conv.weight"):
        grad = adapter.get_parameter(name).grad
        assert grad is not None and grad.abs().sum() > 0, name
    # norm_eval: BatchNorm statistics stay frozen in train mode (SPEC §2.1).
    assert not adapter.backbone.bn1.training


def test_config_round_trip_and_unknown_keys() -> None:
    config = tiny_adapter_config()
    assert AdapterConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown adapter config keys"):
        AdapterConfig.from_dict({**config.to_dict(), "bogus": 1})
    assert config.strides == (4, 8, 16, 32, 64)
