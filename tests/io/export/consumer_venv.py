"""Cached virtual environments for the tools that consume our exports (datumaro, Label Studio).

They pin numpy/opencv versions that would break masa's own environment, so each lives in its own
venv under `$MASA_TEST_VENVS` (default `~/.cache/masa-test-venvs/<name>-<version>`), built once
with `python -m venv` + `pip install` from the package registry, and reused by later runs. A build
goes to a temporary folder renamed into place, so an interrupted build is never taken as done.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

#: pip output that means the registry could not be reached (not a broken package).
_NETWORK_ERRORS = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "Max retries exceeded",
    "ProxyError",
    "ConnectTimeoutError",
    "Name or service not known",
    "ReadTimeoutError",
)


def venv_root() -> Path:
    return Path(os.environ.get("MASA_TEST_VENVS", Path.home() / ".cache" / "masa-test-venvs"))


def consumer_python(package: str, version: str) -> Path:
    """The python of a cached venv with `package==version` installed; builds it on first use.

    Skips the calling test (with the reason) only when pip cannot reach the package registry;
    any other install failure fails the test with pip's output.
    """
    final = venv_root() / f"{package}-{version}"
    python = final / "bin" / "python"
    if (final / ".complete").is_file():
        return python
    final.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(build)], check=True, capture_output=True
        )
        env = {**os.environ, "PIP_CONSTRAINT": "", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        proc = subprocess.run(
            [
                str(build / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                f"{package}=={version}",
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        if proc.returncode != 0:
            output = proc.stdout + proc.stderr
            if any(marker in output for marker in _NETWORK_ERRORS):
                pytest.skip(
                    f"pip cannot reach the package registry to install {package}=={version}"
                )
            pytest.fail(f"pip install {package}=={version} failed:\n{output[-3000:]}")
        (build / ".complete").write_text(json.dumps({"package": package, "version": version}))
        try:
            os.rename(build, final)
        except OSError:  # another run finished first: use its venv
            if not (final / ".complete").is_file():
                raise
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return python


def run_checker(python: Path, script: Path, *args: str | Path) -> dict:
    """Runs `script` with the consumer venv's python; returns the JSON it prints on stdout."""
    proc = subprocess.run(
        [str(python), str(script), *map(str, args)], capture_output=True, text=True, timeout=600
    )
    assert (
        proc.returncode == 0
    ), f"{script.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])
