"""Image preprocessing exactly as the official MASA test pipeline (SPEC §1.3)."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor

__all__ = ["PIXEL_MEAN", "PIXEL_STD", "rescale_size", "preprocess_image"]

#: RGB mean and std of every MASA variant (SPEC §1.3 step 4).
PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)


def rescale_size(height: int, width: int, scale: tuple[int, int]) -> tuple[int, int]:
    """mmcv `imrescale` keep-ratio size: fit the long side to max(scale), the short to min(scale).

    Returns:
        (new_height, new_width), rounded half up as mmcv does.
    """
    factor = min(max(scale) / max(height, width), min(scale) / min(height, width))
    return int(height * factor + 0.5), int(width * factor + 0.5)


def preprocess_image(
    image: np.ndarray,
    *,
    scale: tuple[int, int] = (1024, 1024),
    pad_divisor: int = 32,
    device: torch.device | str = "cpu",
) -> tuple[Tensor, tuple[float, float]]:
    """Resizes (bilinear on float32), normalises and zero-pads one RGB frame.

    Args:
        image (np.ndarray[H, W, 3] uint8): RGB frame.
        scale: the keep-ratio target of mmdet `Resize(scale=...)`.
        pad_divisor: pad bottom/right to a multiple of this, after normalisation.
        device: where the returned tensor lives.

    Returns:
        (images, scale_factor): `Tensor[1, 3, Hp, Wp]` float32 and `(new_w / w, new_h / h)`,
        the factor that maps original-pixel boxes to network-input pixels.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 with shape (H, W, 3), but got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    new_h, new_w = rescale_size(height, width, scale)
    resized = cv2.resize(image.astype(np.float32), (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    # numpy, not torch: a background thread can run this without starting an OpenMP team.
    pad_h = (-new_h) % pad_divisor
    pad_w = (-new_w) % pad_divisor
    padded = np.zeros((new_h + pad_h, new_w + pad_w, 3), dtype=np.float32)  # zeros right and bottom
    mean, std = np.array(PIXEL_MEAN, np.float32), np.array(PIXEL_STD, np.float32)
    np.divide(np.subtract(resized, mean), std, out=padded[:new_h, :new_w])
    x = torch.from_numpy(padded).permute(2, 0, 1).unsqueeze(0)  # (1, 3, Hp, Wp), channels-last
    return x.to(device), (new_w / width, new_h / height)
