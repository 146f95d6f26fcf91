"""MASA's track losses (SPEC §5.4), as pure functions of one image's key/reference embeddings.

- `unbiased_contrastive_loss`: the multi-positive contrastive loss on dot-product logits
  (no temperature), whose denominator averages the positive terms instead of summing them.
- `margin_l2_loss`: mmdet's `MarginL2Loss` on cosine similarities, with hard negative mining.

Both return the unweighted per-image loss; the training objective applies the weights
(0.25 and 1.0) and averages over the images of a batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["unbiased_contrastive_loss", "margin_l2_loss", "track_logits"]


def track_logits(key_embeds: Tensor, ref_embeds: Tensor) -> tuple[Tensor, Tensor]:
    """Dot-product logits and cosine similarities between key and reference embeddings.

    Args:
        key_embeds (Tensor[P, D]): embeddings of the key positives.
        ref_embeds (Tensor[R, D]): embeddings of all sampled reference boxes.

    Returns:
        (logits, cosine): both Tensor[P, R].
    """
    logits = key_embeds @ ref_embeds.T  # (P, D) x (D, R) -> (P, R)
    cosine = F.normalize(key_embeds, dim=1) @ F.normalize(ref_embeds, dim=1).T  # (P, R)
    return logits, cosine


def unbiased_contrastive_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Unbiased multi-positive contrastive loss (SPEC §5.4), averaged over rows with a positive.

    For row i with `P_i = sum_j y_ij > 0`:
    `denom_i = sum_j [y_ij exp(D_ij) / P_i + (1 - y_ij) exp(D_ij)]` and
    `L_i = -(1 / P_i) sum_j y_ij (D_ij - log denom_i)`; the loss is the mean of `L_i` over those
    rows (weights `w_i = 1`). Computed with `logsumexp`, which is invariant to the row maximum
    the reference subtracts.

    Args:
        logits (Tensor[P, R]): `D`, key-reference dot products.
        targets (Tensor[P, R]): `y`, 1 for matching pairs, else 0.

    Returns:
        Tensor[] float32: the loss; 0 (still attached to `logits`) when no row has a positive.
    """
    logits, targets = logits.float(), targets.float()
    num_pos = targets.sum(1)  # (P,)
    rows = num_pos > 0
    if not rows.any():
        return logits.sum() * 0.0
    logits, targets, num_pos = logits[rows], targets[rows], num_pos[rows]
    weighted = logits - targets * torch.log(num_pos)[:, None]  # positives enter as exp(D) / P_i
    log_denom = torch.logsumexp(weighted, dim=1, keepdim=True)  # (P', 1)
    per_row = -(targets * (logits - log_denom)).sum(1) / num_pos  # (P',)
    return per_row.mean()


def margin_l2_loss(
    cosine: Tensor,
    targets: Tensor,
    *,
    neg_pos_ub: int = 3,
    pos_margin: float = 0.0,
    neg_margin: float = 0.1,
    hard_mining: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """mmdet `MarginL2Loss` (SPEC §5.4): squared error of margin-shifted, clamped cosines.

    Positives become `clamp(cos - pos_margin, 0, 1)` against 1, negatives
    `clamp(cos - neg_margin, 0, 1)` against 0. When there are more than `neg_pos_ub` negatives
    per positive, only the `neg_pos_ub * #pos` negatives with the largest error are kept (hard
    mining; with no positive, no negative is kept). The loss is the mean over kept entries.

    Args:
        cosine (Tensor[P, R]): key-reference cosine similarities.
        targets (Tensor[P, R]): 1 for matching pairs, else 0.
        neg_pos_ub, pos_margin, neg_margin, hard_mining: `MarginL2Loss` settings.
        generator: randomness for picking negatives when `hard_mining` is off.

    Returns:
        Tensor[] float32: the loss; 0 (still attached) when nothing is kept.
    """
    cosine, targets = cosine.float(), targets.float()
    positive, negative = targets == 1, targets == 0
    shifted = cosine - pos_margin * positive - neg_margin * negative
    pred = shifted.clamp(0, 1)
    errors = (pred - targets) ** 2  # (P, R)
    keep = positive.clone()
    num_pos, num_neg = int(positive.sum()), int(negative.sum())
    if neg_pos_ub > 0 and num_neg / (num_pos + 1e-6) > neg_pos_ub:
        num_keep = num_pos * neg_pos_ub
        neg_inds = negative.flatten().nonzero().flatten()
        if hard_mining:
            chosen = neg_inds[errors.detach().flatten()[neg_inds].topk(num_keep).indices]
        else:
            perm = torch.randperm(neg_inds.numel(), generator=generator)[:num_keep]
            chosen = neg_inds[perm.to(neg_inds.device)]
        keep.view(-1)[chosen] = True
    else:
        keep |= negative
    if not keep.any():
        return cosine.sum() * 0.0
    return errors[keep].sum() / keep.sum()
