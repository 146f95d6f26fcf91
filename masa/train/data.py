"""Training data: pairs of augmented views of random images, and their batching (SPEC §5.2).

As in the official `RandomSampleConcatDataset`, every sample is a uniformly random image (drawn
with replacement), so an "epoch" is a number of draws, not a pass over the images. Here the draw is
a pure function of `(seed, sample_index)`: a run, a resumed run and every DDP rank agree on which
images and which augmentations each step sees, with no sampler state to save.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from masa.errors import InputError
from masa.train.augment import AugmentConfig, View, make_two_views
from masa.train.proposals import ImageProposals, ProposalSet, read_image

__all__ = ["DataError", "PairSample", "PairBatch", "TwoViewDataset", "SampleIndexSampler",
           "collate_pairs"]


class DataError(InputError):
    """A training image that cannot be used (unreadable, or not the size its proposals say)."""


@dataclass
class PairSample:
    """Two views of one image.

    Attributes:
        key, ref: the views (`View`: RGB uint8 image `(S, S, 3)`, boxes, instance ids).
        path: the source image, for error messages.
    """

    key: View
    ref: View
    path: str


@dataclass
class PairBatch:
    """A batch of B view pairs.

    Attributes:
        key_images, ref_images (Tensor[B, 3, S, S] uint8): RGB views.
        key_xyxy, ref_xyxy: B tensors `(N_b, 4)` float32, boxes in view pixels.
        key_ids, ref_ids: B tensors `(N_b,)` int64, instance ids.
        paths: the B source images.
    """

    key_images: Tensor
    ref_images: Tensor
    key_xyxy: list[Tensor]
    key_ids: list[Tensor]
    ref_xyxy: list[Tensor]
    ref_ids: list[Tensor]
    paths: list[str]

    def to(self, device: torch.device | str) -> PairBatch:
        """The batch on `device` (non-blocking copies)."""
        def move(items: list[Tensor]) -> list[Tensor]:
            return [t.to(device, non_blocking=True) for t in items]

        return PairBatch(
            self.key_images.to(device, non_blocking=True),
            self.ref_images.to(device, non_blocking=True),
            move(self.key_xyxy), move(self.key_ids), move(self.ref_xyxy), move(self.ref_ids),
            self.paths,
        )

    def pin_memory(self) -> PairBatch:
        """The batch in page-locked memory (called by the DataLoader with `pin_memory=True`)."""
        def pin(items: list[Tensor]) -> list[Tensor]:
            return [t.pin_memory() for t in items]

        return PairBatch(self.key_images.pin_memory(), self.ref_images.pin_memory(),
                         pin(self.key_xyxy), pin(self.key_ids), pin(self.ref_xyxy),
                         pin(self.ref_ids), self.paths)


class TwoViewDataset(Dataset):
    """Sample i = two augmented views of a random image, mixed up with a random partner.

    Args:
        proposals: the validated proposals of the training images.
        image_dir: the folder their `file_name`s are relative to.
        config: the augmentation settings.
        seed: base seed; sample i uses `numpy.random.default_rng((seed, i))`.
        mixup: mix a partner image into both views (SPEC §5.2 step 2).
    """

    def __init__(self, proposals: ProposalSet, image_dir: str | os.PathLike[str],
                 config: AugmentConfig, *, seed: int = 0, mixup: bool = True) -> None:
        self.images = proposals.images
        self.image_dir = Path(image_dir)
        self.config = config
        self.seed = seed
        self.mixup = mixup and len(self.images) > 1

    def __len__(self) -> int:
        return len(self.images)

    def load(self, index: int) -> View:
        """Image `index` with its proposals.

        Raises:
            DataError: unreadable image, or a size other than the one in the proposals file.
        """
        entry: ImageProposals = self.images[index]
        path = self.image_dir / entry.file_name
        try:
            image = read_image(path)
        except InputError as e:
            raise DataError(str(e)) from None
        if image.shape[:2] != (entry.height, entry.width):
            raise DataError(f"{path}: image is {image.shape[1]}x{image.shape[0]} but the proposals "
                            f"file says {entry.width}x{entry.height}")
        return View(image, entry.xyxy.copy(), entry.instance_id.copy())

    def __getitem__(self, sample_index: int) -> PairSample:
        rng = np.random.default_rng((self.seed, sample_index))
        index = int(rng.integers(len(self.images)))
        partner = None
        if self.mixup:  # a different image, so that instance ids stay unique within a view
            other = int(rng.integers(len(self.images) - 1))
            partner = self.load(other + (other >= index))
        path = str(self.image_dir / self.images[index].file_name)
        view = self.load(index)
        try:
            key, ref = make_two_views(view, partner, rng, self.config)
        except Exception as e:
            raise RuntimeError(f"{path}: augmentation failed: {e}") from e
        return PairSample(key, ref, path)


class SampleIndexSampler(Sampler[int]):
    """Endless global sample indices for one rank: batch b of rank r holds
    `(b * world_size + r) * batch_size + j` for j < batch_size, starting at batch `start_batch`.

    Args:
        batch_size: samples per batch on this rank.
        rank, world_size: this process and the number of processes.
        start_batch: the first batch (the number of batches already consumed, for resuming).
    """

    def __init__(self, batch_size: int, *, rank: int = 0, world_size: int = 1,
                 start_batch: int = 0) -> None:
        self.batch_size, self.rank, self.world_size = batch_size, rank, world_size
        self.start_batch = start_batch

    def __iter__(self) -> Iterator[int]:
        batch = self.start_batch
        while True:
            first = (batch * self.world_size + self.rank) * self.batch_size
            yield from range(first, first + self.batch_size)
            batch += 1


def collate_pairs(samples: list[PairSample]) -> PairBatch:
    """Stacks equally sized views into `PairBatch` (images `(B, 3, S, S)` uint8)."""
    def images(views: list[View]) -> Tensor:
        stacked = torch.from_numpy(np.stack([v.image for v in views]))  # (B, S, S, 3)
        return stacked.permute(0, 3, 1, 2).contiguous()  # (B, 3, S, S)

    keys, refs = [s.key for s in samples], [s.ref for s in samples]
    def boxes(views: list[View]) -> list[Tensor]:
        return [torch.from_numpy(v.xyxy.astype(np.float32)) for v in views]

    def ids(views: list[View]) -> list[Tensor]:
        return [torch.from_numpy(v.instance_id.astype(np.int64)) for v in views]

    return PairBatch(images(keys), images(refs), boxes(keys), ids(keys), boxes(refs), ids(refs),
                     [s.path for s in samples])
