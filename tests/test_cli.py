"""The `relais` command line as a user runs it (the installed entry point, in a subprocess): every
command exits 0 when it succeeds, 1 with an `error:` line and no traceback when it cannot do its
job, 2 for a usage mistake; `serve` and `worker` stopped by SIGTERM exit 0."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, social_rows, write_social_csv

RELAIS = str(Path(sys.executable).with_name("relais"))
UNREACHABLE = "postgresql://relais@127.0.0.1:1/relais"  # nothing listens on port 1


@dataclass
class Env:
    vars: dict[str, str]
    tmp: Path

    def run(
        self, *args: str, stdin: str = "", timeout: float = 120, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [RELAIS, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**self.vars, **env},
            cwd=self.tmp,
        )


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Env]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    base.update(
        RELAIS_DATABASE_URL=f"sqlite:///{tmp_path / 'relais.db'}",
        RELAIS_MODELS_DIR=str(ROOT / "models"),
        RELAIS_ENVIRONMENT="test",
        RELAIS_LANGUAGE="en",  # the messages below are the English ones; French: test_messages_in_french
    )
    yield Env(base, tmp_path)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    return result


def fails(result: subprocess.CompletedProcess[str], fragment: str, code: int = 1) -> None:
    assert result.returncode == code, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    assert fragment in result.stderr, result.stderr
    if code == 1:
        assert result.stderr.rstrip().splitlines()[-1].startswith("error: "), result.stderr
        assert "Traceback" not in result.stderr, result.stderr


def test_db_and_users_commands(cli: Env) -> None:
    assert "database up to date" in ok(cli.run("db", "upgrade")).stdout
    token = ok(cli.run("users", "add", "ada", "--role", "admin", "--password-stdin", stdin="s3cret-pass\n"))
    assert token.stdout.strip().splitlines()[-1].startswith("rls_")
    ok(cli.run("users", "passwd", "ada", stdin="another-pass\n"))
    assert ok(cli.run("users", "token", "ada")).stdout.strip().startswith("rls_")
    assert "ada\tadmin\tpassword" in ok(cli.run("users", "list")).stdout
    fails(cli.run("users", "add", "ada"), "already exists")
    fails(cli.run("users", "add", "bob", "--role", "king"), "role must be one of")
    fails(cli.run("users", "passwd", "nobody", stdin="long-enough\n"), "no user 'nobody'")
    fails(cli.run("users", "passwd", "ada", stdin="short\n"), "at least 8 characters")
    fails(cli.run("users", "token", "nobody"), "no user 'nobody'")
    fails(cli.run("db", "upgrade", "--revision", "nope"), "Can't locate revision")
    for args in (("users", "list"), ("db", "upgrade"), ("worker", "--once")):
        fails(cli.run(*args, RELAIS_DATABASE_URL=UNREACHABLE), "the database is unavailable")
    fails(cli.run("users", "list", RELAIS_DATABASE_URL="nosuchdb://x"), "RELAIS_DATABASE_URL")
    fails(cli.run("users", "list", RELAIS_SEND_TIMEOUT_S="soon"), "RELAIS_SEND_TIMEOUT_S")
    fails(cli.run("users", "frobnicate"), "No such command", code=2)


def test_messages_in_french_by_default(cli: Env) -> None:
    french = {k: v for k, v in cli.vars.items() if k != "RELAIS_LANGUAGE"}
    r = subprocess.run([RELAIS, "db", "upgrade"], capture_output=True, text=True, env=french, cwd=cli.tmp)
    assert ok(r).stdout.strip() == "base de données à jour"
    r = subprocess.run(
        [RELAIS, "users", "list"],
        capture_output=True,
        text=True,
        env={**french, "RELAIS_DATABASE_URL": UNREACHABLE},
        cwd=cli.tmp,
    )
    fails(r, "error: la base de données est injoignable")
    r = subprocess.run(
        [RELAIS, "users", "list"],
        capture_output=True,
        text=True,
        env={**french, "RELAIS_LANGUAGE": "de"},
        cwd=cli.tmp,
    )
    assert r.returncode == 1 and "error: réglages invalides" in r.stderr and "RELAIS_LANGUAGE" in r.stderr


def test_classify_and_evaluate(cli: Env) -> None:
    lines = "Vous livrez le dimanche ?\nMy parcel never arrived\nmerci\n"
    result = ok(cli.run("classify", stdin=lines))  # 3 lines: it used to exit with status 3
    assert len(result.stdout.splitlines()) == 3
    csv = cli.tmp / "labels.csv"
    csv.write_text("text,label\nVous livrez le dimanche ?,question\nmerci beaucoup,other\n")
    assert "macro-F1" in ok(cli.run("evaluate", str(csv))).stdout
    fails(cli.run("evaluate", str(cli.tmp / "missing.csv")), "missing.csv")
    empty = cli.tmp / "empty-models"
    empty.mkdir()
    fails(cli.run("classify", stdin="hi\n", RELAIS_MODELS_DIR=str(empty)), "no promoted model")
    fails(cli.run("evaluate", str(csv), RELAIS_MODELS_DIR=str(empty)), "no promoted model")


def test_train_and_models(cli: Env) -> None:
    data, models = cli.tmp / "data", cli.tmp / "models"
    data.mkdir()
    write_social_csv(data / "relais_social_test.csv", social_rows(10))
    env = {"RELAIS_MODELS_DIR": str(models)}
    assert "no model versions" in ok(cli.run("models", "list", **env)).stdout
    trained = ok(cli.run("train", "--data-dir", str(data), "--no-corrections", "--force", **env)).stdout
    version = trained.strip().splitlines()[-1].split()[1].rstrip(":")
    assert f"version {version}: promoted" in trained
    assert f"* {version}" in ok(cli.run("models", "list", **env)).stdout
    ok(cli.run("models", "use", version, **env))
    assert "nothing to do" in ok(cli.run("train", "--if-new-corrections", "5", **env)).stdout
    fails(cli.run("models", "use", "19990101-000000", **env), "cannot use")
    fails(cli.run("train", "--data-dir", str(cli.tmp / "nowhere"), "--no-corrections", **env), "nowhere")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err


def test_serve_and_worker_exit_0_when_stopped_and_1_when_they_cannot_start(cli: Env) -> None:
    port = _free_port()
    serve = subprocess.Popen(
        [RELAIS, "serve", "--port", str(port)],
        env=cli.vars,
        cwd=cli.tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert serve.poll() is None and time.monotonic() < deadline, "relais serve did not start"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{port}/webhooks/meta?hub.verify_token=sekrit-42").status_code
        busy = cli.run("serve", "--port", str(port), "--no-migrate")  # the port is taken
        assert busy.returncode != 0 and "address already in use" in busy.stderr
    finally:
        serve.send_signal(signal.SIGTERM)
        out, err = serve.communicate(timeout=30)
        code = serve.returncode
    assert code == 0, err
    # one line says where it listens, on which database, with which model; nothing else but errors
    started = [line for line in err.splitlines() if "Relais on" in line]
    version = (ROOT / "models" / "CURRENT").read_text().strip()
    database = cli.vars["RELAIS_DATABASE_URL"]
    assert started == [f"INFO:     Relais on http://127.0.0.1:{port} · database {database} · model {version}"]
    assert "Started server process" not in err and "Uvicorn running" not in err
    # one access line per request, without the query string (a secret here)
    assert '"GET /healthz HTTP/1.1" 200' in out and '"GET /webhooks/meta?… HTTP/1.1" 403' in out, out
    assert "sekrit" not in out + err
    fails(cli.run("serve", "--port", str(_free_port()), RELAIS_DATABASE_URL=UNREACHABLE), "unavailable")
    fails(cli.run("serve", "--no-migrate", RELAIS_DATABASE_URL=UNREACHABLE), "unavailable")

    ok(cli.run("worker", "--once"))
    worker = subprocess.Popen(
        [RELAIS, "worker"], env=cli.vars, cwd=cli.tmp, stderr=subprocess.PIPE, text=True
    )
    assert worker.stderr is not None
    first = worker.stderr.readline()  # the model the refine pass reads with, loaded
    started = worker.stderr.readline()  # then: it is running
    assert "relais.triage model" in first and "loaded" in first, first
    assert "outbox worker" in started and "started" in started, started
    code, err = _stop(worker)
    assert code == 0, err
    fails(cli.run("worker", RELAIS_DATABASE_URL=UNREACHABLE, timeout=30), "the database is unavailable")
