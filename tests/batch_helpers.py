"""Small inputs for batch tests: the sample clip and its boxes, a few PETS09 frames, one thread."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "shapes.mp4"
DETS = SAMPLE.with_name("shapes_dets.txt")


def pets_folder(shared: Path, folder: Path, frames: int) -> tuple[Path, str]:
    """The first `frames` PETS09 frames copied to `folder` (no seqinfo.ini) and their det.txt."""
    pets = shared / "data" / "mot" / "PETS09-S2L1"
    folder.mkdir(parents=True)
    for name in sorted(p.name for p in (pets / "img1").iterdir())[:frames]:
        shutil.copy(pets / "img1" / name, folder / name)
    lines = (pets / "det" / "det.txt").read_text().splitlines()
    return folder, "\n".join(line for line in lines if int(line.split(",")[0]) <= frames) + "\n"


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread: these runs are tiny, and two threads on a busy 2-core machine spin."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
