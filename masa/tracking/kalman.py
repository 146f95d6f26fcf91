"""A constant-velocity Kalman filter over boxes, vectorised over tracks (numpy).

The state of a track is `[cx, cy, w, h, vcx, vcy, vw, vh]` (centre, size and their velocities, in
pixels and pixels per reference frame); a measurement is `[cx, cy, w, h]`. Noise is proportional to
the box size, as in BoT-SORT's `KalmanFilterXYWH` (std 1/20 of the size for positions, 1/160 for
velocities), so the filter behaves the same for small and large objects.

Time is measured in *reference frames* of 1/30 s: `predict(dt)` with `dt = frames * 30 / fps`
moves a track by `dt` times its velocity and adds `dt` times the process noise, so a 7 fps video
and a 30 fps video of the same motion give the same filter.
"""

from __future__ import annotations

import numpy as np

__all__ = ["KalmanBoxFilter", "xyxy_to_cxcywh", "cxcywh_to_xyxy", "REFERENCE_FPS"]

#: Frame rate whose frame is the filter's unit of time.
REFERENCE_FPS = 30.0


def xyxy_to_cxcywh(xyxy: np.ndarray) -> np.ndarray:
    """`(N, 4)` corners -> `(N, 4)` centre and size."""
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    wh = xyxy[:, 2:] - xyxy[:, :2]
    return np.concatenate([xyxy[:, :2] + wh / 2, wh], axis=1)


def cxcywh_to_xyxy(cxcywh: np.ndarray) -> np.ndarray:
    """`(N, 4)` centre and size -> `(N, 4)` corners."""
    cxcywh = np.asarray(cxcywh, dtype=np.float64).reshape(-1, 4)
    half = cxcywh[:, 2:] / 2
    return np.concatenate([cxcywh[:, :2] - half, cxcywh[:, :2] + half], axis=1)


class KalmanBoxFilter:
    """Stateless constant-velocity filter; the caller keeps `mean (T, 8)` and `cov (T, 8, 8)`.

    Args:
        std_position: position/size noise as a fraction of the box size. Higher: trusts
            measurements more than the motion model (follows jittery boxes).
        std_velocity: velocity noise as a fraction of the box size per reference frame. Higher:
            adapts faster to turns and accelerations, predicts less far ahead with confidence.
    """

    def __init__(self, std_position: float = 1.0 / 20, std_velocity: float = 1.0 / 160) -> None:
        self.std_position = std_position
        self.std_velocity = std_velocity
        self._h = np.eye(4, 8)

    def initiate(self, measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """New tracks from `(N, 4)` `[cx, cy, w, h]` measurements: `(mean (N, 8), cov (N, 8, 8))`."""
        z = np.asarray(measurement, dtype=np.float64).reshape(-1, 4)
        mean = np.concatenate([z, np.zeros_like(z)], axis=1)
        size = np.concatenate([z[:, 2:], z[:, 2:]], axis=1)  # (N, 4): w, h, w, h
        std = np.concatenate([2 * self.std_position * size, 10 * self.std_velocity * size], axis=1)
        return mean, _diag(std**2)

    def predict(
        self, mean: np.ndarray, cov: np.ndarray, dt: np.ndarray | float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Moves every track `dt` reference frames ahead (`dt` scalar or `(T,)`; 0 changes nothing)."""
        t = mean.shape[0]
        dt = np.broadcast_to(np.asarray(dt, dtype=np.float64), (t,))
        f = np.tile(np.eye(8), (t, 1, 1))  # (T, 8, 8)
        f[:, np.arange(4), np.arange(4) + 4] = dt[:, None]
        size = np.concatenate([mean[:, 2:4], mean[:, 2:4]], axis=1)  # (T, 4)
        std = np.concatenate([self.std_position * size, self.std_velocity * size], axis=1)
        q = _diag(std**2 * dt[:, None])
        mean = np.einsum("tij,tj->ti", f, mean)
        cov = f @ cov @ f.transpose(0, 2, 1) + q
        return mean, cov

    def project(self, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Measurement-space mean `(T, 4)` and covariance `(T, 4, 4)` (with measurement noise)."""
        size = np.concatenate([mean[:, 2:4], mean[:, 2:4]], axis=1)
        r = _diag((self.std_position * size) ** 2)
        return mean[:, :4], cov[:, :4, :4] + r

    def update(
        self, mean: np.ndarray, cov: np.ndarray, measurement: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Corrects `(T, 8)`/`(T, 8, 8)` tracks with their `(T, 4)` measurements."""
        z = np.asarray(measurement, dtype=np.float64).reshape(-1, 4)
        projected, s = self.project(mean, cov)
        pht = cov[:, :, :4]  # P H^T, (T, 8, 4)
        gain = np.linalg.solve(s, pht.transpose(0, 2, 1)).transpose(
            0, 2, 1
        )  # (T, 8, 4); S symmetric
        mean = mean + np.einsum("tij,tj->ti", gain, z - projected)
        cov = cov - gain @ s @ gain.transpose(0, 2, 1)
        return mean, cov


def _diag(values: np.ndarray) -> np.ndarray:
    """`(T, K)` -> `(T, K, K)` diagonal matrices."""
    out = np.zeros((*values.shape, values.shape[-1]))
    idx = np.arange(values.shape[-1])
    out[:, idx, idx] = values
    return out
