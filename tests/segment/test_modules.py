"""SAM-MASA building blocks on tiny inputs, with answers worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from masa.adapter.fusion import DyHead, DyReLU, hard_sigmoid
from masa.adapter.model import AdapterConfig, MasaAdapter, sam_adapter_config
from masa.adapter.necks import Norm2d, SimpleFPN
from masa.segment import ObjectProposer, ProposalSettings, masks_to_xyxy, remove_mask_overlaps
from masa.segment.proposals import decode_deltas, level_anchors


def test_simple_fpn_levels_and_strides() -> None:
    torch.manual_seed(0)
    fpn = SimpleFPN((8, 8, 8, 8), out_channels=16, num_outs=5)
    outs = fpn([torch.randn(2, 8, 6, 6) for _ in range(4)])
    # x4, x2, x1, /2 of the ViT grid, then max_pool2d(kernel 1, stride 2): ceil(3 / 2) = 2.
    assert [tuple(o.shape[2:]) for o in outs] == [(24, 24), (12, 12), (6, 6), (3, 3), (2, 2)]
    assert all(o.shape[:2] == (2, 16) for o in outs)
    assert sam_adapter_config(768).strides == (4, 8, 16, 32, 64)


def test_simple_fpn_refuses_unequal_widths() -> None:
    with pytest.raises(ValueError, match=r"4 equal widths, but got \(8, 16, 8, 8\)"):
        SimpleFPN((8, 16, 8, 8))


def test_norm2d_is_layer_norm_over_channels() -> None:
    torch.manual_seed(0)
    norm = Norm2d(6)
    x = torch.randn(2, 6, 3, 5)
    expected = F.layer_norm(x.permute(0, 2, 3, 1), (6,), norm.ln.weight, norm.ln.bias, eps=1e-6)
    expected = expected.permute(0, 3, 1, 2)
    torch.testing.assert_close(norm(x), expected)


def test_hard_sigmoid() -> None:
    x = torch.tensor([-4.0, -3.0, 0.0, 1.5, 3.0, 4.0])
    assert hard_sigmoid(x).tolist() == [0.0, 0.0, 0.5, 0.75, 1.0, 1.0]


def test_dyrelu_with_zero_coefficients_is_relu() -> None:
    # conv2 = 0 gives HSigmoid(0) - 0.5 = 0 for a1, b1, a2, b2: max(x * 1 + 0, x * 0 + 0) = relu(x).
    dyrelu = DyReLU(32)
    torch.nn.init.zeros_(dyrelu.conv2.conv.weight)
    torch.nn.init.zeros_(dyrelu.conv2.conv.bias)
    x = torch.randn(2, 32, 5, 7)
    torch.testing.assert_close(dyrelu(x), F.relu(x))
    assert dyrelu.conv1.conv.weight.shape == (8, 32, 1, 1)
    assert dyrelu.conv2.conv.weight.shape == (128, 8, 1, 1)


def test_dyhead_keeps_shapes_and_has_official_keys() -> None:
    torch.manual_seed(0)
    dyhead = DyHead(32, num_blocks=2)
    feats = [torch.randn(1, 32, h, w) for h, w in ((17, 23), (9, 12), (5, 6), (3, 3), (2, 2))]  # ceil halving
    outs = dyhead(feats)
    assert [o.shape for o in outs] == [f.shape for f in feats]
    keys = {k.split(".", 2)[2] for k in dyhead.state_dict() if k.startswith("dyhead_blocks.0.")}
    assert keys == {
        f"spatial_conv_{b}.{p}"
        for b in ("high", "mid", "low")
        for p in ("conv.weight", "norm.weight", "norm.bias")
    } | {"spatial_conv_offset.weight", "spatial_conv_offset.bias", "scale_attn_module.1.weight",
         "scale_attn_module.1.bias", "task_attn_module.conv1.conv.weight", "task_attn_module.conv1.conv.bias",
         "task_attn_module.conv2.conv.weight", "task_attn_module.conv2.conv.bias"}


def test_adapter_config_defaults_keep_old_checkpoints_working() -> None:
    old = AdapterConfig().to_dict()
    del old["neck"], old["fusion"]  # a config saved before these fields existed
    config = AdapterConfig.from_dict(old)
    assert (config.neck, config.fusion) == ("fpn", "deform_fusion")
    sam = sam_adapter_config(64, channels=32, fusion_blocks=1)
    assert AdapterConfig.from_dict(sam.to_dict()) == sam
    adapter = MasaAdapter(sam)
    assert type(adapter.neck).__name__ == "SimpleFPN" and type(adapter.fusion).__name__ == "DyHead"
    with pytest.raises(ValueError, match="unknown fusion 'dyhaed'"):
        MasaAdapter(sam_adapter_config(64, fusion="dyhaed"))


def test_anchors_match_mmdet_by_hand() -> None:
    anchors = level_anchors(1, 2, stride=4)
    s = 4 * 8 * math.sqrt(2) / 2  # half the long side of a ratio-0.5 / ratio-2 anchor: 22.627
    t = 4 * 8 / math.sqrt(2) / 2  # half the short side: 11.314
    expected = torch.tensor([
        [-s, -t, s, t], [-16, -16, 16, 16], [-t, -s, t, s],  # location (0, 0): ratios 0.5, 1, 2
        [4 - s, -t, 4 + s, t], [-12, -16, 20, 16], [4 - t, -s, 4 + t, s],  # location (0, 1)
    ])
    torch.testing.assert_close(anchors, expected)


def test_decode_deltas_by_hand() -> None:
    box = torch.tensor([[0.0, 0.0, 10.0, 20.0]])  # centre (5, 10), size (10, 20)
    out = decode_deltas(box, torch.tensor([[0.1, -0.1, math.log(2), 0.0]]))
    torch.testing.assert_close(out, torch.tensor([[-4.0, -2.0, 16.0, 18.0]]))  # centre (6, 8), size (20, 20)
    scaled = decode_deltas(box, torch.tensor([[1.0, -1.0, 5 * math.log(2), 0.0]]), (0.1, 0.1, 0.2, 0.2))
    torch.testing.assert_close(scaled, out)
    clamped = decode_deltas(box, torch.tensor([[0.0, 0.0, 10.0, -10.0]]))  # |log ratio| <= log(1000 / 16)
    torch.testing.assert_close(clamped[0, 2] - clamped[0, 0], torch.tensor(625.0))
    torch.testing.assert_close(clamped[0, 3] - clamped[0, 1], torch.tensor(0.32))


def test_proposer_boxes_are_sorted_inside_the_image_and_capped() -> None:
    torch.manual_seed(0)
    proposer = ObjectProposer((4, 8, 16, 32, 64), channels=32, fc_channels=64)
    feats = [torch.randn(1, 32, 64 // 2**i, 64 // 2**i) for i in range(5)]
    settings = ProposalSettings(score_threshold=0.3, max_detections=7)
    with torch.inference_mode():
        boxes, scores = proposer(feats, (200, 256), settings)
    assert boxes.shape == (7, 4) and scores.shape == (7,)
    assert torch.all(scores[:-1] >= scores[1:]) and torch.all(scores > 0.3)
    assert torch.all(boxes[:, 0] >= 0) and torch.all(boxes[:, 2] <= 256) and torch.all(boxes[:, 3] <= 200)
    assert torch.all(boxes[:, 2] >= boxes[:, 0]) and torch.all(boxes[:, 3] >= boxes[:, 1])
    keys = set(proposer.state_dict())
    assert "rpn_head.rpn_reg.weight" in keys and "roi_head.bbox_head.shared_fcs.1.weight" in keys


def test_overlapping_pixels_go_to_the_higher_score() -> None:
    masks = torch.tensor([[[1, 1, 1, 0]], [[0, 1, 1, 1]], [[0, 0, 0, 1]]], dtype=torch.bool)  # (3, 1, 4)
    out = remove_mask_overlaps(masks, torch.tensor([0.5, 0.9, 0.7]))
    assert out.int().tolist() == [[[1, 0, 0, 0]], [[0, 1, 1, 1]], [[0, 0, 0, 0]]]


def test_masks_to_xyxy_covers_whole_pixels() -> None:
    masks = torch.zeros(2, 5, 8, dtype=torch.bool)
    masks[0, 1:3, 3:6] = True  # rows 1-2, columns 3-5
    assert masks_to_xyxy(masks).tolist() == [[3.0, 1.0, 6.0, 3.0], [0.0, 0.0, 0.0, 0.0]]
