"""The weights cache: known files downloaded once into `$MASA_HOME`, verified by checksum."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WeightSpec", "masa_home", "download_to_cache", "file_digest"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class WeightSpec:
    """A downloadable weights file.

    Attributes:
        url: where the file is published.
        filename: its name in the cache folder.
        sha256, md5: published checksums (hex), when known. With neither, the SHA-256 of the
            first download is recorded beside the file (`<filename>.sha256`) and checked on
            every later use, so a file changed on disk is still caught.
    """

    url: str
    filename: str
    sha256: str | None = None
    md5: str | None = None


def masa_home() -> Path:
    """`$MASA_HOME`, default `~/.cache/masa`."""
    return Path(os.environ.get("MASA_HOME", "~/.cache/masa")).expanduser()


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file, read in chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _expected(spec: WeightSpec, dst: Path) -> tuple[str, str] | None:
    if spec.sha256:
        return "sha256", spec.sha256.lower()
    if spec.md5:
        return "md5", spec.md5.lower()
    recorded = dst.with_name(dst.name + ".sha256")
    if recorded.is_file():
        return "sha256", recorded.read_text().split()[0].lower()
    return None


def _verify(spec: WeightSpec, path: Path, final: Path) -> None:
    expected = _expected(spec, final)
    if expected is None:
        return
    algorithm, digest = expected
    actual = file_digest(path, algorithm)
    if actual != digest:
        raise ValueError(
            f"{final.name}: {algorithm} checksum mismatch (expected {digest}, got {actual}); "
            f"the file was not kept"
        )


def _stat_key(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size} {stat.st_mtime_ns}"


def _verify_cached(spec: WeightSpec, path: Path) -> None:
    """Checks a cached file's checksum, once per (size, mtime): a stamp beside it records the last
    verified state, so a multi-GB file is not hashed again on every use, but a changed one is."""
    stamp = path.with_name(path.name + ".verified")
    if stamp.is_file() and stamp.read_text().strip() == _stat_key(path):
        return
    _verify(spec, path, path)
    stamp.write_text(_stat_key(path) + "\n")


def download_to_cache(spec: WeightSpec, folder: Path, *, progress: bool = True) -> Path:
    """Returns the cached file for `spec`, downloading and verifying it on first use.

    The download goes to a temporary file in `folder` and is renamed only once its checksum
    passes, so the cache never holds a partial or corrupt file under the final name.

    Raises:
        ValueError: checksum mismatch (of a new download or of a cached file).
        OSError: offline (`MASA_OFFLINE=1`) or the download failed; the message says which file
            to put where.
    """
    dst = folder / spec.filename
    if dst.is_file():
        _verify_cached(spec, dst)
        return dst
    manual = f"download {spec.url} yourself and put it at {dst}, or pass a local path"
    if os.environ.get("MASA_OFFLINE", "") not in ("", "0"):
        raise OSError(f"{spec.filename} is not cached and MASA_OFFLINE is set: {manual}")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{spec.filename}.part{os.getpid()}"
    try:
        _fetch(spec.url, tmp, progress=progress, label=spec.filename)
        _verify(spec, tmp, dst)
        if _expected(spec, dst) is None:
            dst.with_name(dst.name + ".sha256").write_text(file_digest(tmp, "sha256") + "\n")
        os.replace(tmp, dst)
        dst.with_name(dst.name + ".verified").write_text(_stat_key(dst) + "\n")
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        raise OSError(f"cannot download {spec.filename} ({e}): {manual}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def _fetch(url: str, path: Path, *, progress: bool, label: str) -> None:
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    request = urllib.request.Request(url, headers={"User-Agent": "masa-track"})
    with urllib.request.urlopen(request, timeout=30) as response, open(path, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with Progress(
            "[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            disable=not progress, transient=True,
        ) as bar:
            task = bar.add_task(f"downloading {label}", total=total)
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                bar.update(task, advance=len(chunk))
