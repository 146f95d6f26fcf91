"""The two-view pipeline keeps each box on its instance's pixels; each step does what SPEC §5.2 says."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from masa.train.augment import (
    AugmentConfig,
    View,
    filter_small,
    hsv_jitter,
    make_two_views,
    mixup,
    pad_to,
    random_crop,
    random_flip,
    random_resize,
)

# Key instances are painted into the red channel, partner instances into the green one; blue stays 0
# so that the grey (114) borders and pads, which touch all channels, can be told apart.
KEY_VALUES = {1: 60, 2: 90, 3: 120, 4: 150, 5: 180, 6: 210}
PARTNER_VALUES = {101: 70, 102: 130, 103: 190, 104: 250}


def _painted(
    height: int, width: int, values: dict[int, int], channel: int, rng: np.random.Generator
) -> View:
    """Non-overlapping rectangles on a black image; each box covers exactly its rectangle."""
    image = np.zeros((height, width, 3), np.uint8)
    boxes, ids, taken = [], [], np.zeros((height, width), bool)
    for instance_id, value in values.items():
        for _ in range(100):
            w, h = int(rng.integers(20, width // 3)), int(rng.integers(20, height // 3))
            x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
            if not taken[max(0, y - 4) : y + h + 4, max(0, x - 4) : x + w + 4].any():
                break
        taken[y : y + h, x : x + w] = True
        image[y : y + h, x : x + w, channel] = value
        boxes.append([x, y, x + w, y + h])
        ids.append(instance_id)
    return View(image, np.array(boxes, np.float32), np.array(ids, np.int64))


def _interior(view: View, channel: int, value: int) -> np.ndarray:
    """Pixels whose 3x3 neighbourhood all have the expected value (no blend with border or pad)."""
    image = view.image.astype(np.int16)
    exact = (np.abs(image[..., channel] - value) <= 1) & (image[..., 2] == 0)
    return cv2.erode(exact.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def _check_view(view: View, with_partner: bool) -> int:
    """Asserts that each instance's visible pixels lie in its box; returns the boxes verified."""
    verified = 0
    assert len(np.unique(view.instance_id)) == len(view.instance_id), (
        "instance ids must stay unique"
    )
    expected = {k: (0, v // 2 if with_partner else v) for k, v in KEY_VALUES.items()}
    if with_partner:
        expected.update({k: (1, v // 2) for k, v in PARTNER_VALUES.items()})
    for instance_id, (channel, value) in expected.items():
        ys, xs = np.nonzero(_interior(view, channel, value))
        boxes = view.xyxy[view.instance_id == instance_id]
        if len(xs) == 0:
            continue
        assert len(boxes) == 1, f"instance {instance_id} is visible but its box was dropped"
        x1, y1, x2, y2 = boxes[0]
        assert (xs + 0.5 >= x1 - 1).all() and (xs + 0.5 <= x2 + 1).all(), (
            f"instance {instance_id}: x outside box"
        )
        assert (ys + 0.5 >= y1 - 1).all() and (ys + 0.5 <= y2 + 1).all(), (
            f"instance {instance_id}: y outside box"
        )
        verified += 1
    return verified


@pytest.mark.parametrize("with_partner", [True, False])
def test_painted_boxes_survive_the_pipeline(with_partner: bool) -> None:
    config = AugmentConfig(
        size=256, hsv_deltas=(0, 0, 0)
    )  # colour jitter would change the painted values
    verified = 0
    for seed in range(25):
        rng = np.random.default_rng(seed)
        source = _painted(240, 320, KEY_VALUES, 0, rng)
        partner = _painted(200, 300, PARTNER_VALUES, 1, rng) if with_partner else None
        for view in make_two_views(source, partner, rng, config):
            assert view.image.shape == (256, 256, 3) and view.image.dtype == np.uint8
            assert view.xyxy.dtype == np.float32 and view.instance_id.dtype == np.int64
            allowed = set(KEY_VALUES) | (set(PARTNER_VALUES) if with_partner else set())
            assert set(view.instance_id.tolist()) <= allowed
            verified += _check_view(view, with_partner)
    assert verified >= 100, f"only {verified} boxes could be checked; the test lost its power"


def test_views_are_independent_but_share_the_partner() -> None:
    rng = np.random.default_rng(0)
    source = _painted(240, 320, KEY_VALUES, 0, rng)
    partner = _painted(200, 300, PARTNER_VALUES, 1, rng)
    key, ref = make_two_views(source, partner, np.random.default_rng(1), AugmentConfig(size=256))
    assert not np.array_equal(key.image, ref.image)
    again = make_two_views(source, partner, np.random.default_rng(1), AugmentConfig(size=256))
    assert np.array_equal(again[0].image, key.image) and np.array_equal(again[1].xyxy, ref.xyxy)


def test_flip_mirrors_boxes() -> None:
    view = View(
        np.zeros((10, 20, 3), np.uint8), np.array([[2, 1, 5, 4]], np.float32), np.array([7])
    )
    flipped = random_flip(view, np.random.default_rng(0), AugmentConfig(flip_prob=1.0))
    np.testing.assert_array_equal(flipped.xyxy, [[15, 1, 18, 4]])  # x' = W - x: 20-5, 20-2


def test_crop_without_boxes_returns_none_and_pad_keeps_boxes() -> None:
    config = AugmentConfig(size=16)
    view = View(
        np.zeros((64, 64, 3), np.uint8), np.array([[0, 0, 20, 20]], np.float32), np.array([1])
    )
    results = [random_crop(view, np.random.default_rng(s), config) for s in range(40)]
    assert any(r is None for r in results) and any(r is not None for r in results)
    small = View(
        np.zeros((10, 12, 3), np.uint8), np.array([[1, 1, 5, 5]], np.float32), np.array([1])
    )
    padded = pad_to(small, config)
    assert padded.image.shape == (16, 16, 3) and (padded.image[10:, :] == 114).all()
    np.testing.assert_array_equal(padded.xyxy, small.xyxy)


def test_filter_keeps_boxes_wider_and_taller_than_one_pixel() -> None:
    xyxy = np.array([[0, 0, 2, 2], [0, 0, 1, 5], [0, 0, 5, 1.5], [0, 0, 1.01, 1.01]], np.float32)
    view = View(np.zeros((8, 8, 3), np.uint8), xyxy, np.arange(1, 5))
    assert filter_small(view, AugmentConfig()).instance_id.tolist() == [1, 3, 4]


def test_resize_scales_boxes_with_the_image() -> None:
    view = View(
        np.zeros((100, 200, 3), np.uint8), np.array([[10, 20, 50, 60]], np.float32), np.array([1])
    )
    out = random_resize(view, np.random.default_rng(0), AugmentConfig(size=100))
    sx, sy = out.image.shape[1] / 200, out.image.shape[0] / 100
    np.testing.assert_allclose(out.xyxy, [[10 * sx, 20 * sy, 50 * sx, 60 * sy]], rtol=1e-6)


def test_mixup_appends_partner_boxes_and_blends() -> None:
    config = AugmentConfig(size=64)
    view = View(
        np.full((64, 64, 3), 200, np.uint8), np.array([[0, 0, 10, 10]], np.float32), np.array([1])
    )
    partner = View(
        np.zeros((64, 64, 3), np.uint8), np.array([[5, 5, 30, 30]], np.float32), np.array([9])
    )
    out = mixup(view, partner, np.random.default_rng(3), config)
    assert out.instance_id[0] == 1 and set(out.instance_id.tolist()) <= {1, 9}
    assert set(np.unique(out.image).tolist()) <= {100, 157}  # 0.5*200 + 0.5*{0, 114}
    assert (
        mixup(
            view,
            View(partner.image, np.zeros((0, 4), np.float32), np.zeros(0, np.int64)),
            np.random.default_rng(3),
            config,
        )
        is view
    )


def test_hsv_jitter_changes_colour_only() -> None:
    image = np.random.default_rng(0).integers(0, 255, (32, 48, 3), dtype=np.uint8)
    changed = [hsv_jitter(image, np.random.default_rng(s), AugmentConfig()) for s in range(8)]
    assert all(c.shape == image.shape and c.dtype == np.uint8 for c in changed)
    assert any(not np.array_equal(c, image) for c in changed)
    same = hsv_jitter(image, np.random.default_rng(0), AugmentConfig(hsv_deltas=(0, 0, 0)))
    assert np.abs(same.astype(int) - image).max() <= 8  # only the uint8 RGB->HSV->RGB round trip
