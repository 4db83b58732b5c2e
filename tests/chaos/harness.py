"""`relais serve` and `relais worker` as subprocesses, each in its own process group, so that a
test can SIGKILL the whole group (web server, intake child, sender) at any point and start it again.
Their output goes to log files, kept for the secrets-in-logs check."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import ROOT, SECRETS

RELAIS = str(Path(sys.executable).with_name("relais"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def relais_env(database_url: str, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    env.update({f"RELAIS_{k.upper()}": v for k, v in SECRETS.items()})
    env.update(
        RELAIS_DATABASE_URL=database_url,
        RELAIS_ENVIRONMENT="test",
        RELAIS_OUTBOX_IN_PROCESS="false",
        RELAIS_MODELS_DIR=str(ROOT / "models"),
    )
    env.update({f"RELAIS_{k.upper()}": v for k, v in overrides.items()})
    return env


class Proc:
    """One `relais` command in its own process group, its output appended to `log`."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.args, self.env, self.log = args, env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        handle = self.log.open("ab")
        self.proc = subprocess.Popen(
            [RELAIS, *self.args],
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        handle.close()
        return self

    def kill(self) -> None:
        """SIGKILL the whole group: no handler runs, nothing is flushed."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(30)

    def stop(self) -> int:
        """SIGTERM and wait: the graceful way."""
        assert self.proc is not None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(30)


class Server(Proc):
    def __init__(self, env: dict[str, str], log: Path, port: int | None = None):
        self.port = port or free_port()
        super().__init__(["serve", "--port", str(self.port), "--log-level", "info"], env, log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> Server:
        super().start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"relais serve exited {self.proc.returncode}: {self.log.read_text()[-2000:]}"
                )
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("relais serve did not answer /healthz")


def cli(env: dict[str, str], *args: str, stdin: str = "") -> str:
    """Run a `relais` command to completion; its stdout."""
    done = subprocess.run([RELAIS, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def wait_for_line(log: Path, needle: str, *, timeout: float) -> None:
    """Wait until `log` contains `needle` (a process said it is ready); fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and needle in log.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise AssertionError(f"{log.name} never said {needle!r}: {log.read_text(errors='replace')[-2000:]}")
