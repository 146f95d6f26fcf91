"""No weights file can run code: every container x every payload, through every masa reader.

Each hostile file would create a sentinel file if unpickled plainly (checked first, so the
payloads are live); every reader must refuse it with one line naming the file, and the sentinel
must not exist. `load_weights_file`, which every reader uses, gets the whole matrix; each reader
gets every container (one payload) and every payload (one container), which shows that it goes
through the same safe reading.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from masa.errors import InputError
from tests.security.hostile import (
    CONTAINERS,
    PAYLOADS,
    checkpoint_pickle,
    run_plainly,
    write_hostile,
)

CASES = [(c, p) for c in CONTAINERS for p in PAYLOADS]
CROSS = sorted({(c, "os.system") for c in CONTAINERS} | {("zip-p5", p) for p in PAYLOADS})


def _wait_for(path: Path, seconds: float = 2.0) -> bool:
    """Whether `path` appears within `seconds` (a started process may create it a bit later)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.02)
    return path.exists()


def _assert_refused(call: Callable[[], object], path: Path, sentinel: Path, *,
                    refused: bool = True) -> str:
    with pytest.raises(InputError) as excinfo:
        call()
    message = str(excinfo.value)
    assert "\n" not in message and path.name in message, message
    if refused:  # refused as unsafe, not merely unreadable: the payload never got to run
        assert "refused" in message, message
    assert not sentinel.exists()
    return message


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_are_live(payload: str, tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel"
    run_plainly(checkpoint_pickle(payload, sentinel, protocol=2))
    assert _wait_for(sentinel), f"{payload} did not run when unpickled plainly"


@pytest.mark.parametrize("container, payload", CASES)
def test_load_weights_file_refuses(container: str, payload: str, tmp_path: Path) -> None:
    from masa.safe_load import UnsafeFileError, load_weights_file

    sentinel = tmp_path / "sentinel"
    path = write_hostile(tmp_path, container, payload, sentinel)
    with pytest.raises(UnsafeFileError) as excinfo:
        load_weights_file(path, what="checkpoint")
    message = str(excinfo.value)
    assert "\n" not in message and f"{path}: refused to load checkpoint: " in message, message
    assert not sentinel.exists()


def _resume_state(path: Path) -> None:
    from masa.train.loop import RESUME_FILE, TrainConfig, _check_resumable

    folder = path.parent / "run"
    folder.mkdir(exist_ok=True)
    path.replace(folder / RESUME_FILE)
    config = TrainConfig(images="images", proposals="proposals.json", out=str(folder), resume=True)
    _check_resumable(folder, config, 1)


@functools.cache
def _tiny_adapter() -> nn.Module:
    """Built once: the readers refuse the file before they touch the model."""
    from masa.adapter import MasaAdapter
    from tests.conftest import tiny_adapter_config

    return MasaAdapter(tiny_adapter_config())


def _r50_backbone(path: Path) -> None:
    from masa.train.build import _load_backbone

    _load_backbone(_tiny_adapter(), "r50", path)


def _torchvision_state_dict(path: Path) -> None:
    from masa.detectors.torchvision_models import _load_state_dict_file

    _load_state_dict_file(nn.Linear(1, 1), path)


def _sam_generator(path: Path) -> None:
    pytest.importorskip("segment_anything")
    from masa.train.proposals import build_sam_generator

    build_sam_generator(path)


def _sam(path: Path) -> None:
    pytest.importorskip("segment_anything")
    from masa.segment.sam import load_sam

    load_sam(path)


def _sam_masa(path: Path) -> None:
    pytest.importorskip("segment_anything")
    from masa.segment.checkpoint import load_sam_masa

    load_sam_masa(path)


def _read_checkpoint(path: Path) -> None:
    from masa.weights import CheckpointError, read_checkpoint

    with pytest.raises(CheckpointError):
        read_checkpoint(path)
    read_checkpoint(path)


def _adapter(path: Path) -> None:
    from masa.adapter import load_adapter

    load_adapter(path)


def _adapter_weights(path: Path) -> None:
    from masa.adapter.loading import load_adapter_weights

    load_adapter_weights(_tiny_adapter(), path)


def _shufflenet(path: Path) -> None:
    from masa.adapter.backbones import load_imagenet_shufflenetv2

    load_imagenet_shufflenetv2(path)


#: Every library function that reads a weights file a user names.
READERS: dict[str, Callable[[Path], None]] = {
    "read_checkpoint": _read_checkpoint,  # every adapter and SAM checkpoint
    "load_adapter": _adapter,  # masa track / detect-track --checkpoint
    "load_adapter_weights": _adapter_weights,  # masa train --init-checkpoint
    "load_sam": _sam,  # SAM weights (segment-track --sam)
    "load_sam_masa": _sam_masa,  # masa segment-track --checkpoint
    "build_sam_generator": _sam_generator,  # masa proposals --method sam --sam-checkpoint
    "load_imagenet_shufflenetv2": _shufflenet,  # masa train --model lite --backbone-weights
    "r50 backbone": _r50_backbone,  # masa train --model r50 --backbone-weights
    "torchvision detector": _torchvision_state_dict,  # masa detect-track --detector-weights
    "resume state": _resume_state,  # masa train --resume
}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("container, payload", CROSS)
def test_every_reader_refuses(reader: str, container: str, payload: str, tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel"
    path = write_hostile(tmp_path, container, payload, sentinel, name="resume.pt")
    moved = path.parent / "run" / path.name if reader == "resume state" else path
    _assert_refused(lambda: READERS[reader](path), moved, sentinel)


@pytest.mark.parametrize("container", CONTAINERS)
def test_fastestdet_onnx_reader_refuses(container: str, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from masa.detectors.fastestdet import build_fastestdet_detector

    sentinel = tmp_path / "sentinel"
    path = write_hostile(tmp_path, container, "os.system", sentinel, name="FastestDet.onnx")
    _assert_refused(lambda: build_fastestdet_detector(weights=path), path, sentinel, refused=False)


def test_torchscript_archive_is_refused(tmp_path: Path) -> None:
    from masa.safe_load import UnsafeFileError, load_weights_file

    path = tmp_path / "scripted.pth"
    torch.jit.save(torch.jit.script(nn.Linear(2, 2)), str(path))
    with pytest.raises(UnsafeFileError, match="TorchScript archive holds code"):
        load_weights_file(path)


@pytest.mark.parametrize("container", CONTAINERS)
def test_the_same_containers_load_when_benign(container: str, tmp_path: Path) -> None:
    """Control: with a plain value in place of the payload, zip and legacy files load, so the
    refusals above come from the payloads, not from malformed containers."""
    from masa.safe_load import load_weights_file
    from tests.security.hostile import LYING_NAMES, Ops

    protocol, wrap = CONTAINERS[container]
    o = Ops(protocol)
    path = tmp_path / LYING_NAMES[container]
    path.write_bytes(wrap(o.stream(o.dict(state_dict=o.dict(epoch=o.int(3))))))
    if container.startswith(("zip", "legacy")):
        assert load_weights_file(path) == {"state_dict": {"epoch": 3}}
    else:  # a raw pickle is not a torch file; a tar is never read
        with pytest.raises(InputError, match="cannot read|refused to load weights: torch's legacy"):
            load_weights_file(path)


@pytest.mark.parametrize("protocol", [2, 5])
@pytest.mark.parametrize("zip_format", [True, False])
def test_official_checkpoints_still_load(protocol: int, zip_format: bool, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """What official MASA files hold besides tensors (an mmengine HistoryBuffer holding numpy
    arrays in `message_hub`, numpy scalars in `meta`) loads, zip or legacy, protocol 2 or 5,
    without mmengine."""
    import sys
    import types

    import numpy as np

    from masa.weights import read_checkpoint

    module = types.ModuleType("mmengine.logging.history_buffer")
    module.HistoryBuffer = type("HistoryBuffer", (), {"__module__": module.__name__})
    for name in ("mmengine", "mmengine.logging"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    buffer = module.HistoryBuffer()
    buffer._log_history, buffer._count_history = np.arange(3.0), np.ones(3, dtype=np.int64)
    weight = torch.randn(3, 2)
    path = tmp_path / "official.pth"
    torch.save({"meta": {"epoch": 12, "lr": np.float64(0.5)},
                "state_dict": {"masa_adapter.0.w": weight},
                "message_hub": {"log_scalars": {"loss": buffer}}}, path,
               pickle_protocol=protocol, _use_new_zipfile_serialization=zip_format)
    for name in ("mmengine", "mmengine.logging", module.__name__):
        monkeypatch.delitem(sys.modules, name)

    checkpoint = read_checkpoint(path)
    assert checkpoint.source == "official" and checkpoint.metadata == {"epoch": 12}
    torch.testing.assert_close(checkpoint.state_dict["masa_adapter.0.w"], weight)
