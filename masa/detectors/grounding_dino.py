"""Grounding DINO (open-vocabulary, text-prompted) through `transformers`, imported lazily.

**Which tensors MASA-GDINO uses.** The official adapter (`gdino_masa.pth`) reads the mmdet
`SwinTransformer(out_indices=(1, 2, 3))` outputs: the output of Swin stages 1, 2 and 3 (0-based,
*before* each stage's patch merging), each passed through that stage's output LayerNorm
(`norm1/norm2/norm3`), at strides 8/16/32 (Swin-B: 256/512/1024 channels), SPEC §3.3.
In `transformers`, Grounding DINO's Swin is a `SwinBackbone` with `out_features =
["stage2", "stage3", "stage4"]` (`stage_names = ["stem", "stage1", ..., "stage4"]`, so
`out_indices=[2, 3, 4]`, the config default). `SwinBackbone.forward` runs the Swin with
`output_hidden_states_before_downsampling=True` and applies `hidden_states_norms["stageN"]` to each
selected state: its `feature_maps` are exactly mmdet's stages 1..3 after `norm1..3` (transformers'
"stage{i+1}" is mmdet's stage i). `GroundingDinoConvEncoder.forward` returns them, paired with the
downsampled pixel mask, to the detector; a forward hook on `model.model.backbone.conv_encoder` keeps
them from the very forward that produces the detections (tested in
tests/detectors/test_grounding_dino.py against a stage-by-stage recomputation).

**Weights.** The unified path takes the detector, Swin-B included, from the `transformers`
model (`--model IDEA-Research/grounding-dino-base`, converted from IDEA's
`groundingdino_swinb_cogcoor.pth`, the source of the mmdet
`groundingdino_swinb_cogcoor_mmdet-55949c9c.pth` that MASA froze) and only the adapter from
`gdino_masa.pth`; its `detector.*` tensors are set aside (`masa.adapter.official`). Loading those
mmdet Swin keys into the transformers Swin would need the PatchMerging channel permutation of SPEC
§3.3 and could not be checked against real weights here, so it is not done.

**Preprocessing** is MASA's (SPEC §1.3): keep-ratio resize to fit (1333, 800), ImageNet mean/std,
zero padding to a multiple of 32 with a pixel mask; it equals the Grounding DINO processor's
normalisation and size rule, and runs on the model's device.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from masa.adapter.preprocess import PIXEL_MEAN, PIXEL_STD, rescale_size
from masa.detectors.base import check_images
from masa.detectors.prompt import (
    PromptCachedTextEncoder,
    decode_grounding,
    parse_prompt,
    tokenize_phrases,
)
from masa.detectors.unified import FeatureBatch
from masa.errors import InputError
from masa.safe_load import UnsafeFileError, refusal_reason
from masa.structures import Detections

__all__ = [
    "DEFAULT_GDINO_MODEL",
    "GroundingDinoDetector",
    "build_grounding_dino_detector",
    "load_grounding_dino",
    "preprocess_frames",
]

logger = logging.getLogger(__name__)

DEFAULT_GDINO_MODEL = "IDEA-Research/grounding-dino-tiny"
_EXTRA = "pip install 'masa-track[gdino]'"


def preprocess_frames(
    images: list[np.ndarray],
    *,
    size: tuple[int, int] = (1333, 800),
    pad_divisor: int = 32,
    device: torch.device | str = "cpu",
) -> tuple[Tensor, Tensor, list[tuple[float, float]]]:
    """Resizes (bilinear), normalises and zero-pads a batch of RGB frames on `device`.

    Args:
        images: B frames, uint8 `(H, W, 3)` RGB; sizes may differ.
        size: keep-ratio target (long side, short side), as mmdet `Resize(scale=...)`.
        pad_divisor: pad bottom/right to a multiple of this (the batch to its largest frame).

    Returns:
        (pixel_values `Tensor[B, 3, Hp, Wp]` float32, pixel_mask `Tensor[B, Hp, Wp]` int64 with 1 on
        image pixels, scale factors `(new_w / w, new_h / h)` per frame).
    """
    resized, scales = [], []
    mean = torch.tensor(PIXEL_MEAN, device=device).view(3, 1, 1)
    std = torch.tensor(PIXEL_STD, device=device).view(3, 1, 1)
    for image in images:
        height, width = image.shape[:2]
        new_h, new_w = rescale_size(height, width, size)
        x = torch.from_numpy(image).to(device).permute(2, 0, 1).float()[None]  # (1, 3, H, W)
        x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False)[0]
        resized.append((x - mean) / std)
        scales.append((new_w / width, new_h / height))
    pad_h = -(-max(x.shape[1] for x in resized) // pad_divisor) * pad_divisor
    pad_w = -(-max(x.shape[2] for x in resized) // pad_divisor) * pad_divisor
    pixel_values = torch.zeros((len(images), 3, pad_h, pad_w), device=device)
    pixel_mask = torch.zeros((len(images), pad_h, pad_w), dtype=torch.int64, device=device)
    for i, x in enumerate(resized):
        pixel_values[i, :, : x.shape[1], : x.shape[2]] = x
        pixel_mask[i, : x.shape[1], : x.shape[2]] = 1
    return pixel_values, pixel_mask, scales


class GroundingDinoDetector:
    """Text-prompted detection with a `transformers` Grounding DINO.

    Args:
        model: a `GroundingDinoForObjectDetection` (eval mode, on its device). Its text backbone is
            wrapped in a `PromptCachedTextEncoder`, so BERT runs once per prompt.
        tokenizer: its BERT tokenizer.
        prompt: phrases separated by "." ("car . person"); phrase k is class id k.
        box_threshold: keep boxes whose best phrase-token probability is above this.
        text_threshold: keep boxes whose phrase's mean token probability is above this.
        max_detections: at most this many boxes per frame, best first.
        size: preprocessing keep-ratio target (long side, short side).
        autocast_dtype: run the model under CUDA autocast with this dtype (bf16/fp16); None = fp32.
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        prompt: str,
        *,
        box_threshold: float = 0.35,
        text_threshold: float = 0.25,
        max_detections: int = 100,
        size: tuple[int, int] = (1333, 800),
        autocast_dtype: torch.dtype | None = None,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.box_threshold = box_threshold
        self.text_threshold = text_threshold
        self.max_detections = max_detections
        self.size = size
        self.autocast_dtype = autocast_dtype
        inner = model.model
        if not isinstance(inner.text_backbone, PromptCachedTextEncoder):
            inner.text_backbone = PromptCachedTextEncoder(inner.text_backbone)
        self.text_encoder: PromptCachedTextEncoder = inner.text_backbone
        self._captured: list[Tensor] | None = None
        inner.backbone.conv_encoder.register_forward_hook(self._capture_backbone_maps)
        self.feature_channels = tuple(
            int(c) for c in inner.backbone.conv_encoder.intermediate_channel_sizes
        )
        self._strides: tuple[int, ...] | None = None
        self.set_prompt(prompt)

    def set_prompt(self, prompt: str) -> None:
        """Changes the phrases (and so the classes); counts of matched phrases start again."""
        self.prompt = prompt
        self.tokens = tokenize_phrases(
            self.tokenizer, parse_prompt(prompt), max_text_len=self.model.config.max_text_len
        )
        self.class_names = dict(enumerate(self.tokens.phrases))
        self.detections_per_class: Counter[int] = Counter()
        for phrase in self.tokens.unknown_phrases:
            logger.warning("phrase %r is unknown to the tokenizer and will match nothing", phrase)

    def unmatched_phrases(self) -> list[str]:
        """Phrases that no detection was given to since the prompt was set."""
        return [p for k, p in self.class_names.items() if self.detections_per_class[k] == 0]

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def feature_strides(self) -> tuple[int, ...]:
        """Strides of the backbone maps, measured once on a blank 256x256 input."""
        if self._strides is None:
            side = 256
            with torch.inference_mode():
                maps = self.model.model.backbone.conv_encoder.model(
                    torch.zeros(1, 3, side, side, device=self.device)
                )
            self._strides = tuple(side // int(m.shape[-1]) for m in maps.feature_maps)
        return self._strides

    def _capture_backbone_maps(self, module: nn.Module, inputs: Any, output: Any) -> None:
        self._captured = [feature_map for feature_map, _mask in output]

    def __call__(self, images: list[np.ndarray]) -> list[Detections]:
        return self.detect_with_features(images).detections

    @torch.inference_mode()
    def detect_with_features(self, images: list[np.ndarray]) -> FeatureBatch:
        """Detects the prompt's phrases in a batch and returns the backbone maps of that forward.

        Returns:
            FeatureBatch: detections (`class_id` = phrase index), the Swin stage maps
            `Tensor[B, C_l, H_l, W_l]` (see the module docstring) and each frame's scale factor.
        """
        check_images(images)
        if not images:
            return FeatureBatch([], [], [])
        device = self.device
        pixel_values, pixel_mask, scales = preprocess_frames(images, size=self.size, device=device)
        batch = len(images)
        text = {
            k: getattr(self.tokens, k).to(device).expand(batch, -1)
            for k in ("input_ids", "attention_mask", "token_type_ids")
        }
        autocast = torch.autocast(
            "cuda",
            dtype=self.autocast_dtype,
            enabled=self.autocast_dtype is not None and device.type == "cuda",
        )
        self._captured = None
        with autocast:
            outputs = self.model(pixel_values=pixel_values, pixel_mask=pixel_mask, **text)
        features, self._captured = self._captured, None
        if features is None:
            raise RuntimeError("the backbone hook did not fire; is this a Grounding DINO model?")
        detections = decode_grounding(
            outputs.logits,
            outputs.pred_boxes,
            self.tokens.phrase_token_map,
            [image.shape[:2] for image in images],
            box_threshold=self.box_threshold,
            text_threshold=self.text_threshold,
            max_detections=self.max_detections,
        )
        for dets in detections:
            self.detections_per_class.update(dets.class_id.tolist())
        return FeatureBatch(detections, features, scales)


def _hub_is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def load_grounding_dino(
    model: str | os.PathLike[str], *, device: str | torch.device = "cpu"
) -> tuple[nn.Module, Any]:
    """Loads a Grounding DINO and its tokenizer from a local folder or a Hugging Face model id.

    Raises:
        ImportError: `transformers` is not installed (names the extra to install).
        FileNotFoundError: a path-like name that does not exist.
        InputError: a hub id that is not cached while offline, or that cannot be downloaded.
    """
    try:
        from transformers import AutoModelForZeroShotObjectDetection, AutoTokenizer
    except ImportError:
        raise ImportError(f"Grounding DINO needs transformers: {_EXTRA}") from None
    name = str(model)
    path = Path(name).expanduser()
    if path.is_dir():
        source = str(path)
    elif path.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise FileNotFoundError(
            f"Grounding DINO model {name!r}: expected a model folder or a Hugging Face id"
        )
    else:
        source = name
        _check_hub_cache(name)
    # Never code from the model: no `trust_remote_code`; safetensors weights when the folder has
    # them, else a `.bin` pickle that transformers reads with torch's weights_only loader.
    safetensors = True if path.is_dir() and any(path.glob("*.safetensors")) else None
    try:
        network = AutoModelForZeroShotObjectDetection.from_pretrained(
            source, trust_remote_code=False, use_safetensors=safetensors
        )
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    except pickle.UnpicklingError as e:
        raise UnsafeFileError(f"{name}: refused to load the Grounding DINO weights: "
                              f"{refusal_reason(e)}; nothing from the file was run") from None
    except Exception as e:  # noqa: BLE001 - any loader failure is a bad model for the user
        where = "the folder" if path.is_dir() else "the Hugging Face hub"
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        raise InputError(
            f"cannot load Grounding DINO {name!r} from {where} ({type(e).__name__}: "
            f"{lines[0] if lines else ''}); fetch it with `hf download {name}` while online, "
            "or pass a local folder"
        ) from None
    return network.to(device).eval(), tokenizer


def _check_hub_cache(name: str) -> None:
    """Fails at once (not after minutes of retries) for a hub id not cached while offline."""
    if not _hub_is_offline():
        return
    from huggingface_hub import try_to_load_from_cache

    if not isinstance(try_to_load_from_cache(name, "config.json"), str):
        raise InputError(
            f"Grounding DINO {name!r} is not in the Hugging Face cache and HF_HUB_OFFLINE is set: "
            f"run `hf download {name}` once while online (or unset HF_HUB_OFFLINE), "
            "or pass a local folder"
        )


def build_grounding_dino_detector(
    *,
    prompt: str,
    model: str | os.PathLike[str] = DEFAULT_GDINO_MODEL,
    box_threshold: float = 0.35,
    text_threshold: float = 0.25,
    max_detections: int = 100,
    size: tuple[int, int] = (1333, 800),
    precision: str = "auto",
    device: str | torch.device = "cpu",
) -> GroundingDinoDetector:
    """Grounding DINO from a hub id (default: the Swin-T model) or a local folder.

    Args:
        prompt: phrases separated by "." ("car . person").
        model: a Hugging Face model id or a folder saved with `save_pretrained` (model + tokenizer).
        box_threshold, text_threshold, max_detections, size: see `GroundingDinoDetector`.
        precision: "auto" (bf16 autocast on CUDA where supported, else fp16; fp32 on CPU),
            "fp32", "bf16" or "fp16" (autocast applies on CUDA only).
        device: where the model runs.
    """
    dtypes = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
    if precision not in (*dtypes, "auto"):
        raise InputError(f"precision {precision!r} is not one of auto, fp32, bf16, fp16")
    dev = torch.device(device)
    if precision == "auto":
        bf16 = dev.type == "cuda" and torch.cuda.is_bf16_supported()
        autocast_dtype = None if dev.type != "cuda" else (torch.bfloat16 if bf16 else torch.float16)
    else:
        autocast_dtype = dtypes[precision]
    network, tokenizer = load_grounding_dino(model, device=dev)
    return GroundingDinoDetector(
        network,
        tokenizer,
        prompt,
        box_threshold=box_threshold,
        text_threshold=text_threshold,
        max_detections=max_detections,
        size=size,
        autocast_dtype=autocast_dtype,
    )
