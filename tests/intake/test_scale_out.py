"""Scale out on PostgreSQL: two `relais serve` processes (the second with two workers sharing one
intake process) and two `relais worker` processes share one database. A burst of deliveries, each
sent twice and spread over both servers at once, then everything approved through both servers:
every message exactly once, every reply sent exactly once."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bench.processes import stop
from tests.conftest import ROOT, SECRETS, _pg_url, drop_pg_database, fb_comment, meta_headers, new_pg_database
from tests.fakes.platforms import FakePlatforms

RELAIS = str(Path(sys.executable).parent / "relais")
N = 150


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        assert proc.poll() is None, f"server exited: {proc.returncode}"
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never became healthy")


def process_tree(pid: int) -> dict[int, str]:
    """pid -> name of the process and all its descendants (Linux)."""
    out, todo = {}, [pid]
    while todo:
        p = todo.pop()
        try:
            out[p] = Path(f"/proc/{p}/comm").read_text().strip()
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


@pytest.fixture
def pg_database() -> Iterator[str]:
    name = new_pg_database()
    try:
        yield _pg_url(name)
    finally:
        drop_pg_database(name)


@pytest.mark.postgres
@pytest.mark.slow
def test_two_servers_two_workers_every_message_once_every_reply_once(
    pg_database: str, tmp_path: Path
) -> None:
    with FakePlatforms() as fake, contextlib.ExitStack() as stack:
        env = {
            **os.environ,
            "RELAIS_DATABASE_URL": pg_database,
            "RELAIS_OUTBOX_IN_PROCESS": "false",
            "RELAIS_META_ACCESS_TOKEN": "page-token",
            "RELAIS_OUTBOX_POLL_INTERVAL_S": "0.2",
            **{f"RELAIS_{k.upper()}": v for k, v in SECRETS.items()},
            **{f"RELAIS_{k.upper()}": v for k, v in fake.settings_overrides().items()},
        }
        ports = [free_port(), free_port()]
        # each process's output is kept: a failure prints why a server dropped a connection
        log_paths = [tmp_path / f"{name}.log" for name in ("serve-1", "serve-2", "worker-1", "worker-2")]
        logs = [stack.enter_context(path.open("wb")) for path in log_paths]
        servers = [
            subprocess.Popen(
                [RELAIS, "serve", "--port", str(p), "--workers", str(n)],
                env=env,
                cwd=ROOT,
                start_new_session=True,
                stdout=logs[i],
                stderr=subprocess.STDOUT,
            )
            for i, (p, n) in enumerate(zip(ports, [1, 2], strict=True))
        ]
        workers: list[subprocess.Popen[bytes]] = []
        try:
            urls = [f"http://127.0.0.1:{p}" for p in ports]
            for url, proc in zip(urls, servers, strict=True):
                wait_healthy(url, proc)
            # the two workers of the second server share one intake process, started beside them
            tree = process_tree(servers[1].pid)
            intake = [p for p, name in tree.items() if name == "relais-intake"]
            assert len(intake) == 1 and len(tree) >= 4, tree
            workers = [
                subprocess.Popen(
                    [RELAIS, "worker"],
                    env=env,
                    cwd=ROOT,
                    start_new_session=True,
                    stdout=logs[2 + i],
                    stderr=subprocess.STDOUT,
                )
                for i in range(2)
            ]
            jobs = []
            for i in range(N):
                body = fb_comment(f"9001_{i:05d}", f"Question numéro {i} : vous livrez le samedi ?")
                jobs += [(urls[0], body), (urls[1], body)]
            # the reviewer exists before the burst: a pooled connection left idle while the CLI
            # ran (5 s under load) met uvicorn's 5 s keep-alive close, and a request sent on it at
            # that instant came back "Server disconnected"; the client also lets idle connections
            # go before the server does
            token = subprocess.run(
                [RELAIS, "users", "add", "scale", "--role", "reviewer"],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()[-1]
            h = {"Authorization": f"Bearer {token}"}
            limits = httpx.Limits(keepalive_expiry=2)
            with httpx.Client(timeout=30, limits=limits) as http, ThreadPoolExecutor(16) as ex:
                codes = list(
                    ex.map(
                        lambda j: (
                            http.post(
                                j[0] + "/webhooks/meta", content=j[1], headers=meta_headers(j[1])
                            ).status_code
                        ),
                        jobs,
                    )
                )
                assert Counter(codes) == Counter({200: 2 * N})
                drafts, cursor = [], None
                while True:
                    page = http.get(
                        urls[0] + "/api/drafts",
                        params={"limit": 200, **({"cursor": cursor} if cursor else {})},
                        headers=h,
                    ).json()
                    drafts += page["items"]
                    cursor = page["next_cursor"]
                    if not cursor:
                        break
                ids = Counter(d["message"]["external_id"] for d in drafts)
                assert len(ids) == N and max(ids.values()) == 1
                approvals = list(
                    ex.map(
                        lambda d: (
                            http.post(
                                f"{urls[d['id'] % 2]}/api/drafts/{d['id']}/approve",
                                json={"version": d["version"], "text": f"Oui ! ({d['id']})"},
                                headers=h,
                            ).status_code
                        ),
                        drafts,
                    )
                )
                assert Counter(approvals) == Counter({200: N})
                deadline = time.time() + 60
                while time.time() < deadline and len(fake.calls) < N:
                    time.sleep(0.2)
                time.sleep(2)  # anything sent twice would show up now
        except BaseException:
            for path in log_paths:
                print(f"--- {path.name} (last 4000 characters)\n{path.read_text(errors='replace')[-4000:]}")
            raise
        finally:
            for p in workers + servers:
                stop(p)
    sent = Counter(c["path"] for c in fake.calls if c["path"].endswith("/comments"))
    assert len(sent) == N and max(sent.values()) == 1
