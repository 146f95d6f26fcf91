"""Grounding DINO through transformers, on a tiny random model saved and loaded like a real one:
prompts and class ids, decoding, the text cache, the Swin maps MASA reads, and loading errors."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from masa.detectors.grounding_dino import (
    GroundingDinoDetector,
    build_grounding_dino_detector,
    load_grounding_dino,
    preprocess_frames,
)
from masa.detectors.prompt import decode_grounding, parse_prompt, tokenize_phrases
from masa.errors import InputError

SIZE = (320, 240)  # small network input: the tiny model then runs in tens of milliseconds


@pytest.fixture(scope="module")
def detector(tiny_gdino_dir: Path) -> GroundingDinoDetector:
    return build_grounding_dino_detector(
        prompt="car . person",
        model=tiny_gdino_dir,
        size=SIZE,
        box_threshold=0.0,
        text_threshold=0.0,
    )


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(2)]


@pytest.mark.parametrize(
    "prompt, phrases",
    [
        ("car . person", ["car", "person"]),
        ("Red  Bicycle.car.", ["red bicycle", "car"]),
        ("dog", ["dog"]),
    ],
)
def test_parse_prompt(prompt: str, phrases: list[str]) -> None:
    assert parse_prompt(prompt) == phrases


@pytest.mark.parametrize(
    "prompt, message", [(" . ", "names nothing"), ("car . Car", "'car' more than once")]
)
def test_bad_prompts(prompt: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_prompt(prompt)


def test_tokens_and_phrase_map(detector: GroundingDinoDetector) -> None:
    tokens = tokenize_phrases(detector.tokenizer, ["red bicycle", "zebra", "car"], max_text_len=32)
    car, red, bicycle = (
        detector.tokenizer.convert_tokens_to_ids(w) for w in ("car", "red", "bicycle")
    )
    assert tokens.input_ids.tolist() == [[101, red, bicycle, 1012, 100, 1012, car, 1012, 102]]
    assert tokens.phrase_token_map.tolist() == [
        [0, 1, 1, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 1, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 1, 0, 0],
    ]
    assert tokens.unknown_phrases == ("zebra",)  # reported, not silently dropped
    with pytest.raises(
        InputError, match="more than the model's 6; these phrases do not fit: 'car'"
    ):
        tokenize_phrases(detector.tokenizer, ["red bicycle", "car"], max_text_len=6)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_decode_grounding_by_hand() -> None:
    # Tokens: [CLS] car . red bicycle . [SEP]; phrase 0 = {1}, phrase 1 = {3, 4}.
    token_map = torch.tensor([[0, 1, 0, 0, 0, 0, 0], [0, 0, 0, 1, 1, 0, 0]], dtype=torch.float32)
    probs = torch.full((1, 4, 9), 0.01)
    probs[0, 0, 1] = 0.9  # car
    probs[0, 1, 3], probs[0, 1, 4] = 0.6, 0.2  # red bicycle: mean 0.4
    probs[0, 2, 3], probs[0, 2, 4] = (
        0.4,
        0.02,
    )  # box score 0.4, but phrase mean 0.21 < text threshold
    probs[0, 3, 2] = 0.99  # only "." scores: not a phrase match
    logits = probs.apply_(_logit)
    boxes = torch.tensor(
        [[[0.5, 0.5, 0.2, 0.4], [0.1, 0.9, 0.4, 0.4], [0.5, 0.5, 0.1, 0.1], [0.5, 0.5, 0.1, 0.1]]]
    )
    kwargs = {"box_threshold": 0.35, "text_threshold": 0.25}
    (dets,) = decode_grounding(logits, boxes, token_map, [(100, 200)], max_detections=10, **kwargs)
    assert dets.class_id.tolist() == [0, 1]
    assert dets.confidence.tolist() == pytest.approx([0.9, 0.6])
    torch.testing.assert_close(
        dets.xyxy, torch.tensor([[80.0, 30.0, 120.0, 70.0], [0.0, 70.0, 60.0, 100.0]])
    )
    (best,) = decode_grounding(logits, boxes, token_map, [(100, 200)], max_detections=1, **kwargs)
    assert best.class_id.tolist() == [0]


def _swin_stages_by_hand(swin, pixel_values: torch.Tensor) -> list[torch.Tensor]:
    """mmdet SwinTransformer(out_indices=(1, 2, 3)) semantics: stage i's blocks, then its output
    norm, before patch merging; recomputed block by block."""
    hidden, dims = swin.swin.embeddings(pixel_values)
    outs = []
    for i, stage in enumerate(swin.swin.encoder.layers):
        for block in stage.blocks:
            hidden = block(hidden, dims, always_partition=True)[0]
        if i in (1, 2, 3):
            normed = swin.hidden_states_norms[f"stage{i + 1}"](hidden)  # mmdet norm{i}
            outs.append(normed.view(hidden.shape[0], *dims, -1).permute(0, 3, 1, 2))  # (B, C, H, W)
        if stage.downsample is not None:
            hidden = stage.downsample(hidden, dims)
            dims = ((dims[0] + 1) // 2, (dims[1] + 1) // 2)
    return outs


def test_features_are_swin_stages_1_to_3_after_their_norms(
    detector: GroundingDinoDetector, frames
) -> None:
    batch = detector.detect_with_features(frames)
    pixel_values, _, scales = preprocess_frames(frames, size=SIZE)
    assert (
        pixel_values.shape[-2:] == (256, 320) and scales == [(2.0, 2.0)] * 2
    )  # 240x320, padded to 32
    with torch.inference_mode():
        expected = _swin_stages_by_hand(
            detector.model.model.backbone.conv_encoder.model, pixel_values
        )
    assert detector.feature_strides == (8, 16, 32) and detector.feature_channels == (16, 32, 64)
    assert [tuple(f.shape) for f in batch.features] == [
        (2, 16, 32, 40),
        (2, 32, 16, 20),
        (2, 64, 8, 10),
    ]
    for actual, wanted in zip(batch.features, expected):
        torch.testing.assert_close(actual, wanted, rtol=1e-4, atol=1e-5)
    assert batch.scale_factors == scales


def test_text_features_computed_once_per_prompt(tiny_gdino_dir: Path, frames) -> None:
    from transformers import GroundingDinoForObjectDetection

    det = build_grounding_dino_detector(prompt="car . person", model=tiny_gdino_dir, size=SIZE)
    encoder = det.text_encoder
    pixel_values, pixel_mask, _ = preprocess_frames(frames, size=SIZE)
    text = {
        k: getattr(det.tokens, k).expand(2, -1)
        for k in ("input_ids", "attention_mask", "token_type_ids")
    }
    with torch.inference_mode():
        cached = det.model(pixel_values=pixel_values, pixel_mask=pixel_mask, **text).logits
        plain = GroundingDinoForObjectDetection.from_pretrained(tiny_gdino_dir).eval()
        reference = plain(pixel_values=pixel_values, pixel_mask=pixel_mask, **text).logits
    # One row encoded and expanded gives what encoding every row gives.
    torch.testing.assert_close(cached, reference)
    det(frames)
    det(frames[:1])
    assert encoder.num_encodes == 1
    det.set_prompt("person")
    det(frames[:1])
    det.set_prompt("car . person")  # back to the first prompt: encoded again, never a stale cache
    det(frames[:1])
    assert encoder.num_encodes == 3 and det.class_names == {0: "car", 1: "person"}


def test_batches_equal_single_frames(detector: GroundingDinoDetector, frames) -> None:
    together = detector(frames)
    alone = [detector([frame])[0] for frame in frames]
    for a, b in zip(together, alone):
        assert len(a) == len(b) == 30  # thresholds 0: every query of the tiny model
        torch.testing.assert_close(a.xyxy, b.xyxy, rtol=1e-4, atol=1e-3)
        torch.testing.assert_close(a.confidence, b.confidence, rtol=1e-4, atol=1e-5)
        assert a.class_id.tolist() == b.class_id.tolist()
        assert bool((a.xyxy[:, 2:] <= torch.tensor([160.0, 120.0])).all())


def test_unmatched_phrases_are_reported(detector: GroundingDinoDetector, frames) -> None:
    detector.set_prompt(detector.prompt)  # counts start again
    detector.box_threshold = 1.0
    try:
        detector(frames[:1])
        assert detector.unmatched_phrases() == ["car", "person"]
    finally:
        detector.box_threshold = 0.0
    detector(frames[:1])
    assert detector.unmatched_phrases() == [] and sum(detector.detections_per_class.values()) == 30


def test_uncached_hub_model_fails_fast_offline(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(
        InputError,
        match=r"not in the Hugging Face cache .* `hf download IDEA-Research/grounding-dino-tiny`",
    ):
        load_grounding_dino("IDEA-Research/grounding-dino-tiny")
    assert time.perf_counter() - start < 5
    with pytest.raises(FileNotFoundError, match="expected a model folder"):
        load_grounding_dino("./no/such/folder")


def test_missing_transformers_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ImportError, match=r"pip install 'masa-track\[gdino\]'"):
        load_grounding_dino("IDEA-Research/grounding-dino-tiny")
