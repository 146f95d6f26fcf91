"""The Kalman filter against hand-computed values (noise as fractions of the box size)."""

from __future__ import annotations

import numpy as np
import pytest

from masa.tracking.kalman import KalmanBoxFilter, cxcywh_to_xyxy, xyxy_to_cxcywh


def test_initiate_predict_update_by_hand():
    kf = KalmanBoxFilter()  # std 1/20 of the size for positions, 1/160 for velocities
    mean, cov = kf.initiate(np.array([[10.0, 20.0, 4.0, 8.0]]))
    assert mean.tolist() == [[10, 20, 4, 8, 0, 0, 0, 0]]
    # initial std: 2/20 of the size for positions, 10/160 for velocities
    assert np.allclose(np.diag(cov[0]), [0.16, 0.64, 0.16, 0.64, 0.0625, 0.25, 0.0625, 0.25])

    mean, cov = kf.predict(mean, cov, 1.0)
    # position variance: P_pos + P_vel + Q_pos (Q_pos = (4/20)^2 = 0.04 for cx)
    assert cov[0, 0, 0] == pytest.approx(0.16 + 0.0625 + 0.04)
    assert cov[0, 0, 4] == pytest.approx(0.0625)
    assert cov[0, 4, 4] == pytest.approx(0.0625 + (4 / 160) ** 2)

    mean, cov = kf.update(mean, cov, np.array([[12.0, 20.0, 4.0, 8.0]]))
    s = 0.2625 + (4 / 20) ** 2  # innovation variance of cx, R = (w/20)^2
    assert mean[0, 0] == pytest.approx(10 + 2 * 0.2625 / s)
    assert mean[0, 4] == pytest.approx(2 * 0.0625 / s)
    assert mean[0, 1] == pytest.approx(20)  # the other coordinates saw no innovation


def test_predict_moves_by_velocity_times_dt_and_is_vectorised():
    kf = KalmanBoxFilter()
    mean, cov = kf.initiate(np.array([[0.0, 0.0, 10.0, 10.0], [100.0, 50.0, 20.0, 40.0]]))
    mean[:, 4] = [2.0, -1.0]
    moved, _ = kf.predict(mean, cov, np.array([2.0, 3.0]))
    assert moved[:, 0].tolist() == [4.0, 97.0]
    unchanged, same_cov = kf.predict(mean, cov, 0.0)
    assert np.array_equal(unchanged, mean) and np.allclose(same_cov, cov)


def test_box_conversions_round_trip():
    boxes = np.array([[1.0, 2.0, 11.0, 22.0]])
    assert xyxy_to_cxcywh(boxes).tolist() == [[6, 12, 10, 20]]
    assert np.allclose(cxcywh_to_xyxy(xyxy_to_cxcywh(boxes)), boxes)
