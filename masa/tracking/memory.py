"""Tracker memories as stacked tensors: live tracks (`TrackMemory`) and BDD backdrops
(`BackdropMemory`).

Reference: siyuanliii/masa `masa/models/tracker/masa_tao_tracker.py` (`update`, `memo`), which keeps
the same state in a dict per track.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor

__all__ = ["TrackMemory", "BackdropMemory"]


@dataclass(eq=False)
class TrackMemory:
    """The live tracks, one row per track, in creation order (ascending id).

    Attributes:
        ids (Tensor[T] int64): track ids.
        embeds (Tensor[T, D] float32): momentum-averaged raw embeddings.
        xyxy (Tensor[T, 4] float32): last box, original image pixels.
        class_id (Tensor[T] int64): last class.
        confidence (Tensor[T] float32): last detection score.
        last_frame (Tensor[T] int64): 0-based frame index of the last update.
    """

    ids: Tensor
    embeds: Tensor
    xyxy: Tensor
    class_id: Tensor
    confidence: Tensor
    last_frame: Tensor

    @classmethod
    def empty(cls, device: torch.device | str = "cpu") -> TrackMemory:
        """A memory with no tracks on `device` (the embedding width is set by the first update)."""
        return cls(
            ids=torch.zeros((0,), dtype=torch.int64, device=device),
            embeds=torch.zeros((0, 0), device=device),
            xyxy=torch.zeros((0, 4), device=device),
            class_id=torch.zeros((0,), dtype=torch.int64, device=device),
            confidence=torch.zeros((0,), device=device),
            last_frame=torch.zeros((0,), dtype=torch.int64, device=device),
        )

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def update(
        self,
        ids: Tensor,
        xyxy: Tensor,
        embeds: Tensor,
        class_id: Tensor,
        confidence: Tensor,
        frame_idx: int,
        new_embed_weight: float,
    ) -> None:
        """Refreshes the tracks in `ids` that exist and appends the others in the given order.

        An existing track takes the new box, class, score and frame, and its embedding becomes
        `(1 - new_embed_weight) * old + new_embed_weight * new`.

        Args:
            ids: `Tensor[K]` int64, distinct ids (all >= 0).
            xyxy: `Tensor[K, 4]` float, boxes in original image pixels.
            embeds: `Tensor[K, D]` float, raw embeddings.
            class_id: `Tensor[K]` int64.
            confidence: `Tensor[K]` float.
            frame_idx: the current 0-based frame index.
            new_embed_weight: weight of the new embedding in [0, 1] (official `memo_momentum`).
        """
        if ids.numel() == 0:
            return
        if len(self) == 0:  # take the width and device of the first embeddings
            _copy_fields(TrackMemory.empty(embeds.device), self)
            self.embeds = embeds.new_zeros((0, embeds.shape[1]))
            new = torch.ones_like(ids, dtype=torch.bool)
        else:
            same_id = ids[:, None] == self.ids[None, :]  # (K, T)
            exists = same_id.any(dim=1)  # (K,)
            rows = same_id.to(torch.int64).argmax(dim=1)[exists]  # (K_old,)
            old_embeds = self.embeds[rows]  # (K_old, D)
            new_embeds = embeds[exists]  # (K_old, D)
            self.embeds[rows] = (1 - new_embed_weight) * old_embeds + new_embed_weight * new_embeds
            self.xyxy[rows] = xyxy[exists]
            self.class_id[rows] = class_id[exists]
            self.confidence[rows] = confidence[exists]
            self.last_frame[rows] = frame_idx
            new = ~exists
        self.ids = torch.cat([self.ids, ids[new]])
        self.embeds = torch.cat([self.embeds, embeds[new]])  # (T + K_new, D)
        self.xyxy = torch.cat([self.xyxy, xyxy[new]])
        self.class_id = torch.cat([self.class_id, class_id[new]])
        self.confidence = torch.cat([self.confidence, confidence[new]])
        self.last_frame = torch.cat(
            [self.last_frame, torch.full_like(ids[new], frame_idx, dtype=torch.int64)]
        )

    def prune(self, frame_idx: int, memory_frames: int) -> None:
        """Drops the tracks with `frame_idx - last_frame >= memory_frames`.

        Args:
            frame_idx: the current 0-based frame index.
            memory_frames: how many frames a track survives without an update.
        """
        self._keep(frame_idx - self.last_frame < memory_frames)

    def _keep(self, keep: Tensor) -> None:
        self.ids = self.ids[keep]
        self.embeds = self.embeds[keep]
        self.xyxy = self.xyxy[keep]
        self.class_id = self.class_id[keep]
        self.confidence = self.confidence[keep]
        self.last_frame = self.last_frame[keep]


@dataclass(eq=False)
class BackdropMemory:
    """Unmatched low-score detections of the last few non-empty frames, newest frame first.

    Backdrops are matching candidates that can never give an id: a detection whose best match is a
    backdrop stays unmatched.

    Attributes:
        xyxy (Tensor[B, 4] float32): boxes, original image pixels.
        embeds (Tensor[B, D] float32): raw embeddings.
        class_id (Tensor[B] int64): classes.
        age (Tensor[B] int64): how many `push` calls ago each entry was added (0 = latest).
    """

    xyxy: Tensor
    embeds: Tensor
    class_id: Tensor
    age: Tensor

    @classmethod
    def empty(cls, device: torch.device | str = "cpu") -> BackdropMemory:
        """A memory with no backdrops on `device`."""
        return cls(
            xyxy=torch.zeros((0, 4), device=device),
            embeds=torch.zeros((0, 0), device=device),
            class_id=torch.zeros((0,), dtype=torch.int64, device=device),
            age=torch.zeros((0,), dtype=torch.int64, device=device),
        )

    def __len__(self) -> int:
        return int(self.age.shape[0])

    def push(self, xyxy: Tensor, embeds: Tensor, class_id: Tensor, backdrop_frames: int) -> None:
        """Adds one frame's backdrops in front; forgets those older than `backdrop_frames` pushes.

        Args:
            xyxy: `Tensor[K, 4]` float boxes (K may be 0; the push still ages the older entries).
            embeds: `Tensor[K, D]` float raw embeddings.
            class_id: `Tensor[K]` int64.
            backdrop_frames: how many pushes (non-empty frames) an entry is kept for.
        """
        if len(self) == 0:  # take the width and device of the new embeddings
            _copy_fields(BackdropMemory.empty(embeds.device), self)
            self.embeds = embeds.new_zeros((0, embeds.shape[1]))
        self.xyxy = torch.cat([xyxy, self.xyxy])
        self.embeds = torch.cat([embeds, self.embeds])  # (K + B, D)
        self.class_id = torch.cat([class_id, self.class_id])
        self.age = torch.cat([torch.zeros_like(class_id), self.age + 1])
        keep = self.age < backdrop_frames
        self.xyxy = self.xyxy[keep]
        self.embeds = self.embeds[keep]
        self.class_id = self.class_id[keep]
        self.age = self.age[keep]


def _copy_fields(
    source: TrackMemory | BackdropMemory, target: TrackMemory | BackdropMemory
) -> None:
    for field in fields(source):
        setattr(target, field.name, getattr(source, field.name))
