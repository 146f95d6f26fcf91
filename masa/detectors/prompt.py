"""Text prompts for Grounding DINO: phrases -> token ids, cached text features, phrase scores.

A prompt is phrases separated by ".", as in Grounding DINO: `"car . person . red bicycle"`. Each
phrase becomes one class (ids 0, 1, ... in prompt order) named by the phrase. The caption fed to
the model is `[CLS] car . person . red bicycle . [SEP]`, built from each phrase's own tokens, so the
tokens of every phrase are known exactly with any tokenizer (slow or fast).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from masa.errors import InputError
from masa.structures import Detections

__all__ = [
    "PromptCachedTextEncoder",
    "PromptTokens",
    "decode_grounding",
    "parse_prompt",
    "tokenize_phrases",
]


def parse_prompt(prompt: str) -> list[str]:
    """Splits `"car . person"` into `["car", "person"]` (lower-cased, whitespace collapsed).

    Raises:
        InputError: no phrase at all, or a phrase given twice.
    """
    phrases = [" ".join(part.lower().split()) for part in prompt.split(".")]
    phrases = [p for p in phrases if p]
    if not phrases:
        raise InputError(
            f"--prompt {prompt!r} names nothing; separate phrases with '.', e.g. 'car . person'"
        )
    repeated = sorted({p for p in phrases if phrases.count(p) > 1})
    if repeated:
        raise InputError(f"--prompt names {', '.join(map(repr, repeated))} more than once")
    return phrases


@dataclass(frozen=True)
class PromptTokens:
    """A tokenized prompt.

    Attributes:
        phrases: the K phrases, in prompt order (class id = position).
        input_ids (Tensor[1, T] int64): `[CLS] p1 . p2 . ... [SEP]`.
        attention_mask (Tensor[1, T] int64): ones.
        token_type_ids (Tensor[1, T] int64): zeros.
        phrase_token_map (Tensor[K, T] float32): 1 where token t belongs to phrase k.
        unknown_phrases: phrases made only of the tokenizer's unknown token.
    """

    phrases: tuple[str, ...]
    input_ids: Tensor
    attention_mask: Tensor
    token_type_ids: Tensor
    phrase_token_map: Tensor
    unknown_phrases: tuple[str, ...] = ()


def tokenize_phrases(tokenizer: Any, phrases: list[str], *, max_text_len: int) -> PromptTokens:
    """Builds the caption's token ids phrase by phrase.

    Args:
        tokenizer: a BERT tokenizer (`cls_token_id`, `sep_token_id`, `unk_token_id`, `__call__`,
            `convert_tokens_to_ids`).
        phrases: from `parse_prompt`.
        max_text_len: the model's text length (`config.max_text_len`, 256 for the real models).

    Raises:
        InputError: the caption does not fit in `max_text_len` tokens (the message names the
            phrases cut).
    """
    dot_id = tokenizer.convert_tokens_to_ids(".")
    ids: list[int] = [tokenizer.cls_token_id]
    spans: list[tuple[int, int]] = []
    unknown = []
    for phrase in phrases:
        tokens = tokenizer(phrase, add_special_tokens=False)["input_ids"]
        if tokens and all(t == tokenizer.unk_token_id for t in tokens):
            unknown.append(phrase)
        spans.append((len(ids), len(ids) + len(tokens)))
        ids += [*tokens, dot_id]
    ids.append(tokenizer.sep_token_id)
    if len(ids) > max_text_len:
        cut = [
            p for p, (_, end) in zip(phrases, spans) if end + 2 > max_text_len
        ]  # its "." and [SEP]
        raise InputError(
            f"--prompt is {len(ids)} tokens long, more than the model's {max_text_len}; "
            f"these phrases do not fit: {', '.join(map(repr, cut))}"
        )
    phrase_token_map = torch.zeros(len(phrases), len(ids))
    for k, (start, end) in enumerate(spans):
        phrase_token_map[k, start:end] = 1.0
    input_ids = torch.tensor([ids], dtype=torch.int64)
    return PromptTokens(
        tuple(phrases),
        input_ids,
        torch.ones_like(input_ids),
        torch.zeros_like(input_ids),
        phrase_token_map,
        tuple(unknown),
    )


class PromptCachedTextEncoder(nn.Module):
    """Wraps Grounding DINO's text backbone so that BERT runs once per prompt, not per frame.

    The cache key is the full token sequence (ids and types) and its device, so a changed prompt is
    always re-encoded (unlike the official MASA cache, which keeps the first prompt's features for
    ever; SPEC §7.12). A batch of identical rows is encoded as one row and expanded.

    Args:
        text_backbone: the model's BERT (`GroundingDinoModel.text_backbone`).
    """

    def __init__(self, text_backbone: nn.Module) -> None:
        super().__init__()
        self.inner = text_backbone
        self._key: tuple[Tensor, Tensor] | None = None
        self._hidden: Tensor | None = None
        self.num_encodes = 0

    def reset(self) -> None:
        """Forgets the cached prompt."""
        self._key, self._hidden = None, None

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
        return_dict: bool | None = True,
        **kwargs: Any,
    ) -> Any:
        from transformers.modeling_outputs import BaseModelOutput

        batch = input_ids.shape[0]
        types = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
        if not bool((input_ids == input_ids[:1]).all()) or not bool((types == types[:1]).all()):
            return self.inner(
                input_ids,
                attention_mask,
                token_type_ids,
                position_ids,
                return_dict=return_dict,
                **kwargs,
            )
        key = (input_ids[0], types[0])
        if self._key is None or not all(
            a.shape == b.shape and a.device == b.device and torch.equal(a, b)
            for a, b in zip(key, self._key)
        ):
            first = lambda t: None if t is None else t[:1]  # noqa: E731
            out = self.inner(
                input_ids[:1],
                first(attention_mask),
                first(token_type_ids),
                first(position_ids),
                return_dict=True,
            )
            self._key, self._hidden = (key[0].clone(), key[1].clone()), out.last_hidden_state
            self.num_encodes += 1
        hidden = self._hidden.expand(batch, -1, -1)  # (B, T, C)
        return (
            BaseModelOutput(last_hidden_state=hidden)
            if return_dict or return_dict is None
            else (hidden,)
        )


def decode_grounding(
    logits: Tensor,
    pred_boxes: Tensor,
    phrase_token_map: Tensor,
    image_sizes: list[tuple[int, int]],
    *,
    box_threshold: float,
    text_threshold: float,
    max_detections: int,
) -> list[Detections]:
    """Turns Grounding DINO's query outputs into per-frame detections with phrase class ids.

    A query's score is its highest token probability over the prompt's phrase tokens (Grounding
    DINO's box score, without the `[CLS]`, `.` and `[SEP]` tokens). Its class is the phrase with the
    highest mean token probability (mmdet's normalised positive map, which the official MASA demo
    uses), and that mean must exceed `text_threshold`.

    Args:
        logits (Tensor[B, Q, T'] float): token logits; T' >= T (padded with -inf).
        pred_boxes (Tensor[B, Q, 4] float): cxcywh normalised to each frame's (unpadded) extent.
        phrase_token_map (Tensor[K, T] float32): from `PromptTokens`.
        image_sizes: (height, width) of each original frame.
        box_threshold: keep queries whose score is above this.
        text_threshold: keep queries whose phrase's mean token probability is above this.
        max_detections: keep at most this many per frame, best first.

    Returns:
        B `Detections` (on the logits' device), `xyxy` in frame pixels, `class_id` = phrase index.
    """
    from torchvision.ops import box_convert

    token_map = phrase_token_map.to(logits.device)  # (K, T)
    probs = logits[..., : token_map.shape[1]].float().sigmoid()  # (B, Q, T)
    phrase_scores = probs @ (token_map / token_map.sum(1, keepdim=True).clamp(min=1)).T  # (B, Q, K)
    in_phrase = token_map.sum(0) > 0  # (T,)
    box_scores = probs[..., in_phrase].max(-1).values  # (B, Q)
    class_scores, class_ids = phrase_scores.max(-1)  # (B, Q)
    results = []
    for b, (height, width) in enumerate(image_sizes):
        keep = (box_scores[b] > box_threshold) & (class_scores[b] > text_threshold)
        scores = box_scores[b][keep]
        order = scores.argsort(descending=True)[:max_detections]
        scale = torch.tensor(
            [width, height, width, height], dtype=torch.float32, device=logits.device
        )
        xyxy = box_convert(pred_boxes[b][keep][order].float(), "cxcywh", "xyxy") * scale  # (N, 4)
        xyxy[:, 0::2] = xyxy[:, 0::2].clamp(0, width)
        xyxy[:, 1::2] = xyxy[:, 1::2].clamp(0, height)
        results.append(Detections(xyxy, scores[order], class_ids[b][keep][order]))
    return results
