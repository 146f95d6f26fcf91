"""SIGTERM (what `timeout`, `kill` and schedulers send) stops a run as Ctrl-C does: a one-line
message, a non-zero exit, and none of the hidden temporary files or outputs left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from masa_cli.signals import Terminated, sigterm_as_interrupt
from tests.conftest import REPO


def test_sigterm_raises_inside_and_the_old_handler_comes_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated):
        with sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler interrupts this
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigterm_mid_run_leaves_nothing(
    shared: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    pets = shared / "data" / "mot" / "PETS09-S2L1"
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "masa_cli", "track", str(pets / "img1"), "--detections",
         str(pets / "det" / "det.txt"), "--checkpoint", str(tiny_checkpoint), "--out", str(out),
         "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 120
        while not (out.is_dir() and any(out.iterdir())):  # the writers' temporary files
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run did not start within 120 s"
            time.sleep(0.05)
        time.sleep(1.0)  # some frames into the 169
        assert proc.poll() is None, "the run ended before SIGTERM; it needs a longer input"
        assert any(p.name.endswith(".tmp") for p in out.iterdir())
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode not in (0, -signal.SIGTERM), stderr  # cleaned up, not killed
    assert "Traceback" not in stderr
    message = "error: terminated (SIGTERM); no partial output was kept"
    assert stderr.strip().splitlines() == [message]
    assert list(out.iterdir()) == []
