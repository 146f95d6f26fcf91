"""SAM through segment-anything: architecture from weights, strict loading, tapped block outputs, and
box-prompted masks that equal SAM's own predictor on the same RGB frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from masa.segment import BlockOutputTap, build_sam, load_sam, sam_config_from_state, sam_vit_b_config
from masa.segment.sam import resolve_sam_checkpoint
from masa.weights import CheckpointError
from tests.segment.conftest import TINY_SAM


@pytest.mark.parametrize("config", [TINY_SAM, sam_vit_b_config()], ids=["tiny", "vit_b"])
def test_architecture_is_read_back_from_the_weights(config) -> None:
    assert sam_config_from_state(build_sam(config).state_dict()) == config


def test_plain_sam_checkpoint_loads_strictly(tmp_path: Path) -> None:
    torch.manual_seed(0)
    state = build_sam(TINY_SAM).state_dict()
    path = tmp_path / "sam_tiny.pth"
    torch.save(state, path)
    sam = load_sam(path)
    assert all(torch.equal(v, state[k]) for k, v in sam.state_dict().items())

    torch.save({**state, "image_encoder.extra.weight": torch.zeros(1)}, path)
    with pytest.raises(CheckpointError, match=r"unexpected key\(s\): image_encoder\.extra\.weight"):
        load_sam(path)
    del state["mask_decoder.iou_token.weight"]
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"missing key\(s\): mask_decoder\.iou_token\.weight"):
        load_sam(path)


def test_unknown_or_offline_sam_names_are_errors() -> None:
    with pytest.raises(FileNotFoundError, match="known: sam_vit_b, sam_vit_h"):
        resolve_sam_checkpoint("sam_vit_q")
    with pytest.raises(CheckpointError, match="MASA_OFFLINE"):  # tests run offline (tests/conftest.py)
        resolve_sam_checkpoint("sam_vit_b")


def test_tap_returns_raw_global_block_outputs_channels_first() -> None:
    torch.manual_seed(0)
    encoder = build_sam(TINY_SAM).image_encoder
    tap = BlockOutputTap(encoder, TINY_SAM.global_attn_indexes)
    images = torch.randn(1, 3, 256, 256)
    with torch.inference_mode():
        encoder(images)
        levels = tap.levels()
        x = encoder.patch_embed(images) + encoder.pos_embed  # (1, 16, 16, C)
        expected = []
        for i, block in enumerate(encoder.blocks):
            x = block(x)
            if i in TINY_SAM.global_attn_indexes:
                expected.append(x.permute(0, 3, 1, 2))
    assert [tuple(level.shape) for level in levels] == [(1, 64, 16, 16)] * 4
    for level, ref in zip(levels, expected):
        torch.testing.assert_close(level, ref)
    tap.reset()
    with pytest.raises(RuntimeError, match="has not run since reset"):
        tap.levels()
    tap.remove()


def test_box_masks_equal_sams_predictor_on_the_rgb_frame(tiny_model) -> None:
    """Same embeddings, same boxes: our masks are SamPredictor's (RGB, no channel swap)."""
    from segment_anything import SamPredictor

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (90, 150, 3), dtype=np.uint8)
    image[20:60, 30:90] = (250, 30, 30)  # a red block: R and B differ, so a BGR swap would show
    boxes = torch.tensor([[30.0, 20.0, 90.0, 60.0], [5.0, 10.0, 140.0, 80.0]])
    with torch.inference_mode():
        encoded = tiny_model.encode(image)
        masks, iou = tiny_model.box_masks(encoded, boxes)

        predictor = SamPredictor(tiny_model.sam)
        new_h, new_w = encoded.input_size
        resized = cv2.resize(image.astype(np.float32), (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        predictor.set_torch_image(torch.from_numpy(resized).permute(2, 0, 1)[None], image.shape[:2])
        expected, expected_iou, _ = predictor.predict_torch(
            None, None, boxes=predictor.transform.apply_boxes_torch(boxes, image.shape[:2]),
            multimask_output=False,
        )
    torch.testing.assert_close(encoded.image_embeddings, predictor.features)
    assert masks.shape == (2, 90, 150) and masks.dtype == torch.bool
    assert torch.equal(masks, expected[:, 0])
    torch.testing.assert_close(iou, expected_iou[:, 0])
