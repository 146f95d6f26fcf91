"""Checkpoint reading, our own format, and the download cache (against a local HTTP server)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import sys
import threading
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from masa.cache import WeightSpec
from masa.weights import KNOWN_WEIGHTS, CheckpointError, load_adapter, read_checkpoint, resolve_checkpoint


class _RunsACommand:
    """Unpickling this would run a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_would_run_a_command_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "meta": {"x": _RunsACommand(marker)}}, path)
    with pytest.raises(CheckpointError, match=r"refused to load checkpoint: it asks for (posix|os|nt)\.system"):
        read_checkpoint(path)
    assert not marker.exists()


def test_mmengine_objects_are_stubbed_without_mmengine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pickle an object whose class lives in a module that will not exist at load time.
    module = types.ModuleType("mmengine.logging.history_buffer")
    cls = type("HistoryBuffer", (), {"__module__": module.__name__})
    module.HistoryBuffer = cls
    for name in ("mmengine", "mmengine.logging"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    buffer = cls()
    buffer.history = np.arange(3.0)  # numpy inside mmengine objects is stubbed too
    path = tmp_path / "ckpt.pth"
    weight = torch.randn(4, 3)
    torch.save({"meta": {"epoch": 3, "cfg": "x"}, "state_dict": {"masa_adapter.0.w": weight},
                "message_hub": {"loss": buffer}}, path)
    for name in ("mmengine", "mmengine.logging", module.__name__):
        monkeypatch.delitem(sys.modules, name)

    checkpoint = read_checkpoint(path)
    assert checkpoint.source == "official" and checkpoint.metadata == {"epoch": 3, "cfg": "x"}
    torch.testing.assert_close(checkpoint.state_dict["masa_adapter.0.w"], weight)


def test_own_format_round_trip(tiny_checkpoint: Path) -> None:
    checkpoint = read_checkpoint(tiny_checkpoint)
    assert checkpoint.source == "masa"
    assert checkpoint.metadata["model"] == "adapter" and checkpoint.metadata["model_args"]["backbone"] == "resnet18"
    adapter = load_adapter(tiny_checkpoint)
    for key, value in adapter.state_dict().items():
        torch.testing.assert_close(value, checkpoint.state_dict[key])


def test_inference_resize_override(tiny_checkpoint: Path) -> None:
    default, small = load_adapter(tiny_checkpoint), load_adapter(tiny_checkpoint, resize=64)
    assert small.config.resize == (64, 64) and default.config.resize != (64, 64)
    image = np.random.default_rng(1).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    boxes = [[10, 10, 60, 80], [50, 20, 120, 90]]
    assert not torch.allclose(default.embed(image, boxes), small.embed(image, boxes))
    with pytest.raises(ValueError, match="at least the pad divisor 32, but got 16"):
        load_adapter(tiny_checkpoint, resize=16)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not a checkpoint", "cannot read checkpoint"),
        (None, "does not say which model it is"),
    ],
)
def test_unusable_files_are_one_line_errors(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "bad.pth"
    if content is None:
        torch.save({"conv.weight": torch.zeros(1)}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_adapter(path)


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(FileNotFoundError, match="masa_r50"):
        resolve_checkpoint("no_such_model")


def test_offline_known_name_says_where_to_put_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MASA_HOME", str(tmp_path))
    monkeypatch.setenv("MASA_OFFLINE", "1")
    expected_path = tmp_path / "checkpoints" / "masa_r50.pth"
    with pytest.raises(CheckpointError, match=f"put it at {expected_path}"):
        resolve_checkpoint("masa_r50")


@pytest.fixture
def server(tmp_path: Path):
    """A local HTTP server on 127.0.0.1 serving files from a folder; stops after the test."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def _publish(server, tiny_checkpoint: Path) -> tuple[str, bytes]:
    root, url = server
    data = tiny_checkpoint.read_bytes()
    (root / "tiny.safetensors").write_bytes(data)
    return url + "tiny.safetensors", data


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MASA_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MASA_OFFLINE", raising=False)
    return tmp_path / "home" / "checkpoints"


@pytest.mark.parametrize("algorithm", ["sha256", "md5"])
def test_download_on_first_use_with_checksum(server, tiny_checkpoint, cache, monkeypatch, algorithm) -> None:
    url, data = _publish(server, tiny_checkpoint)
    digest = hashlib.new(algorithm, data).hexdigest()
    monkeypatch.setitem(KNOWN_WEIGHTS, "tiny", WeightSpec(url, "tiny.safetensors", **{algorithm: digest}))
    path = resolve_checkpoint("tiny", progress=False)
    assert path == cache / "tiny.safetensors" and path.read_bytes() == data
    assert load_adapter("tiny").config.backbone == "resnet18"
    (server[0] / "tiny.safetensors").unlink()  # second use: from the cache, no network
    assert resolve_checkpoint("tiny", progress=False) == path


def test_unchanged_cached_file_is_not_hashed_again(server, tiny_checkpoint, cache, monkeypatch) -> None:
    import masa.cache

    url, data = _publish(server, tiny_checkpoint)
    monkeypatch.setitem(KNOWN_WEIGHTS, "tiny", WeightSpec(url, "tiny.safetensors", sha256=hashlib.sha256(data).hexdigest()))
    path = resolve_checkpoint("tiny", progress=False)
    real_digest = masa.cache.file_digest
    monkeypatch.setattr(masa.cache, "file_digest", lambda *a: pytest.fail("hashed an unchanged cached file"))
    assert resolve_checkpoint("tiny", progress=False) == path
    monkeypatch.setattr(masa.cache, "file_digest", real_digest)
    os.utime(path, ns=(0, 0))  # changed on disk (timestamp): verified again, and still good
    assert resolve_checkpoint("tiny", progress=False) == path


def test_corrupted_download_is_refused_and_leaves_the_cache_clean(server, tiny_checkpoint, cache, monkeypatch) -> None:
    url, data = _publish(server, tiny_checkpoint)
    good = hashlib.sha256(data).hexdigest()
    (server[0] / "tiny.safetensors").write_bytes(data[:-100] + b"x" * 100)  # corrupted in transit
    monkeypatch.setitem(KNOWN_WEIGHTS, "tiny", WeightSpec(url, "tiny.safetensors", sha256=good))
    with pytest.raises(CheckpointError, match="sha256 checksum mismatch"):
        resolve_checkpoint("tiny", progress=False)
    assert list(cache.iterdir()) == []


def test_unpublished_checksum_is_recorded_on_first_download(server, tiny_checkpoint, cache, monkeypatch) -> None:
    url, data = _publish(server, tiny_checkpoint)
    monkeypatch.setitem(KNOWN_WEIGHTS, "tiny", WeightSpec(url, "tiny.safetensors"))
    path = resolve_checkpoint("tiny", progress=False)
    recorded = (cache / "tiny.safetensors.sha256").read_text().split()[0]
    assert recorded == hashlib.sha256(data).hexdigest()
    path.write_bytes(data[:-1] + b"!")  # the cached file changes on disk
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        resolve_checkpoint("tiny", progress=False)


def test_unreachable_server_is_a_clear_error(cache, monkeypatch) -> None:
    monkeypatch.setitem(KNOWN_WEIGHTS, "tiny", WeightSpec("http://127.0.0.1:9/tiny.safetensors", "tiny.safetensors"))
    with pytest.raises(CheckpointError, match="cannot download tiny.safetensors .* put it at"):
        resolve_checkpoint("tiny", progress=False)
    assert list(cache.iterdir()) == []


def test_packaged_masa_lite_loads_offline() -> None:
    from masa.weights import PACKAGED_WEIGHTS

    path = resolve_checkpoint("masa_lite")
    assert path.name == PACKAGED_WEIGHTS["masa_lite"] and path.stat().st_size < 12 * 2**20
    adapter = load_adapter("masa_lite")
    checkpoint = read_checkpoint(path)
    assert checkpoint.source == "masa" and "step" in checkpoint.metadata
    image = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    embeddings = adapter.embed(image, [[10, 10, 60, 80]])
    assert embeddings.shape == (1, adapter.config.embed_dim) and torch.isfinite(embeddings).all()
