"""Training-test fixtures: one CPU thread (fastest on a shared machine), coco128 proposals."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def coco128(shared: Path) -> tuple[Path, Path]:
    """(train image folder, COCO instances JSON) of coco128."""
    root = shared / "data" / "images" / "coco128"
    return (
        root / "images" / "train2017",
        root / "annotations_coco_json" / "instances_train2017_coco128.json",
    )


@pytest.fixture(scope="session")
def coco128_proposals(coco128: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """coco128's annotations converted to a proposals file."""
    from masa.train.proposals import make_proposals

    images, coco_json = coco128
    path, _ = make_proposals(
        images,
        tmp_path_factory.mktemp("proposals") / "coco128.json",
        method="coco",
        coco_json=coco_json,
    )
    return path
