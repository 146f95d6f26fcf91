"""Unified MASA-GDINO: the adapter runs on the detector's own backbone maps, once per frame.

The official adapter's numbers are checked in tests/adapter/test_parity.py; here the same fixture
checks the wiring around it: frame boxes -> network-input RoIs -> embeddings from kept maps.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from masa.adapter import AdapterConfig, MasaAdapter, build_masa_adapter
from masa.detectors import DetectAhead, FeatureBatch, UnifiedEmbedder
from masa.errors import InputError
from masa.io import Frame
from masa.pipeline import track_frames
from masa.structures import Detections
from masa.adapter.official import convert_official_masa_checkpoint, official_adapter_config, official_name
from masa.strict_load import strict_load
from tests.conftest import tiny_adapter_config
from tests.detectors.tiny_gdino import tiny_unified_adapter_config

SIZE = (320, 240)


class _StubFeatureDetector:
    """Hands out fixed backbone maps, as a Swin-B Grounding DINO would."""

    class_names: ClassVar[dict[int, str]] = {0: "object"}
    feature_channels = (256, 512, 1024)
    feature_strides = (8, 16, 32)

    def __init__(self, features: list[torch.Tensor], scale: tuple[float, float]) -> None:
        self.features, self.scale = features, scale

    def detect_with_features(self, images):
        return FeatureBatch(
            [Detections.empty() for _ in images], self.features, [self.scale] * len(images)
        )


def _official_gdino_adapter(parity: Path) -> MasaAdapter:
    spec = importlib.util.spec_from_file_location(
        "masa_parity_make_checkpoint", parity / "make_checkpoint.py"
    )
    make_checkpoint = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_checkpoint)
    state = make_checkpoint.fill(json.loads((parity / "gdino_masa.manifest.json").read_text()))
    adapter = MasaAdapter(official_adapter_config(state))
    adapter_state, _, unknown = convert_official_masa_checkpoint(state)
    assert not unknown
    strict_load(adapter, adapter_state, parity / "gdino_masa.manifest.json", names=official_name)
    return adapter.eval()


def test_frame_boxes_reach_the_official_embeddings(shared: Path) -> None:
    parity = shared / "parity"
    info = json.loads((parity / "adapters.expected.json").read_text())["gdino_masa"][
        "input_features"
    ]
    generator = torch.Generator().manual_seed(info["seed"])
    feats = [torch.randn(shape, generator=generator) for shape in info["shapes"]]
    expected = load_file(str(parity / "gdino_masa.expected.safetensors"))
    scale = (1.25, 1.25)  # frame px -> network px, as the detector's resize would report
    embedder = UnifiedEmbedder(_StubFeatureDetector(feats, scale), _official_gdino_adapter(parity))
    image = np.zeros((614, 819, 3), dtype=np.uint8)
    embedder([image])
    frame_boxes = expected["boxes_xyxy_network"] / torch.tensor(scale * 2)
    embeddings = embedder.embed(image, frame_boxes)
    relative = (embeddings - expected["embeddings"]).norm(dim=1) / expected["embeddings"].norm(
        dim=1
    )
    assert float(relative.max()) < 1e-4


@pytest.fixture(scope="module")
def tiny_detector(tiny_gdino_dir: Path):
    from masa.detectors import build_grounding_dino_detector

    return build_grounding_dino_detector(
        prompt="person . car", model=tiny_gdino_dir, size=SIZE, box_threshold=0.3
    )


def test_embeddings_come_from_the_frame_s_own_maps(tiny_detector) -> None:
    torch.manual_seed(0)
    adapter = build_masa_adapter(tiny_unified_adapter_config())
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(2))
    embedder = UnifiedEmbedder(tiny_detector, adapter)
    embedder([a, b])
    boxes = torch.tensor([[10.0, 20.0, 60.0, 100.0], [0.0, 0.0, 160.0, 120.0]])
    actual = embedder.embed(b, boxes)
    batch = tiny_detector.detect_with_features([a, b])
    sx, sy = batch.scale_factors[1]
    rois = torch.cat([torch.zeros(2, 1), boxes * torch.tensor([sx, sy, sx, sy])], 1)
    with torch.inference_mode():
        expected = adapter.embed_rois(adapter.adapt([f[1:2] for f in batch.features]), rois)
    torch.testing.assert_close(actual, expected)
    assert embedder.embed(a, torch.zeros(0, 4)).shape == (0, 32)
    with pytest.raises(RuntimeError, match="detected first"):
        embedder.embed(a.copy(), boxes)


def test_backbone_runs_once_per_frame_through_the_pipeline(tiny_detector) -> None:
    from masa.tracking import build_tao_tracker_demo

    calls = []
    swin = tiny_detector.model.model.backbone.conv_encoder.model
    handle = swin.register_forward_hook(lambda module, args, output: calls.append(args[0].shape[0]))
    try:
        embedder = UnifiedEmbedder(tiny_detector, build_masa_adapter(tiny_unified_adapter_config()))
        rng = np.random.default_rng(1)
        frames = [Frame(i, rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)) for i in range(3)]
        ahead = DetectAhead(frames, embedder, batch_size=2)
        results = list(track_frames(ahead, ahead.detect, embedder, build_tao_tracker_demo()))
    finally:
        handle.remove()
    assert calls == [2, 1]  # one backbone forward per batch, frames 0-1 then 2; none for embedding
    assert [r.frame_idx for r in results] == [0, 1, 2]
    assert all(
        r.detections.embedding is None or r.detections.embedding.shape[1] == 32 for r in results
    )


@pytest.mark.parametrize(
    "config, message",
    [
        (
            AdapterConfig(
                backbone=None,
                in_channels=(256, 512, 1024),
                in_strides=(8, 16, 32),
                roi_levels=3,
                channels=32,
                fusion_blocks=0,
                head_convs=1,
                head_conv_channels=32,
                head_fc_channels=32,
                embed_dim=8,
            ),
            r"channels \(256, 512, 1024\) .* gives channels \(16, 32, 64\) .*grounding-dino-base",
        ),
        (tiny_adapter_config(), "has its own backbone"),
    ],
)
def test_adapters_that_do_not_fit_the_detector_are_refused(tiny_detector, config, message) -> None:
    with pytest.raises(InputError, match=message):
        UnifiedEmbedder(tiny_detector, build_masa_adapter(config))
