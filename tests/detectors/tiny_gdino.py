"""A tiny Grounding DINO (tiny Swin + tiny BERT, random weights) saved like a real one.

The model hard-codes token ids 101 ([CLS]), 102 ([SEP]), 1012 (".") and 1029 ("?"), so the
vocabulary has at least 1030 entries with those tokens at those positions (see ../shared/NOTES.md).
`BertTokenizer(vocab=...)` is used because `BertTokenizerFast(vocab_file=...)` ignores the file in
transformers 5.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch

#: Words of the tiny vocabulary after the reserved ids; any other word becomes [UNK].
WORDS = ("car", "person", "red", "dog", "bicycle", "a", "white")
#: Backbone channels of the tiny Swin at strides 8/16/32 (embed_dim 8: stages 8, 16, 32, 64).
TINY_SWIN_CHANNELS = (16, 32, 64)


def tiny_vocab() -> list[str]:
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += [f"[filler{i}]" for i in range(len(vocab), 1012)] + ["."]
    vocab += [f"[filler{i}]" for i in range(len(vocab), 1029)] + ["?"]
    return vocab + list(WORDS)


def build_tiny_gdino(seed: int = 0):
    """(model, tokenizer): a random-weight GroundingDinoForObjectDetection in eval mode."""
    from transformers import (
        BertConfig,
        BertTokenizer,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        SwinConfig,
    )

    vocab = tiny_vocab()
    tokenizer = BertTokenizer(vocab=OrderedDict((word, i) for i, word in enumerate(vocab)))
    backbone = SwinConfig(
        embed_dim=8,
        depths=[1, 1, 2, 1],
        num_heads=[1, 1, 2, 2],
        window_size=4,
        out_indices=[2, 3, 4],
    )
    text = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    config = GroundingDinoConfig(
        backbone_config=backbone,
        text_config=text,
        d_model=32,
        encoder_layers=1,
        decoder_layers=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        num_queries=30,
        max_text_len=32,
        encoder_n_points=2,
        decoder_n_points=2,
    )
    torch.manual_seed(seed)
    return GroundingDinoForObjectDetection(config).eval(), tokenizer


def save_tiny_gdino(folder: Path, seed: int = 0) -> Path:
    """Saves model + tokenizer with `save_pretrained`, as a downloaded hub model is laid out."""
    model, tokenizer = build_tiny_gdino(seed)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_unified_adapter_config():
    """An adapter without a backbone that fits the tiny Swin's maps (MASA-GDINO layout, narrow)."""
    from masa.adapter import AdapterConfig

    return AdapterConfig(
        backbone=None,
        in_channels=TINY_SWIN_CHANNELS,
        in_strides=(8, 16, 32),
        roi_levels=3,
        channels=32,
        fusion_blocks=1,
        head_convs=1,
        head_conv_channels=32,
        head_fc_channels=64,
        embed_dim=32,
        resize=(1333, 800),
    )
