"""How much to trust appearance in this scene: an online calibration of embedding similarities.

Cosine similarities mean different things for different embeddings (masa-lite, MASA-R50, raw
ImageNet features) and scenes (a crowd in identical uniforms, or a dog and a person). Instead of a
fixed threshold, the tracker measures, as it runs, the similarity of pairs it is sure about:

- *same* pairs: a detection and the track it matched by an unambiguous overlap (IoU >= 0.5 with one
  track only);
- *different* pairs: a detection and the other live tracks at that moment (they cannot be the same
  object: one object is one detection).

`normalise` maps a cosine similarity onto that scale (0 = typical different pair, 1 = typical same
pair), and `reliability` is the separation of the two distributions (a d-prime), which sets how
much weight appearance gets. Priors apply until pairs are seen.
"""

from __future__ import annotations

import numpy as np

__all__ = ["AppearanceCalibration", "unit_rows"]


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


class AppearanceCalibration:
    """Running mean and variance of same-object and different-object cosine similarities.

    Args:
        momentum: weight of the past in the running statistics per update (per frame). Closer to 1:
            steadier, slower to adapt when the scene changes.
        min_pairs: weight of the priors, in pairs: after a few times this many pairs of a kind the
            measured statistics dominate.
        prior_same, prior_different: cosine similarity of same / different pairs assumed until
            measured; the defaults say "appearance separates objects moderately".
    """

    def __init__(
        self,
        momentum: float = 0.95,
        min_pairs: int = 20,
        prior_same: float = 0.9,
        prior_different: float = 0.6,
        prior_std: float = 0.1,
    ) -> None:
        self.momentum = momentum
        self.min_pairs = min_pairs
        self.mean = {"same": prior_same, "different": prior_different}
        self.var = {"same": prior_std**2, "different": prior_std**2}
        self.count = {"same": 0, "different": 0}

    def observe(self, kind: str, similarities: np.ndarray) -> None:
        """Adds one frame's similarities of one kind ("same" or "different")."""
        values = np.asarray(similarities, dtype=np.float64).ravel()
        if values.size == 0:
            return
        seen = self.min_pairs + self.count[kind]  # the prior counts as `min_pairs` pairs
        m = min(self.momentum, seen / (seen + values.size))
        self.mean[kind] = m * self.mean[kind] + (1 - m) * float(values.mean())
        self.var[kind] = m * self.var[kind] + (1 - m) * float(
            ((values - self.mean[kind]) ** 2).mean()
        )
        self.count[kind] += values.size

    def normalise(self, similarity: np.ndarray) -> np.ndarray:
        """Cosine similarity -> 0 (a typical different pair) .. 1 (a typical same pair), clipped."""
        low, high = self.mean["different"], self.mean["same"]
        return np.clip((np.asarray(similarity) - low) / max(high - low, 1e-3), 0.0, 1.0)

    @property
    def reliability(self) -> float:
        """d' = (mean_same - mean_different) / pooled std: how well appearance separates objects."""
        spread = np.sqrt((self.var["same"] + self.var["different"]) / 2)
        return float((self.mean["same"] - self.mean["different"]) / max(spread, 1e-6))
