"""Core data types: the validated per-frame detections that flow through every stage."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:  # pragma: no cover
    import supervision as sv

__all__ = ["Detections"]


def _check(name: str, value: Tensor, ndim: int, n: int, tail: tuple[int, ...] = ()) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, but got {type(value).__name__}")
    if value.ndim != ndim or value.shape[0] != n or tuple(value.shape[1 : 1 + len(tail)]) != tail:
        expected = "(" + ", ".join([str(n), *[str(t) for t in tail]] + ["..."] * (ndim - 1 - len(tail))) + ")"
        raise ValueError(f"{name} must have shape {expected}, but got shape {tuple(value.shape)}")


@dataclass(frozen=True, eq=False)
class Detections:
    """N detections in one frame. All tensors live on one device.

    Field names match `supervision.Detections` one for one.

    Attributes:
        xyxy (Tensor[N, 4] float32): boxes `[x1, y1, x2, y2]` in absolute frame pixels.
        confidence (Tensor[N] float32): detection scores.
        class_id (Tensor[N] int64): class indices; 0 for class-agnostic detectors.
        mask (Tensor[N, H, W] bool | None): instance masks at frame resolution.
        embedding (Tensor[N, D] float32 | None): appearance embeddings, raw track-head output
            (not normalised, as the official MASA tracker expects).
        tracker_id (Tensor[N] int64 | None): track identities; -1 means not (yet) tracked.
        data (dict[str, Tensor | list]): per-detection extras, each of length N.
    """

    xyxy: Tensor
    confidence: Tensor
    class_id: Tensor
    mask: Tensor | None = None
    embedding: Tensor | None = None
    tracker_id: Tensor | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.xyxy.shape[0] if isinstance(self.xyxy, Tensor) and self.xyxy.ndim >= 1 else -1
        _check("xyxy", self.xyxy, 2, n, (4,))
        _check("confidence", self.confidence, 1, n)
        _check("class_id", self.class_id, 1, n)
        if self.mask is not None:
            _check("mask", self.mask, 3, n)
        if self.embedding is not None:
            _check("embedding", self.embedding, 2, n)
        if self.tracker_id is not None:
            _check("tracker_id", self.tracker_id, 1, n)
        for key, value in self.data.items():
            if len(value) != n:
                raise ValueError(f"data[{key!r}] must have length {n}, but got length {len(value)}")

    @classmethod
    def from_arrays(
        cls,
        xyxy: Any,
        confidence: Any | None = None,
        class_id: Any | None = None,
        **kwargs: Any,
    ) -> Detections:
        """Builds detections from array-likes (numpy, lists, tensors), casting to the canonical dtypes.

        Args:
            xyxy: boxes `(N, 4)` in pixels.
            confidence: scores `(N,)`; ones when omitted.
            class_id: class indices `(N,)`; zeros when omitted.
            **kwargs: `mask`, `embedding`, `tracker_id` (array-likes) or `data`.
        """
        boxes = torch.as_tensor(np.asarray(xyxy, dtype=np.float32) if not isinstance(xyxy, Tensor) else xyxy)
        boxes = boxes.float().reshape(-1, 4)
        n = boxes.shape[0]
        conf = torch.ones(n) if confidence is None else torch.as_tensor(confidence).float().reshape(-1)
        cls_ = (
            torch.zeros(n, dtype=torch.int64)
            if class_id is None
            else torch.as_tensor(class_id).to(torch.int64).reshape(-1)
        )
        extra: dict[str, Any] = {}
        for key, dtype in (("mask", torch.bool), ("embedding", torch.float32), ("tracker_id", torch.int64)):
            if kwargs.get(key) is not None:
                extra[key] = torch.as_tensor(kwargs[key]).to(dtype)
        return cls(boxes, conf, cls_, data=dict(kwargs.get("data") or {}), **extra)

    @classmethod
    def empty(cls, device: torch.device | str = "cpu") -> Detections:
        """Zero detections on `device`."""
        return cls(
            torch.zeros((0, 4), device=device),
            torch.zeros((0,), device=device),
            torch.zeros((0,), dtype=torch.int64, device=device),
        )

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: int | slice | Tensor | Sequence[int]) -> Detections:
        """Selects detections by int, slice, bool mask `(N,)` or indices; always returns Detections."""
        n = len(self)
        if isinstance(index, int):
            if not -n <= index < n:
                raise IndexError(f"index {index} is out of range for {n} detections")
            idx = torch.tensor([index % n])
        elif isinstance(index, slice):
            idx = torch.tensor(range(n)[index], dtype=torch.int64)
        else:
            idx = torch.as_tensor(index)
            idx = idx.nonzero().flatten() if idx.dtype == torch.bool else idx.to(torch.int64)
        take = lambda t: None if t is None else t[idx.to(t.device)]  # noqa: E731
        # Lists need host indices; compute them only then (a device sync on GPU).
        positions = idx.tolist() if any(not isinstance(v, Tensor) for v in self.data.values()) else []
        data = {
            k: (take(v) if isinstance(v, Tensor) else [v[i] for i in positions])
            for k, v in self.data.items()
        }
        return Detections(
            take(self.xyxy),
            take(self.confidence),
            take(self.class_id),
            mask=take(self.mask),
            embedding=take(self.embedding),
            tracker_id=take(self.tracker_id),
            data=data,
        )

    def replace(self, **changes: Any) -> Detections:
        """A copy with some fields replaced (validated again)."""
        return replace(self, **changes)

    def to(self, device: torch.device | str) -> Detections:
        """Moves every tensor field to `device`."""
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        data = {k: (v.to(device) if isinstance(v, Tensor) else v) for k, v in self.data.items()}
        return Detections(
            self.xyxy.to(device),
            self.confidence.to(device),
            self.class_id.to(device),
            mask=move(self.mask),
            embedding=move(self.embedding),
            tracker_id=move(self.tracker_id),
            data=data,
        )

    @classmethod
    def cat(cls, items: Sequence[Detections]) -> Detections:
        """Concatenates detections of one frame. Optional fields must be present in all or none."""
        if not items:
            return cls.empty()
        def join(name: str) -> Tensor | None:
            values = [getattr(d, name) for d in items]
            if all(v is None for v in values):
                return None
            if any(v is None for v in values):
                raise ValueError(f"cannot concatenate detections where only some have {name!r}")
            return torch.cat(values)
        keys = set(items[0].data)
        if any(set(d.data) != keys for d in items):
            raise ValueError("cannot concatenate detections with different data keys")
        data = {
            k: (torch.cat([d.data[k] for d in items]) if isinstance(items[0].data[k], Tensor)
                else [x for d in items for x in d.data[k]])
            for k in keys
        }
        return cls(
            join("xyxy"), join("confidence"), join("class_id"), mask=join("mask"),
            embedding=join("embedding"), tracker_id=join("tracker_id"), data=data,
        )

    def to_supervision(self) -> sv.Detections:
        """Converts to `supervision.Detections` (numpy, CPU). The embedding goes to `data['embedding']`."""
        import supervision as sv

        data = {k: (v.cpu().numpy() if isinstance(v, Tensor) else np.asarray(v)) for k, v in self.data.items()}
        if self.embedding is not None:
            data["embedding"] = self.embedding.detach().cpu().numpy()
        return sv.Detections(
            xyxy=self.xyxy.detach().cpu().numpy().astype(np.float32),
            confidence=self.confidence.detach().cpu().numpy().astype(np.float32),
            class_id=self.class_id.cpu().numpy().astype(int),
            mask=None if self.mask is None else self.mask.cpu().numpy(),
            tracker_id=None if self.tracker_id is None else self.tracker_id.cpu().numpy().astype(int),
            data=data,
        )

    @classmethod
    def from_supervision(cls, detections: sv.Detections) -> Detections:
        """Converts from `supervision.Detections`; missing confidence becomes 1, missing class_id 0."""
        data = dict(detections.data)
        embedding = data.pop("embedding", None)
        return cls.from_arrays(
            detections.xyxy,
            detections.confidence,
            detections.class_id,
            mask=detections.mask,
            embedding=embedding,
            tracker_id=detections.tracker_id,
            data={
                k: (torch.as_tensor(v) if isinstance(v, np.ndarray) and v.dtype.kind in "biuf" else list(v))
                for k, v in data.items()
            },
        )
