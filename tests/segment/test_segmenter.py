"""The whole segment-and-track path on a tiny random SAM-MASA: one encoder pass per frame, masks at
frame resolution that line up with their boxes, the three box sources, and identities."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from masa.io.video import Frame
from masa.pipeline import track_frames
from masa.segment import (
    AutomaticMasks,
    DetectorBoxes,
    HeadProposals,
    ProposalSettings,
    SamMasaSegmenter,
    masks_to_xyxy,
)
from masa.structures import Detections
from masa.tracking import build_tao_tracker_test

HEIGHT, WIDTH = 90, 160


def _frame(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)


@pytest.fixture()
def encoder_calls(tiny_model):
    calls = []
    handle = tiny_model.sam.image_encoder.register_forward_hook(lambda *args: calls.append(1))
    yield calls
    handle.remove()


def test_head_proposals_give_masks_and_reuse_the_encoder_pass(tiny_model, encoder_calls) -> None:
    settings = ProposalSettings(score_threshold=0.0, max_detections=5)
    segmenter = SamMasaSegmenter(tiny_model, HeadProposals(settings))
    image = _frame(0)
    detections = segmenter(0, image)
    embeddings = segmenter.embed(image, detections.xyxy)
    assert len(encoder_calls) == 1  # detect + embed on the same frame: SAM's encoder ran once
    assert len(detections) == 5 and detections.mask.shape == (5, HEIGHT, WIDTH)
    assert detections.mask.dtype == torch.bool
    assert embeddings.shape == (5, 32) and torch.isfinite(embeddings).all()
    assert torch.all(detections.xyxy[:, 2] <= WIDTH) and torch.all(detections.xyxy[:, 3] <= HEIGHT)
    overlap = detections.mask.int().sum(0)  # (H, W)
    assert overlap.max() <= 1  # overlaps removed by default
    segmenter.embed(_frame(1), detections.xyxy)  # another frame: encoded anew
    assert len(encoder_calls) == 2


def _box_decoder(monkeypatch: pytest.MonkeyPatch, sam: torch.nn.Module) -> None:
    """Stubs SAM's prompt encoder and mask decoder: each mask is its box prompt, drawn on the
    low-resolution (4 x token grid) canvas in encoder-input coordinates."""
    side = sam.image_encoder.img_size // 4
    real_encoder = sam.prompt_encoder.forward

    def prompt_encoder(points, boxes, masks):
        sparse, dense = real_encoder(points=points, boxes=boxes, masks=masks)
        return boxes.reshape(-1, 2, 2), dense  # pass the boxes through as "embeddings"

    def mask_decoder(image_embeddings, image_pe, sparse_prompt_embeddings, dense_prompt_embeddings,
                     multimask_output):
        boxes = sparse_prompt_embeddings.reshape(-1, 4) / 4  # input pixels -> low-res pixels
        centres = torch.arange(side, dtype=torch.float32) + 0.5
        inside_x = (centres[None] > boxes[:, 0:1]) & (centres[None] < boxes[:, 2:3])  # (n, side)
        inside_y = (centres[None] > boxes[:, 1:2]) & (centres[None] < boxes[:, 3:4])
        inside = inside_y[:, :, None] & inside_x[:, None, :]  # (n, side, side)
        return torch.where(inside, 10.0, -10.0)[:, None], torch.ones(len(boxes), 1)

    monkeypatch.setattr(sam.prompt_encoder, "forward", prompt_encoder)
    monkeypatch.setattr(sam.mask_decoder, "forward", mask_decoder)


def test_masks_line_up_with_their_boxes(tiny_model, monkeypatch: pytest.MonkeyPatch) -> None:
    _box_decoder(monkeypatch, tiny_model.sam)
    boxes = torch.tensor([[10.0, 5.0, 60.0, 45.0], [100.0, 30.0, 150.0, 85.0], [0.0, 0.0, 160.0, 90.0]])
    given = Detections(boxes, torch.tensor([0.9, 0.8, 0.1]), torch.zeros(3, dtype=torch.int64))
    detector = lambda images: [given for _ in images]  # noqa: E731 - a batch detector (masa.detectors)
    segmenter = SamMasaSegmenter(tiny_model, DetectorBoxes.from_detector(detector), remove_overlaps=False)
    detections = segmenter(0, _frame(0))
    assert torch.equal(detections.xyxy, boxes)
    # One low-resolution pixel is 4 input pixels = 4 / (256 / 160) = 2.5 frame pixels.
    torch.testing.assert_close(masks_to_xyxy(detections.mask), boxes, atol=2.5, rtol=0)


def test_automatic_masks_run_the_encoder_once(tiny_model, encoder_calls) -> None:
    source = AutomaticMasks(points_per_side=3, pred_iou_threshold=0.0, stability_score_threshold=0.0,
                            max_masks=4)
    segmenter = SamMasaSegmenter(tiny_model, source)
    image = _frame(2)
    detections = segmenter(0, image)
    embeddings = segmenter.embed(image, detections.xyxy)
    assert len(encoder_calls) == 1
    assert 1 <= len(detections) <= 4 and detections.mask.shape[1:] == (HEIGHT, WIDTH)
    assert torch.all(detections.confidence[:-1] >= detections.confidence[1:])
    assert embeddings.shape == (len(detections), 32)


def test_tracking_carries_masks_and_ids(tiny_model) -> None:
    """A fixed box on 3 frames: one identity, and its mask every frame."""
    box = Detections(torch.tensor([[40.0, 20.0, 120.0, 80.0]]), torch.tensor([0.9]),
                     torch.zeros(1, dtype=torch.int64))
    segmenter = SamMasaSegmenter(tiny_model, DetectorBoxes(lambda i, image: box))
    image = _frame(3)
    frames = [Frame(i, image.copy()) for i in range(3)]
    results = list(track_frames(frames, segmenter, segmenter, build_tao_tracker_test()))
    assert [r.detections.tracker_id.tolist() for r in results] == [[0], [0], [0]]
    assert all(r.detections.mask.shape == (1, HEIGHT, WIDTH) for r in results)


def test_head_mode_without_a_head_is_an_error(tiny_model) -> None:
    headless = SimpleNamespace(**{k: getattr(tiny_model, k) for k in ("encode", "device")}, proposer=None)
    headless.propose = type(tiny_model).propose.__get__(headless)
    with pytest.raises(RuntimeError, match="no detection head"):
        HeadProposals().detect(headless, 0, _frame(0))
