"""SAM through `segment-anything`: architecture from a checkpoint, weights, multi-level image
encoder features (forward hooks, no copy of SAM's code) and box-prompted masks.

The SAM-MASA adapter consumes the raw outputs of the image encoder's global-attention blocks,
permuted to `(B, C, 64, 64)` (SPEC §3.4 `forward_base_multi_level`); the mask decoder consumes the
encoder's final output. One encoder pass gives both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from masa.cache import WeightSpec, download_to_cache, masa_home
from masa.strict_load import strict_load
from masa.weights import CheckpointError, read_checkpoint

__all__ = [
    "SAM_WEIGHTS",
    "SamConfig",
    "sam_vit_b_config",
    "sam_vit_h_config",
    "sam_config_from_state",
    "build_sam",
    "load_sam",
    "resolve_sam_checkpoint",
    "BlockOutputTap",
    "predict_box_masks",
]

_SAM_URL = "https://dl.fbaipublicfiles.com/segment_anything/"

#: Official SAM checkpoints (plain state dicts, `image_encoder.*` / `prompt_encoder.*` /
#: `mask_decoder.*`). No published checksum: the first download's SHA-256 is recorded.
SAM_WEIGHTS: dict[str, WeightSpec] = {
    "sam_vit_b": WeightSpec(_SAM_URL + "sam_vit_b_01ec64.pth", "sam_vit_b_01ec64.pth"),
    "sam_vit_h": WeightSpec(_SAM_URL + "sam_vit_h_4b8939.pth", "sam_vit_h_4b8939.pth"),
}

_ENCODER = "image_encoder."
_SAM_PREFIXES = ("image_encoder.", "prompt_encoder.", "mask_decoder.")


@dataclass(frozen=True)
class SamConfig:
    """SAM's architecture (segment_anything `_build_sam` with its literals made fields).

    Attributes:
        embed_dim, depth, num_heads, mlp_ratio: the ViT image encoder.
        global_attn_indexes: blocks with global attention; their outputs feed the MASA adapter.
        img_size, patch_size, window_size: input side (square), patch side, attention window.
        prompt_embed_dim: width of the encoder neck, prompt encoder and mask decoder.
        mask_in_chans: channels of the prompt encoder's mask downscaling.
        decoder_depth, decoder_mlp_dim, decoder_num_heads: the two-way transformer.
        iou_head_depth, iou_head_hidden_dim, num_multimask_outputs: the mask decoder heads.
    """

    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    global_attn_indexes: tuple[int, ...] = (2, 5, 8, 11)
    mlp_ratio: float = 4.0
    img_size: int = 1024
    patch_size: int = 16
    window_size: int = 14
    prompt_embed_dim: int = 256
    mask_in_chans: int = 16
    decoder_depth: int = 2
    decoder_mlp_dim: int = 2048
    decoder_num_heads: int = 8
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256
    num_multimask_outputs: int = 3

    @property
    def grid_size(self) -> int:
        """Side of the encoder's token grid (64 for SAM)."""
        return self.img_size // self.patch_size


def sam_vit_b_config() -> SamConfig:
    """SAM ViT-B: width 768, 12 blocks, 12 heads, global attention in blocks 2, 5, 8, 11."""
    return SamConfig(embed_dim=768, depth=12, num_heads=12, global_attn_indexes=(2, 5, 8, 11))


def sam_vit_h_config() -> SamConfig:
    """SAM ViT-H: width 1280, 32 blocks, 16 heads, global attention in blocks 7, 15, 23, 31."""
    return SamConfig(embed_dim=1280, depth=32, num_heads=16, global_attn_indexes=(7, 15, 23, 31))


def _import_sam() -> Any:
    try:
        import segment_anything
    except ImportError:
        raise ImportError("SAM needs the segment-anything package: pip install 'masa-track[sam]'") from None
    return segment_anything


def build_sam(config: SamConfig) -> nn.Module:
    """A `segment_anything.modeling.Sam` with random weights, in eval mode."""
    modeling = _import_sam().modeling
    grid = config.grid_size
    sam = modeling.Sam(
        image_encoder=modeling.ImageEncoderViT(
            depth=config.depth, embed_dim=config.embed_dim, img_size=config.img_size,
            mlp_ratio=config.mlp_ratio, norm_layer=partial(nn.LayerNorm, eps=1e-6),
            num_heads=config.num_heads, patch_size=config.patch_size, qkv_bias=True, use_rel_pos=True,
            global_attn_indexes=config.global_attn_indexes, window_size=config.window_size,
            out_chans=config.prompt_embed_dim,
        ),
        prompt_encoder=modeling.PromptEncoder(
            embed_dim=config.prompt_embed_dim, image_embedding_size=(grid, grid),
            input_image_size=(config.img_size, config.img_size), mask_in_chans=config.mask_in_chans,
        ),
        mask_decoder=modeling.MaskDecoder(
            num_multimask_outputs=config.num_multimask_outputs,
            transformer=modeling.TwoWayTransformer(
                depth=config.decoder_depth, embedding_dim=config.prompt_embed_dim,
                mlp_dim=config.decoder_mlp_dim, num_heads=config.decoder_num_heads,
            ),
            transformer_dim=config.prompt_embed_dim, iou_head_depth=config.iou_head_depth,
            iou_head_hidden_dim=config.iou_head_hidden_dim,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    return sam.eval()


def _count(state: dict[str, Tensor], prefix: str) -> int:
    return len({k[len(prefix):].split(".")[0] for k in state if k.startswith(prefix)})


def sam_config_from_state(state: dict[str, Tensor]) -> SamConfig:
    """Infers the architecture from a SAM state dict's keys and shapes.

    The two-way transformer's head count cannot be read from shapes; it is SAM's 8.

    Raises:
        CheckpointError: a key the inference needs is missing.
    """
    enc, dec = _ENCODER, "mask_decoder."
    try:
        proj = state[enc + "patch_embed.proj.weight"]  # (C, 3, p, p)
        embed_dim, patch = int(proj.shape[0]), int(proj.shape[-1])
        grid = int(state[enc + "pos_embed"].shape[1])
        depth = _count(state, enc + "blocks.")
        rel = [int(state[f"{enc}blocks.{i}.attn.rel_pos_h"].shape[0]) for i in range(depth)]
        head_dim = int(state[enc + "blocks.0.attn.rel_pos_h"].shape[1])
        windowed = [r for r in rel if r != 2 * grid - 1]
        return SamConfig(
            embed_dim=embed_dim, depth=depth, num_heads=embed_dim // head_dim,
            global_attn_indexes=tuple(i for i, r in enumerate(rel) if r == 2 * grid - 1),
            mlp_ratio=state[enc + "blocks.0.mlp.lin1.weight"].shape[0] / embed_dim,
            img_size=grid * patch, patch_size=patch,
            window_size=(windowed[0] + 1) // 2 if windowed else 14,
            prompt_embed_dim=int(state[enc + "neck.0.weight"].shape[0]),
            mask_in_chans=int(state["prompt_encoder.mask_downscaling.3.weight"].shape[0]),
            decoder_depth=_count(state, dec + "transformer.layers."),
            decoder_mlp_dim=int(state[dec + "transformer.layers.0.mlp.lin1.weight"].shape[0]),
            iou_head_depth=_count(state, dec + "iou_prediction_head.layers."),
            iou_head_hidden_dim=int(state[dec + "iou_prediction_head.layers.0.weight"].shape[0]),
            num_multimask_outputs=int(state[dec + "mask_tokens.weight"].shape[0]) - 1,
        )
    except KeyError as e:
        raise CheckpointError(f"not a complete SAM state dict: no {e.args[0]} key") from None


def resolve_sam_checkpoint(name_or_path: str | os.PathLike[str], *, progress: bool = True) -> Path:
    """A path, or a key of `SAM_WEIGHTS` (downloaded to `$MASA_HOME/checkpoints` on first use).

    Raises:
        FileNotFoundError: neither an existing file nor a known name.
        CheckpointError: the download failed or was refused (`MASA_OFFLINE=1`).
    """
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    key = str(name_or_path)
    if key not in SAM_WEIGHTS:
        raise FileNotFoundError(
            f"SAM checkpoint {key!r} is neither a file nor a known name (known: {', '.join(SAM_WEIGHTS)})"
        )
    try:
        return download_to_cache(SAM_WEIGHTS[key], masa_home() / "checkpoints", progress=progress)
    except (OSError, ValueError) as e:
        raise CheckpointError(str(e)) from None


def load_sam(
    source: str | os.PathLike[str] | dict[str, Tensor], *, device: str | torch.device = "cpu"
) -> nn.Module:
    """Builds SAM from a state dict or a plain SAM checkpoint (path or `SAM_WEIGHTS` name) and
    loads it strictly; the architecture is read from the weights.

    Args:
        source: a SAM state dict (`image_encoder.*`, `prompt_encoder.*`, `mask_decoder.*`), or a
            file / known name holding one.
        device: where the model lives.

    Raises:
        CheckpointError: unreadable file, or missing, unexpected or mis-shaped keys.
    """
    if isinstance(source, dict):
        state, where = source, Path("<SAM state dict>")
    else:
        where = resolve_sam_checkpoint(source)
        state = read_checkpoint(where).state_dict
    unknown = sorted(k for k in state if not k.startswith(_SAM_PREFIXES))
    if unknown:
        raise CheckpointError(f"{where} is not a SAM checkpoint: unexpected key(s) {', '.join(unknown[:10])}")
    sam = build_sam(sam_config_from_state(state))
    strict_load(sam, state, where)
    return sam.to(device).eval()


class BlockOutputTap:
    """Forward hooks that keep the raw outputs of chosen image-encoder blocks.

    Each hooked block keeps its output from the first encoder call after `reset()` (SAM's
    automatic mask generator may encode several crops; the first is the whole frame).

    Args:
        image_encoder: a `segment_anything` `ImageEncoderViT`.
        block_indexes: the blocks to tap (MASA: the global-attention blocks).
    """

    def __init__(self, image_encoder: nn.Module, block_indexes: tuple[int, ...]) -> None:
        self.block_indexes = tuple(block_indexes)
        self._outputs: dict[int, Tensor] = {}
        self._handles = [
            image_encoder.blocks[i].register_forward_hook(partial(self._keep, i)) for i in self.block_indexes
        ]

    def _keep(self, index: int, module: nn.Module, inputs: Any, output: Tensor) -> None:
        self._outputs.setdefault(index, output)

    def reset(self) -> None:
        """Forgets the kept outputs; the next encoder call fills them again."""
        self._outputs = {}

    def levels(self) -> list[Tensor]:
        """The kept outputs as `(B, C, h, w)` maps, in `block_indexes` order.

        Raises:
            RuntimeError: the encoder has not run since `reset()`.
        """
        if len(self._outputs) != len(self.block_indexes):
            raise RuntimeError("the image encoder has not run since reset(): no block outputs to return")
        # (B, h, w, C) -> (B, C, h, w)
        return [self._outputs[i].permute(0, 3, 1, 2) for i in self.block_indexes]

    def remove(self) -> None:
        """Removes the hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles = []


def predict_box_masks(
    sam: nn.Module,
    image_embeddings: Tensor,
    boxes_xyxy: Tensor,
    *,
    input_size: tuple[int, int],
    original_size: tuple[int, int],
    batch_size: int = 32,
) -> tuple[Tensor, Tensor]:
    """One mask per box prompt (SAM's mask decoder, `multimask_output=False`).

    Args:
        sam: a `segment_anything` `Sam`.
        image_embeddings (Tensor[1, 256, 64, 64]): the image encoder's output for the frame.
        boxes_xyxy (Tensor[N, 4] float32): prompts in encoder-input pixels (frame pixels times the
            resize factor), as `SamPredictor.transform.apply_boxes_torch` gives.
        input_size: `(h, w)` of the resized frame inside the padded encoder input.
        original_size: `(H, W)` of the frame.
        batch_size: prompts decoded together (memory grows with it).

    Returns:
        (masks, iou_predictions): Tensor[N, H, W] bool at frame resolution, Tensor[N] float32.
    """
    height, width = original_size
    device = image_embeddings.device
    if boxes_xyxy.shape[0] == 0:
        return torch.zeros((0, height, width), dtype=torch.bool, device=device), torch.zeros(0, device=device)
    masks, scores = [], []
    dense_pe = sam.prompt_encoder.get_dense_pe()
    for chunk in boxes_xyxy.to(device=device, dtype=torch.float32).split(batch_size):
        sparse, dense = sam.prompt_encoder(points=None, boxes=chunk, masks=None)
        low_res, iou = sam.mask_decoder(
            image_embeddings=image_embeddings, image_pe=dense_pe, sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense, multimask_output=False,
        )  # (n, 1, 4h, 4w), (n, 1)
        logits = sam.postprocess_masks(low_res, input_size, original_size)  # (n, 1, H, W)
        masks.append(logits[:, 0] > sam.mask_threshold)
        scores.append(iou[:, 0])
    return torch.cat(masks), torch.cat(scores).float()
