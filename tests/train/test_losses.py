"""The track losses on cases computed by hand (SPEC §5.4)."""

from __future__ import annotations

import math

import pytest
import torch

from masa.train.losses import margin_l2_loss, track_logits, unbiased_contrastive_loss

E = math.e


def test_unbiased_contrastive_two_positives() -> None:
    # D = [2, 0, 1], y = [1, 0, 1], P = 2:
    # denom = (e^2 + e^1) / 2 + e^0 = (7.389056 + 2.718282) / 2 + 1 = 6.053669
    # L = -(1/2) [(2 - log denom) + (1 - log denom)] = log(6.053669) - 1.5
    #   = 1.800664 - 1.5 = 0.300664
    loss = unbiased_contrastive_loss(
        torch.tensor([[2.0, 0.0, 1.0]]), torch.tensor([[1.0, 0.0, 1.0]])
    )
    expected = math.log((E**2 + E) / 2 + 1) - 1.5
    assert expected == pytest.approx(0.300664, abs=1e-6)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # the "biased" (summed) denominator would give log(e^2 + e + 1) - 1.5 = 0.907606
    assert loss.item() < math.log(E**2 + E + 1) - 1.5


def test_unbiased_contrastive_mean_over_rows_with_a_positive() -> None:
    # row 0 as above: 0.300664
    # row 1: D = [1, 1, 0], y = [1, 0, 0]: denom = e + e + 1 = 6.436564,
    #   L = log(6.436564) - 1 = 0.861995
    # row 2: no positive -> removed; loss = (0.300664 + 0.861995) / 2 = 0.581330
    logits = torch.tensor([[2.0, 0.0, 1.0], [1.0, 1.0, 0.0], [5.0, 5.0, 5.0]])
    targets = torch.tensor([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    row1 = math.log(2 * E + 1) - 1
    assert row1 == pytest.approx(0.861995, abs=1e-6)
    expected = (math.log((E**2 + E) / 2 + 1) - 1.5 + row1) / 2
    assert expected == pytest.approx(0.581330, abs=1e-6)
    assert unbiased_contrastive_loss(logits, targets).item() == pytest.approx(expected, rel=1e-6)


def test_unbiased_contrastive_is_shift_invariant_and_zero_without_positives() -> None:
    logits = torch.tensor([[2.0, 0.0, 1.0]], requires_grad=True)
    targets = torch.tensor([[1.0, 0.0, 1.0]])
    shifted = unbiased_contrastive_loss(
        logits.detach() + 500.0, targets
    )  # exp(500) overflows; logsumexp does not
    assert shifted.item() == pytest.approx(
        unbiased_contrastive_loss(logits, targets).item(), abs=1e-4
    )
    empty = unbiased_contrastive_loss(logits, torch.zeros(1, 3))
    assert empty.item() == 0.0
    empty.backward()
    assert logits.grad is not None and (logits.grad == 0).all()


def test_margin_l2_all_kept() -> None:
    # cos = [0.9, 0.3, 0.05, 0.5], y = [1, 0, 0, 0]; 3 negatives per positive is not more than 3,
    # so all are kept.
    # positive: (0.9 - 1)^2 = 0.01; negatives, shifted by -0.1 and clamped to [0, 1]:
    # 0.2^2 = 0.04, clamp(-0.05) = 0 -> 0, 0.4^2 = 0.16;
    # mean = (0.01 + 0.04 + 0 + 0.16) / 4 = 0.0525
    loss = margin_l2_loss(
        torch.tensor([[0.9, 0.3, 0.05, 0.5]]), torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    )
    assert loss.item() == pytest.approx(0.0525, rel=1e-6)


def test_margin_l2_hard_negative_mining() -> None:
    # cos = [0.9, 0.3, 0.05, 0.5, 0.7], y = [1, 0, 0, 0, 0]: 4 negatives > 3 x 1 positive, so
    # only the 3 hardest negatives count: errors 0.6^2 = 0.36, 0.4^2 = 0.16, 0.2^2 = 0.04
    # (the 0 of 0.05 is dropped)
    # mean = (0.01 + 0.36 + 0.16 + 0.04) / 4 = 0.1425
    loss = margin_l2_loss(
        torch.tensor([[0.9, 0.3, 0.05, 0.5, 0.7]]), torch.tensor([[1.0, 0, 0, 0, 0]])
    )
    assert loss.item() == pytest.approx(0.1425, rel=1e-6)


def test_margin_l2_without_positives_keeps_nothing() -> None:
    cosine = torch.tensor([[0.5, 0.7]], requires_grad=True)
    loss = margin_l2_loss(cosine, torch.zeros(1, 2))
    assert loss.item() == 0.0
    loss.backward()
    assert cosine.grad is not None


def test_track_logits() -> None:
    key = torch.tensor([[1.0, 0.0], [3.0, 4.0]])
    ref = torch.tensor([[2.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    logits, cosine = track_logits(key, ref)
    torch.testing.assert_close(logits, torch.tensor([[2.0, 0.0, -1.0], [6.0, 4.0, -3.0]]))
    torch.testing.assert_close(cosine, torch.tensor([[1.0, 0.0, -1.0], [0.6, 0.8, -0.6]]))
