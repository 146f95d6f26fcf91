"""SAM-MASA checkpoints in the official layout (SPEC §3.4): one file for adapter, detection head and
SAM; strict loading; parity with the official adapter (../shared/parity/sam_vitb_masa.*)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from masa.segment import SamConfig, build_sam, load_sam_masa, save_sam_masa, split_sam_masa_state
from masa.weights import CheckpointError, load_adapter, read_checkpoint


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_one_official_layout_file_round_trips(tiny_model, tiny_sam_masa_checkpoint: Path) -> None:
    state = read_checkpoint(tiny_sam_masa_checkpoint).state_dict
    prefixes = {".".join(k.split(".")[: 2 if k.startswith("detector.") else 1]) for k in state}
    assert prefixes == {"masa_adapter", "track_head", "rpn_head", "roi_head",
                        "detector.backbone", "detector.prompt_encoder", "detector.mask_decoder"}
    assert "masa_adapter.0.fpn1.1.ln.weight" in state and "detector.backbone.blocks.1.attn.rel_pos_h" in state
    model = load_sam_masa(tiny_sam_masa_checkpoint)
    assert _same_weights(model, tiny_model)
    assert model.adapter.config.strides == (4, 8, 16, 32, 64) and model.tap.block_indexes == (1, 2, 3, 4)


def test_sam_weights_can_come_from_a_separate_file(tiny_model, tmp_path: Path) -> None:
    path = save_sam_masa(tiny_model, tmp_path / "no_sam.pth", with_sam=False)
    with pytest.raises(CheckpointError, match=r"carries no SAM weights \(detector\.\*\)"):
        load_sam_masa(path)
    sam_path = tmp_path / "sam.pth"
    torch.save(tiny_model.sam.state_dict(), sam_path)
    assert _same_weights(load_sam_masa(path, sam=sam_path), tiny_model)


@pytest.mark.parametrize(
    "change, message",
    [
        ("drop rpn", r"missing key\(s\): rpn_head\.rpn_cls\.bias"),
        ("drop sam", r"missing key\(s\): mask_decoder\.iou_token\.weight"),
        ("extra", r"unexpected key\(s\): detector\.neck\.0\.weight"),
    ],
)
def test_missing_or_unknown_keys_are_refused(
    tiny_sam_masa_checkpoint: Path, tmp_path: Path, change: str, message: str
) -> None:
    state = dict(read_checkpoint(tiny_sam_masa_checkpoint).state_dict)
    if change == "drop rpn":
        del state["rpn_head.rpn_cls.bias"]
    elif change == "drop sam":
        del state["detector.mask_decoder.iou_token.weight"]
    else:
        state["detector.neck.0.weight"] = torch.zeros(1)
    path = tmp_path / "changed.pth"
    torch.save({"state_dict": state, "meta": {"epoch": 1}}, path)
    with pytest.raises(CheckpointError, match=message):
        load_sam_masa(path)


def test_r50_checkpoint_is_not_a_sam_masa_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "r50ish.pth"
    torch.save({"masa_adapter.0.lateral_convs.0.conv.weight": torch.zeros(256, 256, 1, 1)}, path)
    with pytest.raises(CheckpointError, match="not a SAM-MASA checkpoint"):
        load_sam_masa(path)


@pytest.fixture(scope="module")
def official_vitb(
    shared: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, torch.Tensor]]:
    """The seeded MASA part of `sam_vitb_masa.pth` (parity manifest), mmengine-style."""
    parity = shared / "parity"
    spec = importlib.util.spec_from_file_location("masa_make_checkpoint", parity / "make_checkpoint.py")
    make_checkpoint = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_checkpoint)
    manifest = json.loads((parity / "sam_vitb_masa.manifest.json").read_text())
    state = make_checkpoint.fill(manifest)
    path = tmp_path_factory.mktemp("sam_vitb_masa") / "sam_vitb_masa.pth"
    make_checkpoint.save_mmengine_style(state, path, manifest)
    return path, state


def test_official_vitb_layout_loads_strictly(official_vitb, tmp_path: Path) -> None:
    path, state = official_vitb
    adapter = load_adapter(path)  # adapter part alone, config read from the keys
    assert adapter.config.in_channels == (768,) * 4 and adapter.config.roi_levels == 4
    config = adapter.config
    assert (config.neck, config.fusion, config.fusion_blocks) == ("simple_fpn", "dyhead", 3)
    _, proposer, sam, unknown = split_sam_masa_state(state)
    assert not sam and not unknown and len(proposer) == 14

    # The whole file: the manifest's MASA part plus a ViT-B-width SAM (4 global blocks, to stay
    # small) under detector.*, as the released files carry it.
    torch.manual_seed(0)
    vit = build_sam(SamConfig(depth=4, global_attn_indexes=(0, 1, 2, 3))).state_dict()
    detector = {"detector." + k.replace("image_encoder.", "backbone.", 1): v for k, v in vit.items()}
    full = tmp_path / "full.pth"
    torch.save({"state_dict": {**state, **detector}, "meta": {}}, full)
    model = load_sam_masa(full)
    assert torch.equal(model.proposer.rpn_head.rpn_reg.weight, state["rpn_head.rpn_reg.weight"])
    assert torch.equal(model.adapter.fusion.dyhead_blocks[2].task_attn_module.conv2.conv.bias,
                       state["masa_adapter.1.dyhead_blocks.2.task_attn_module.conv2.conv.bias"])
    assert torch.equal(model.sam.image_encoder.pos_embed, vit["image_encoder.pos_embed"])


@pytest.mark.slow
def test_vitb_adapter_matches_official_embeddings(official_vitb, shared: Path) -> None:
    """~40 s on 2 CPU cores: SimpleFPN + 3 DyHead blocks at 256x256 with 256 channels."""
    path, _ = official_vitb
    adapter = load_adapter(path)
    info = json.loads((shared / "parity" / "adapters.expected.json").read_text())["sam_vitb_masa"]
    generator = torch.Generator().manual_seed(info["input_features"]["seed"])
    feats = [torch.randn(shape, generator=generator) for shape in info["input_features"]["shapes"]]
    expected = load_file(str(shared / "parity" / "sam_vitb_masa.expected.safetensors"))
    boxes = expected["boxes_xyxy_network"]
    with torch.inference_mode():
        fused = adapter.adapt(feats)
        embeddings = adapter.embed_rois(fused, torch.cat([torch.zeros(len(boxes), 1), boxes], 1))
    for level, out in enumerate(fused):
        stats = info["adapter"][f"level{level}"]
        assert list(out.shape) == stats["shape"]
        corner = torch.tensor(stats["corner"]).view(4, 4, 4)
        torch.testing.assert_close(out[0, :4, :4, :4], corner, rtol=1e-4, atol=1e-4)
    relative = ((embeddings - expected["embeddings"]).norm(dim=1) / expected["embeddings"].norm(dim=1)).max()
    assert float(relative) < 1e-4
