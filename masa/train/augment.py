"""Two independently augmented views of one image, exactly as MASA's training pipeline (SPEC §5.2).

Per view, in order: random affine, mixup with a partner image shared by both views, HSV jitter,
large-scale-jitter resize, crop, horizontal flip, pad, and a minimum-size filter. Every step
carries each box's instance id along, so the two views of one instance can be matched.

Images are RGB uint8 here (the official code works on BGR; its HSV step on BGR equals cv2's
RGB->HSV on RGB, and the grey pad value 114 is the same in both orders). All randomness comes
from an explicit `numpy.random.Generator`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "AugmentConfig",
    "View",
    "random_affine",
    "mixup",
    "hsv_jitter",
    "random_resize",
    "random_crop",
    "random_flip",
    "pad_to",
    "filter_small",
    "augment_view",
    "make_two_views",
]


@dataclass(frozen=True)
class AugmentConfig:
    """Settings of the two-view pipeline; the defaults are the official ones (SPEC §5.2).

    Attributes:
        size: the square image scale of mixup, resize, crop and pad (1024 in the paper).
        max_rotate_degree, scale_range, max_shear_degree, max_translate_ratio: `SeqRandomAffine`.
        mixup_ratio_range, mixup_flip_prob: `SeqMixUp` canvas jitter and flip probability.
        hsv_deltas: `YOLOXHSVRandomAug` maximum hue, saturation and value shifts.
        resize_ratio_range: `RandomResize` ratio range (large-scale jitter).
        flip_prob: `RandomFlip` probability.
        pad_value: grey value of every border and pad.
        min_box_size: `FilterMatchAnnotations`: keep boxes wider and taller than this.
    """

    size: int = 1024
    max_rotate_degree: float = 10.0
    scale_range: tuple[float, float] = (0.5, 1.5)
    max_shear_degree: float = 2.0
    max_translate_ratio: float = 0.1
    mixup_ratio_range: tuple[float, float] = (0.8, 1.6)
    mixup_flip_prob: float = 0.5
    hsv_deltas: tuple[int, int, int] = (5, 30, 30)
    resize_ratio_range: tuple[float, float] = (0.1, 2.0)
    flip_prob: float = 0.5
    pad_value: int = 114
    min_box_size: float = 1.0


@dataclass
class View:
    """An image with instance boxes.

    Attributes:
        image (np.ndarray[H, W, 3] uint8): RGB.
        xyxy (np.ndarray[N, 4] float32): boxes in pixels; may extend past the image border.
        instance_id (np.ndarray[N] int64): the instance id of each box.
    """

    image: np.ndarray
    xyxy: np.ndarray
    instance_id: np.ndarray

    def select(self, keep: np.ndarray) -> View:
        """The same image with only the boxes where `keep` (bool `(N,)`) is true."""
        return View(self.image, self.xyxy[keep], self.instance_id[keep])


def _inside(xyxy: np.ndarray, height: int, width: int) -> np.ndarray:
    """mmdet `HorizontalBoxes.is_inside`: boxes overlapping the image at least partly, `(N,)`."""
    return (xyxy[:, 0] < width) & (xyxy[:, 1] < height) & (xyxy[:, 2] > 0) & (xyxy[:, 3] > 0)


def _clip(xyxy: np.ndarray, height: int, width: int) -> np.ndarray:
    out = xyxy.copy()
    out[:, 0::2] = out[:, 0::2].clip(0, width)
    out[:, 1::2] = out[:, 1::2].clip(0, height)
    return out


def random_affine(view: View, rng: np.random.Generator, config: AugmentConfig) -> View:
    """`SeqRandomAffine`: warp `T @ Sh @ R @ S` about the top-left origin, same output size.

    Boxes are projected, replaced by the boxes enclosing their corners, clipped to the image, and
    dropped when entirely outside.
    """
    height, width = view.image.shape[:2]
    angle = math.radians(rng.uniform(-config.max_rotate_degree, config.max_rotate_degree))
    scale = rng.uniform(*config.scale_range)
    shear_x = math.radians(rng.uniform(-config.max_shear_degree, config.max_shear_degree))
    shear_y = math.radians(rng.uniform(-config.max_shear_degree, config.max_shear_degree))
    trans_x = rng.uniform(-config.max_translate_ratio, config.max_translate_ratio) * width
    trans_y = rng.uniform(-config.max_translate_ratio, config.max_translate_ratio) * height
    cos, sin = math.cos(angle), math.sin(angle)
    rotate = np.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]])
    scaling = np.diag([scale, scale, 1.0])
    shear = np.array([[1, math.tan(shear_x), 0], [math.tan(shear_y), 1, 0], [0, 0, 1]])
    translate = np.array([[1, 0, trans_x], [0, 1, trans_y], [0, 0, 1]])
    warp = translate @ shear @ rotate @ scaling  # (3, 3)
    pad = (config.pad_value,) * 3
    image = cv2.warpPerspective(view.image, warp, (width, height), borderValue=pad)
    x1, y1, x2, y2 = view.xyxy.T
    corners = np.stack([np.stack([x1, y1], 1), np.stack([x2, y1], 1), np.stack([x1, y2], 1),
                        np.stack([x2, y2], 1)], 1)  # (N, 4, 2)
    ones = np.ones_like(corners[..., :1])
    homogeneous = np.concatenate([corners, ones], -1) @ warp.T  # (N, 4, 3) @ (3, 3) -> (N, 4, 3)
    points = homogeneous[..., :2] / homogeneous[..., 2:]
    xyxy = np.concatenate([points.min(1), points.max(1)], 1).astype(np.float32).reshape(-1, 4)
    xyxy = _clip(xyxy, height, width)
    return View(image, xyxy, view.instance_id).select(_inside(xyxy, height, width))


def mixup(view: View, partner: View, rng: np.random.Generator, config: AugmentConfig) -> View:
    """`SeqMixUp`: blend 50/50 with a jittered, flipped, randomly cropped copy of `partner`.

    The partner is fitted into a `size x size` grey canvas, the canvas is rescaled by
    U(mixup_ratio_range) and flipped with probability `mixup_flip_prob`, and a window of the
    view's size is cropped from it. Partner boxes follow (not clipped) and are appended after the
    view's boxes; boxes outside the image are dropped. A partner without boxes is not mixed in.
    """
    if len(partner.xyxy) == 0:
        return view
    size = config.size
    jitter = rng.uniform(*config.mixup_ratio_range)
    flip = rng.uniform(0, 1) > config.mixup_flip_prob
    canvas = np.full((size, size, 3), config.pad_value, np.uint8)
    scale = min(size / partner.image.shape[0], size / partner.image.shape[1])
    partner_h, partner_w = partner.image.shape[:2]
    resized = cv2.resize(partner.image, (int(partner_w * scale), int(partner_h * scale)))
    canvas[: resized.shape[0], : resized.shape[1]] = resized
    scale *= jitter
    canvas = cv2.resize(canvas, (int(canvas.shape[1] * jitter), int(canvas.shape[0] * jitter)))
    if flip:
        canvas = canvas[:, ::-1]
    origin_h, origin_w = canvas.shape[:2]
    target_h, target_w = view.image.shape[:2]
    padded_shape = (max(origin_h, target_h), max(origin_w, target_w), 3)
    padded = np.full(padded_shape, config.pad_value, np.uint8)
    padded[:origin_h, :origin_w] = canvas
    y_offset = int(rng.integers(0, padded.shape[0] - target_h + 1))
    x_offset = int(rng.integers(0, padded.shape[1] - target_w + 1))
    cropped = padded[y_offset : y_offset + target_h, x_offset : x_offset + target_w]
    boxes = partner.xyxy * np.float32(scale)
    if flip:
        x1, y1, x2, y2 = boxes.T
        boxes = np.stack([origin_w - x2, y1, origin_w - x1, y2], 1)
    boxes = boxes - np.array([x_offset, y_offset, x_offset, y_offset], np.float32)
    blend = 0.5 * view.image.astype(np.float32) + 0.5 * cropped.astype(np.float32)
    image = blend.astype(np.uint8)
    xyxy = np.concatenate([view.xyxy, boxes]).astype(np.float32)
    ids = np.concatenate([view.instance_id, partner.instance_id])
    return View(image, xyxy, ids).select(_inside(xyxy, target_h, target_w))


def hsv_jitter(image: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """`YOLOXHSVRandomAug`: shift hue (mod 180), saturation and value by random integer gains,
    each gain zeroed with probability 0.5. Returns a new RGB uint8 image."""
    gains = rng.uniform(-1, 1, 3) * np.array(config.hsv_deltas) * rng.integers(0, 2, 3)
    gains = gains.astype(np.int16)
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.int16)
    hsv[..., 0] = (hsv[..., 0] + gains[0]) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] + gains[1], 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] + gains[2], 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)


def random_resize(view: View, rng: np.random.Generator, config: AugmentConfig) -> View:
    """`RandomResize(ratio_range)`: keep-ratio fit into `(int(size * r),) * 2`, r ~ U(ratio_range);
    boxes scale along and are not clipped."""
    ratio = rng.uniform(*config.resize_ratio_range)
    target = int(config.size * ratio)
    height, width = view.image.shape[:2]
    factor = min(target / max(height, width), target / min(height, width))
    new_w, new_h = max(1, int(width * factor + 0.5)), max(1, int(height * factor + 0.5))
    image = cv2.resize(view.image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    scale = np.array([new_w / width, new_h / height] * 2, np.float32)
    return View(image, view.xyxy * scale, view.instance_id)


def random_crop(view: View, rng: np.random.Generator, config: AugmentConfig) -> View | None:
    """`RandomCrop(crop_size=(size, size), allow_negative_crop=False)`: a window of
    `min(size, side)` per side at a random offset. Boxes move along (not clipped); boxes outside
    are dropped. Returns None when no box is left (the caller draws again)."""
    height, width = view.image.shape[:2]
    crop_h, crop_w = min(config.size, height), min(config.size, width)
    y0 = int(rng.integers(0, height - crop_h + 1))
    x0 = int(rng.integers(0, width - crop_w + 1))
    xyxy = view.xyxy - np.array([x0, y0, x0, y0], np.float32)
    keep = _inside(xyxy, crop_h, crop_w)
    if not keep.any():
        return None
    return View(view.image[y0 : y0 + crop_h, x0 : x0 + crop_w], xyxy, view.instance_id).select(keep)


def random_flip(view: View, rng: np.random.Generator, config: AugmentConfig) -> View:
    """`RandomFlip(prob)`, horizontal."""
    if rng.uniform(0, 1) >= config.flip_prob:
        return view
    width = view.image.shape[1]
    x1, y1, x2, y2 = view.xyxy.T
    xyxy = np.stack([width - x2, y1, width - x1, y2], 1).astype(np.float32).reshape(-1, 4)
    return View(np.ascontiguousarray(view.image[:, ::-1]), xyxy, view.instance_id)


def pad_to(view: View, config: AugmentConfig) -> View:
    """`Pad(size=(size, size))`: grey padding on the bottom and right; boxes do not move."""
    height, width = view.image.shape[:2]
    shape = (max(height, config.size), max(width, config.size), 3)
    image = np.full(shape, config.pad_value, np.uint8)
    image[:height, :width] = view.image
    return View(image, view.xyxy, view.instance_id)


def filter_small(view: View, config: AugmentConfig) -> View:
    """`FilterMatchAnnotations(min_gt_bbox_wh)`: keep boxes wider *and* taller than the minimum.
    An empty result is kept (`keep_empty=False` means "do not reject empty samples")."""
    w = view.xyxy[:, 2] - view.xyxy[:, 0]
    h = view.xyxy[:, 3] - view.xyxy[:, 1]
    return view.select((w > config.min_box_size) & (h > config.min_box_size))


def augment_view(view: View, partner: View | None, rng: np.random.Generator,
                 config: AugmentConfig) -> View | None:
    """One pass of the view pipeline; None when the crop left no box."""
    out = random_affine(view, rng, config)
    if partner is not None:
        out = mixup(out, partner, rng, config)
    out = View(hsv_jitter(out.image, rng, config), out.xyxy, out.instance_id)
    cropped = random_crop(random_resize(out, rng, config), rng, config)
    if cropped is None:
        return None
    return filter_small(pad_to(random_flip(cropped, rng, config), config), config)


def make_two_views(
    view: View,
    partner: View | None,
    rng: np.random.Generator,
    config: AugmentConfig,
    *,
    max_tries: int = 20,
) -> tuple[View, View]:
    """Key and reference views of one image, augmented independently with the same mixup partner.

    The official pipeline re-draws the whole sample when a crop leaves no box; here only the
    failed view is re-drawn, from the same image with new random parameters.

    Args:
        view: the source image with its boxes and instance ids.
        partner: the mixup partner (another image), or None to skip mixup.
        rng: the source of randomness.
        config: pipeline settings.
        max_tries: draws per view before giving up.

    Raises:
        RuntimeError: no draw kept a box (e.g. all boxes are tiny and far from each other).
    """
    views = []
    for _ in range(2):
        for _ in range(max_tries):
            out = augment_view(view, partner, rng, config)
            if out is not None:
                views.append(out)
                break
        else:
            raise RuntimeError(f"{max_tries} random crops in a row kept no box")
    return views[0], views[1]
