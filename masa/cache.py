"""The weights cache: known files downloaded once and verified by checksum.

Files on the Hugging Face hub (the official MASA checkpoints) are fetched with `huggingface_hub`,
so its cache (`$HF_HOME`), resumable downloads, `HF_HUB_OFFLINE`, `HF_ENDPOINT` mirrors and
tokens work as users expect; other files (SAM, torchvision, FastestDet) are fetched into
`$MASA_HOME`. Either way the file is checked against its published checksum before it is used,
and a file that fails is not kept.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["WeightSpec", "masa_home", "download_to_cache", "file_digest"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class WeightSpec:
    """A downloadable weights file.

    Attributes:
        url: where the file is published.
        filename: its name in the cache folder (and in the hub repository).
        sha256, md5: published checksums (hex), when known. With neither, the SHA-256 of the
            first download is recorded in the cache folder (`<filename>.sha256`) and checked on
            every later use, so a file changed on disk is still caught.
        hf_repo: the Hugging Face model repository that holds the file, if any; such files are
            downloaded with `huggingface_hub` into its cache.
    """

    url: str
    filename: str
    sha256: str | None = None
    md5: str | None = None
    hf_repo: str | None = None

    @classmethod
    def on_hub(cls, repo: str, filename: str, *, sha256: str | None = None,
               md5: str | None = None) -> WeightSpec:
        """A file of a Hugging Face model repository (its `main` revision)."""
        url = f"https://huggingface.co/{repo}/resolve/main/{filename}"
        return cls(url, filename, sha256=sha256, md5=md5, hf_repo=repo)


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


def _expected(spec: WeightSpec, record: Path) -> tuple[str, str] | None:
    """The checksum to check: published, or recorded at first download (`<record>.sha256`)."""
    if spec.sha256:
        return "sha256", spec.sha256.lower()
    if spec.md5:
        return "md5", spec.md5.lower()
    recorded = record.with_name(record.name + ".sha256")
    if recorded.is_file():
        return "sha256", recorded.read_text().split()[0].lower()
    return None


def _verify(spec: WeightSpec, path: Path, record: Path) -> None:
    expected = _expected(spec, record)
    if expected is None:
        return
    algorithm, digest = expected
    actual = file_digest(path, algorithm)
    if actual != digest:
        raise ValueError(
            f"{record.name}: {algorithm} checksum mismatch (expected {digest}, got {actual}); "
            f"the file was not kept"
        )


def _stat_key(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size} {stat.st_mtime_ns}"


def _verify_cached(spec: WeightSpec, path: Path, record: Path | None = None) -> None:
    """Checks a cached file's checksum, once per (size, mtime): a stamp (`<record>.verified`,
    `record` defaulting to the file itself) keeps the last verified state, so a multi-GB file is
    not hashed again on every use, but a changed one is. A file without any checksum gets its
    SHA-256 recorded (`<record>.sha256`)."""
    record = record or path
    stamp = record.with_name(record.name + ".verified")
    if stamp.is_file() and stamp.read_text().strip() == _stat_key(path):
        return
    _verify(spec, path, record)
    if _expected(spec, record) is None:
        record.with_name(record.name + ".sha256").write_text(file_digest(path, "sha256") + "\n")
    stamp.write_text(_stat_key(path) + "\n")


def download_to_cache(spec: WeightSpec, folder: Path, *, progress: bool = True) -> Path:
    """Returns the cached file for `spec`, downloading and verifying it on first use.

    A file already at `folder/<filename>` (cached earlier, or put there by hand) is used first.
    Hub files (`spec.hf_repo`) are then taken from, or downloaded into, the Hugging Face cache; a
    download that fails its checksum is deleted from it. Other files are downloaded to a
    temporary file in `folder`, renamed only once their checksum passes. Either way no partial or
    corrupt file is kept under the final name.

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
    if spec.hf_repo:
        hub = f"run `hf download {spec.hf_repo} {spec.filename}` while online, or {manual}"
        return _from_hub(spec, folder, hub, progress=progress)
    if _masa_offline():
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


def _masa_offline() -> bool:
    return os.environ.get("MASA_OFFLINE", "") not in ("", "0")


def _from_hub(spec: WeightSpec, folder: Path, manual: str, *, progress: bool) -> Path:
    """The file from the Hugging Face cache, downloaded there first if needed (not with
    `MASA_OFFLINE`), verified; checksums and stamps are kept in `folder`."""
    from huggingface_hub import hf_hub_download

    offline = _masa_offline()
    try:
        path = Path(hf_hub_download(spec.hf_repo, spec.filename, local_files_only=offline,
                                    tqdm_class=None if progress else _quiet_tqdm()))
    except Exception as e:  # noqa: BLE001 - whatever the client raises, the download failed
        if offline:
            raise OSError(
                f"{spec.filename} is not cached and MASA_OFFLINE is set: {manual}"
            ) from None
        reason = " ".join(str(e).split()) or type(e).__name__
        raise OSError(f"cannot download {spec.filename} ({reason}): {manual}") from None
    folder.mkdir(parents=True, exist_ok=True)
    try:
        _verify_cached(spec, path, folder / spec.filename)
    except ValueError:
        blob = path.resolve()
        path.unlink(missing_ok=True)  # the snapshot's link, then the blob it points to
        blob.unlink(missing_ok=True)
        raise
    return path


def _quiet_tqdm() -> type:
    """huggingface_hub's progress bar, switched off."""
    from huggingface_hub.utils import tqdm

    class Quiet(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **{**kwargs, "disable": True})

    return Quiet


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
