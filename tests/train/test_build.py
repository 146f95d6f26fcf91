"""The trainable architectures and the ShuffleNetV2 backbone with its ImageNet weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from masa.adapter.backbones import ShuffleNetV2, load_imagenet_shufflenetv2
from masa.errors import InputError
from masa.train.build import adapter_config_for, build_training_models


def test_r50_is_the_official_architecture() -> None:
    config = adapter_config_for("r50")
    assert (config.backbone, config.in_channels, config.channels, config.fusion_blocks) == (
        "resnet50_caffe",
        (256, 512, 1024, 2048),
        256,
        3,
    )
    assert (config.head_convs, config.head_fc_channels, config.embed_dim, config.resize) == (
        4,
        1024,
        256,
        (1024, 1024),
    )


def test_lite_is_small_and_configurable() -> None:
    adapter, heads = build_training_models("lite")
    megabytes = sum(t.numel() * 4 for t in adapter.state_dict().values()) / 1e6
    assert megabytes < 6  # fp32; well under 12 MB
    assert heads.config.anchor_strides == (8, 16, 32, 64, 128) and heads.config.roi_strides == (
        8,
        16,
        32,
    )
    wider = adapter_config_for("lite", channels=96, embed_dim=256, size=512, fusion_blocks=1)
    assert (wider.channels, wider.embed_dim, wider.resize, wider.fusion_blocks) == (
        96,
        256,
        (512, 512),
        1,
    )
    with pytest.raises(InputError, match="multiple of 32"):
        adapter_config_for("lite", channels=48)
    with pytest.raises(InputError, match="unknown model"):
        adapter_config_for("r18")


def test_shufflenetv2_levels() -> None:
    feats = ShuffleNetV2().train()(torch.zeros(1, 3, 96, 128))
    assert [tuple(f.shape[1:]) for f in feats] == [(48, 12, 16), (96, 6, 8), (192, 3, 4)]


def test_imagenet_shufflenetv2_loads_strictly(shared: Path, tmp_path: Path) -> None:
    path = shared / "data" / "weights" / "fastestdet" / "shufflenetv2.pth"
    backbone = load_imagenet_shufflenetv2(path)
    reference = torch.load(path, map_location="cpu", weights_only=True)
    torch.testing.assert_close(
        backbone.state_dict()["stage3.0.branch_main.0.weight"],
        reference["stage3.0.branch_main.0.weight"],
    )
    adapter, _ = build_training_models("lite", backbone_weights=path)
    torch.testing.assert_close(
        adapter.backbone.first_conv[0].weight, reference["first_conv.0.weight"]
    )
    torch.save({"first_conv.0.weight": torch.zeros(24, 3, 3, 3)}, tmp_path / "partial.pth")
    with pytest.raises(InputError, match="missing"):
        load_imagenet_shufflenetv2(tmp_path / "partial.pth")


def test_r50_heads_match_the_official_parameter_counts() -> None:
    # SPEC §3.2: RPN 593,935; Shared4Conv1FCBBoxHead 15,213,574; adapter (backbone + FPN + fusion +
    # track head) 23,508,032 + 3,346,432 + 5,873,139 + 15,469,824 = 48,197,427
    adapter, heads = build_training_models("r50")
    count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
    assert (count(heads.rpn), count(heads.box_head), count(adapter)) == (
        593_935,
        15_213_574,
        48_197_427,
    )
