"""`MasaAdapter.embed_batch`: several frames per forward give each frame's own embeddings."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from masa.adapter import build_masa_adapter
from tests.conftest import tiny_adapter_config


def _frames() -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(0)
    images = [
        rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        for h, w in [(90, 120), (90, 120), (60, 50), (90, 120)]
    ]
    boxes = [
        np.array([[10, 10, 50, 70], [60, 20, 110, 80]], np.float32),
        np.zeros((0, 4), np.float32),  # a frame without boxes
        np.array([[5, 5, 40, 55]], np.float32),  # another size: its own forward
        np.array([[0, 0, 120, 90], [30, 40, 60, 85], [70, 5, 100, 30]], np.float32),
    ]
    return images, boxes


def test_batch_equals_frame_by_frame() -> None:
    torch.manual_seed(0)
    adapter = build_masa_adapter(tiny_adapter_config())
    images, boxes = _frames()
    batched = adapter.embed_batch([adapter.prepare(image) for image in images], boxes)
    assert [tuple(e.shape) for e in batched] == [(2, 32), (0, 32), (1, 32), (3, 32)]
    for image, frame_boxes, embedding in zip(images, boxes, batched):
        torch.testing.assert_close(
            embedding, adapter.embed(image, frame_boxes), rtol=1e-4, atol=1e-5
        )


def test_bf16_autocast_embeddings_stay_close_and_float32() -> None:
    torch.manual_seed(0)
    adapter = build_masa_adapter(tiny_adapter_config())
    images, boxes = _frames()
    exact = adapter.embed(images[3], boxes[3])
    adapter.autocast_dtype = torch.bfloat16
    approximate = adapter.embed(images[3], boxes[3])
    assert approximate.dtype == torch.float32
    assert float(torch.nn.functional.cosine_similarity(approximate, exact).min()) > 0.99
    assert not torch.equal(approximate, exact)  # it did run in bf16


def test_batch_frames_keeps_a_batch_near_one_megapixel() -> None:
    config = tiny_adapter_config()
    assert build_masa_adapter(replace(config, resize=(1024, 1024))).batch_frames == 1  # MASA-R50
    assert build_masa_adapter(replace(config, resize=(352, 352))).batch_frames == 8  # masa-lite
