"""Stopping a server started in a session of its own (`start_new_session=True`), for the bench
scripts and the tests that run `relais serve` as a user would."""

from __future__ import annotations

import os
import signal
import subprocess


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole process group (workers, intake children), SIGKILL after 20 s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
