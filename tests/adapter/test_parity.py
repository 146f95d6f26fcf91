"""Parity with the official MASA code (../shared/parity): strict loading of the official checkpoint
layout, preprocessing, adapter outputs and embeddings.

The checkpoints are rebuilt from the manifests with the fixture's own `make_checkpoint.py`
(seeded), saved mmengine-style (with an mmengine object in `message_hub`) to a temporary folder.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import pytest
import torch
from safetensors.torch import load_file

from masa.adapter.preprocess import preprocess_image
from masa.weights import CheckpointError, load_adapter, read_checkpoint

RELATIVE_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def parity(shared: Path) -> Path:
    return shared / "parity"


@pytest.fixture(scope="module")
def make_checkpoint(parity: Path):
    spec = importlib.util.spec_from_file_location("masa_parity_make_checkpoint", parity / "make_checkpoint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _build(make_checkpoint, parity: Path, name: str, out: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    manifest = json.loads((parity / f"{name}.manifest.json").read_text())
    state = make_checkpoint.fill(manifest)
    path = out / f"{name}.pth"
    make_checkpoint.save_mmengine_style(state, path, manifest)
    return path, state


@pytest.fixture(scope="module")
def r50(make_checkpoint, parity: Path, tmp_path_factory: pytest.TempPathFactory):
    return _build(make_checkpoint, parity, "r50_masa", tmp_path_factory.mktemp("r50"))


def _relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float(((actual - expected).norm(dim=1) / expected.norm(dim=1)).max())


def test_r50_matches_official_embeddings(r50, parity: Path) -> None:
    path, _ = r50
    expected = load_file(str(parity / "r50_masa.expected.safetensors"))
    assert read_checkpoint(path).source == "official"
    adapter = load_adapter(path)  # strict: every adapter key present, nothing unknown
    image = cv2.cvtColor(cv2.imread(str(parity / "pets_000001.png")), cv2.COLOR_BGR2RGB)

    images, scale_factor = preprocess_image(image)
    assert scale_factor == (4 / 3, 4 / 3)
    torch.testing.assert_close(images, expected["input"], rtol=0, atol=0)  # bit-exact preprocessing

    with torch.inference_mode():
        fused = adapter.features(images)
        for level in (2, 3, 4):
            torch.testing.assert_close(fused[level], expected[f"adapter_level{level}"], rtol=1e-4, atol=1e-4)
        network_boxes = expected["boxes_xyxy_original"] * torch.tensor(scale_factor * 2)
        torch.testing.assert_close(network_boxes, expected["boxes_xyxy_network"])
        rois = torch.cat([torch.zeros(len(network_boxes), 1), network_boxes], dim=1)
        embeddings = adapter.embed_rois(fused, rois)
        pruned = adapter(images, rois)  # the tracking path: only the levels the boxes use
    assert _relative_error(embeddings, expected["embeddings"]) < RELATIVE_TOLERANCE
    assert torch.equal(pruned, embeddings)


@pytest.mark.parametrize(
    "change, named",
    [
        ("drop", "masa_adapter.1.dyhead_blocks.1.spatial_conv_offset.bias"),
        ("add", "masa_adapter.1.dyhead_blocks.3.spatial_conv_offset.bias"),
    ],
)
def test_official_layout_with_a_missing_or_extra_key_is_refused(
    r50, tmp_path: Path, change: str, named: str
) -> None:
    _, state = r50
    state = dict(state)
    if change == "drop":
        del state["masa_adapter.1.dyhead_blocks.1.spatial_conv_offset.bias"]
    else:
        state["masa_adapter.1.dyhead_blocks.3.spatial_conv_offset.bias"] = torch.zeros(81)
    path = tmp_path / "changed.pth"
    torch.save({"state_dict": state, "meta": {"epoch": 1}}, path)
    with pytest.raises(CheckpointError, match=("missing" if change == "drop" else "unexpected") + r" key\(s\): " + named.replace(".", r"\.")):
        load_adapter(path)


def test_distillation_heads_are_set_aside_not_loaded(r50) -> None:
    from masa.weights import convert_official_masa_checkpoint

    _, state = r50
    adapter_state, set_aside, unknown = convert_official_masa_checkpoint(state)
    assert not unknown
    assert {k.split(".")[0] for k in set_aside} == {"rpn_head", "roi_head"}
    assert len(adapter_state) + len(set_aside) == len(state) == 451


def test_gdino_adapter_matches_official_embeddings(make_checkpoint, parity: Path, tmp_path: Path) -> None:
    path, _ = _build(make_checkpoint, parity, "gdino_masa", tmp_path)
    adapter = load_adapter(path)
    assert adapter.backbone is None and adapter.roi_strides == (8, 16, 32)
    info = json.loads((parity / "adapters.expected.json").read_text())["gdino_masa"]["input_features"]
    generator = torch.Generator().manual_seed(info["seed"])
    feats = [torch.randn(shape, generator=generator) for shape in info["shapes"]]
    expected = load_file(str(parity / "gdino_masa.expected.safetensors"))
    boxes = expected["boxes_xyxy_network"]
    with torch.inference_mode():
        rois = torch.cat([torch.zeros(len(boxes), 1), boxes], 1)
        embeddings = adapter.embed_rois(adapter.adapt(feats), rois)
        pruned = adapter.embed_features(feats, rois)  # the unified detector's path
    assert _relative_error(embeddings, expected["embeddings"]) < RELATIVE_TOLERANCE
    assert torch.equal(pruned, embeddings)
