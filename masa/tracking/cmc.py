"""Camera motion compensation: the frame-to-frame affine motion of the background, from sparse
optical flow (OpenCV), applied to the Kalman states before matching (as BoT-SORT's CMC)."""

from __future__ import annotations

import numpy as np

__all__ = ["CameraMotion", "warp_states"]


def warp_states(
    mean: np.ndarray, cov: np.ndarray, affine: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Applies a `(2, 3)` affine to `(T, 8)` `[cx, cy, w, h, v...]` states and their covariances:
    centres are moved, centre velocities rotated and scaled (sizes are left alone)."""
    if len(mean) == 0:
        return mean, cov
    rotation, translation = affine[:, :2], affine[:, 2]
    mean = mean.copy()
    mean[:, 0:2] = mean[:, 0:2] @ rotation.T + translation
    mean[:, 4:6] = mean[:, 4:6] @ rotation.T
    block = np.eye(8)
    block[0:2, 0:2] = rotation
    block[4:6, 4:6] = rotation
    cov = block @ cov @ block.T
    return mean, cov


class CameraMotion:
    """Estimates the camera's motion between consecutive frames.

    Args:
        max_corners: Shi-Tomasi corners tracked per frame. More: steadier estimate, slower.
        downscale: frames are shrunk by this factor first (speed; the affine is rescaled).
    """

    def __init__(self, max_corners: int = 500, downscale: int = 2) -> None:
        self.max_corners = max_corners
        self.downscale = downscale
        self._previous: np.ndarray | None = None
        self._points: np.ndarray | None = None

    def estimate(self, image: np.ndarray) -> np.ndarray:
        """The `(2, 3)` affine from the previous frame to this one (identity on the first frame or
        when too few points are tracked)."""
        import cv2

        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if self.downscale > 1:
            gray = cv2.resize(
                gray, (gray.shape[1] // self.downscale, gray.shape[0] // self.downscale)
            )
        affine = np.eye(2, 3)
        if self._previous is not None and self._points is not None and len(self._points) >= 8:
            moved, status, _ = cv2.calcOpticalFlowPyrLK(self._previous, gray, self._points, None)
            ok = status.ravel() == 1
            if ok.sum() >= 8:
                estimate, _ = cv2.estimateAffinePartial2D(
                    self._points[ok], moved[ok], method=cv2.RANSAC
                )
                if estimate is not None:
                    affine = estimate
                    affine[:, 2] *= self.downscale
        self._previous = gray
        self._points = cv2.goodFeaturesToTrack(gray, self.max_corners, 0.01, 1, blockSize=3)
        return affine

    def apply(
        self, image: np.ndarray, mean: np.ndarray, cov: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Estimates this frame's camera motion and warps the states with it."""
        return warp_states(mean, cov, self.estimate(image))
