"""Hub-hosted weights through `huggingface_hub` (a local server on 127.0.0.1 as `HF_ENDPOINT`):
checksum on top of the client, a corrupted download not kept, `MASA_OFFLINE`.

Each download runs in a fresh process, because `huggingface_hub` reads `HF_ENDPOINT` and
`HF_HUB_OFFLINE` once, at import (the test session itself is offline).
"""

from __future__ import annotations

import hashlib
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import REPO

REPO, FILENAME = "someone/masa-test", "tiny.pth"
GOOD = b"official weights " * 1000
_SCRIPT = """
import sys
from pathlib import Path
from masa.cache import WeightSpec, download_to_cache
repo, name, md5, folder = sys.argv[1:]
try:
    print(download_to_cache(WeightSpec.on_hub(repo, name, md5=md5), Path(folder), progress=False))
except (OSError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
"""


class _Hub(http.server.BaseHTTPRequestHandler):
    """Answers `/{repo}/resolve/{revision}/{file}` as the hub does (commit, ETag, size)."""

    files: dict[str, bytes] = {}

    def _headers(self) -> bytes | None:
        repo, _, rest = self.path.partition("/resolve/")
        data = self.files.get(f"{repo.strip('/')}/{rest.partition('/')[2]}")
        if data is None:
            self.send_response(404)
            self.end_headers()
            return None
        self.send_response(200)
        self.send_header("X-Repo-Commit", "0" * 40)
        self.send_header("ETag", f'"{hashlib.sha256(GOOD).hexdigest()}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        return data

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self._headers()

    def do_GET(self) -> None:  # noqa: N802
        data = self._headers()
        if data is not None:
            self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hub(tmp_path: Path):
    """(serve(bytes), run(**env) -> CompletedProcess): a local hub and a downloading process."""
    handler = type("Hub", (_Hub,), {"files": {}})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    folder = tmp_path / "masa_home" / "checkpoints"

    def serve(data: bytes) -> None:
        handler.files[f"{REPO}/{FILENAME}"] = data

    def run(**env: str) -> subprocess.CompletedProcess:
        environ = {k: v for k, v in os.environ.items()
                   if k not in ("HF_HUB_OFFLINE", "MASA_OFFLINE")}
        environ.update(HF_ENDPOINT=f"http://127.0.0.1:{httpd.server_address[1]}",
                       HF_HOME=str(tmp_path / "hf_home"), PYTHONPATH=str(REPO), **env)
        md5 = hashlib.md5(GOOD).hexdigest()
        return subprocess.run([sys.executable, "-c", _SCRIPT, REPO, FILENAME, md5, str(folder)],
                              env=environ, capture_output=True, text=True, timeout=120)

    yield serve, run, tmp_path / "hf_home", folder
    httpd.shutdown()
    httpd.server_close()


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".lock")]


def test_hub_download_is_verified_and_cached_by_the_client(hub) -> None:
    serve, run, hf_home, folder = hub
    serve(GOOD)
    done = run()
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip())
    assert path.read_bytes() == GOOD and hf_home in path.parents  # the client's own cache
    again = run(MASA_OFFLINE="1")  # offline: from the cache, no request
    assert again.returncode == 0 and Path(again.stdout.strip()) == path


def test_corrupted_hub_download_is_refused_and_not_kept(hub) -> None:
    serve, run, hf_home, folder = hub
    serve(GOOD[:-10] + b"x" * 10)  # corrupted in transit
    done = run()
    assert done.returncode == 2
    error = done.stderr.strip()
    assert "\n" not in error and f"{FILENAME}: md5 checksum mismatch" in error
    assert "not kept" in error
    assert not any(p.name == FILENAME or p.stat().st_size == len(GOOD) for p in _files(hf_home))
    assert not (folder / FILENAME).exists()
    serve(GOOD)  # the next try downloads again and succeeds
    assert run().returncode == 0


def test_masa_offline_names_the_file_and_where_to_put_it(hub) -> None:
    serve, run, hf_home, folder = hub
    serve(GOOD)
    done = run(MASA_OFFLINE="1")
    assert done.returncode == 2
    error = done.stderr.strip()
    assert "\n" not in error and f"{FILENAME} is not cached and MASA_OFFLINE is set" in error
    assert f"hf download {REPO} {FILENAME}" in error and f"put it at {folder / FILENAME}" in error
    assert not hf_home.exists() or not _files(hf_home)  # nothing was downloaded
