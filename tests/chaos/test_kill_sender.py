"""SIGKILL of the sender (`relais worker`) at random points, against a fake Graph API that fails
(500), rate-limits (429), times out after posting, refuses for good, and echoes every comment it
posts back through the webhook after a random delay, as Meta does. At the end every outbox row is
terminal (sent or dead), no reply reached the customer twice, and none marked sent is missing.
The logs of this full run (server, workers) contain no configured secret nor token."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.chaos.channels import CHANNELS
from tests.chaos.conftest import DATABASES, scaled
from tests.chaos.harness import Proc, Server, cli, relais_env, wait_for_line
from tests.conftest import SECRETS
from tests.fakes.platforms import FakePlatforms

DRAFTS = scaled(30, 150)
KILLS = scaled(3, 30)
ACCESS_TOKEN = "page-token-chaos-0123456789"
PASSWORD = "chaos reviewer password"
SESSION_SECRET = "chaos-session-secret-0123456789abcdef"


class ChaosGraph(FakePlatforms):
    """Graph comments whose every call meets a random fate; posted comments echo back."""

    def __init__(self, rng: random.Random, server_url: str):
        super().__init__()
        self.rng = rng
        self.server_url = server_url
        self.posted: Counter[str] = Counter()
        self.fates: Counter[str] = Counter()
        self.echoes: list[threading.Timer] = []

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path
        if not path.endswith("/comments"):
            return super()._handle(request)
        comment = path.rsplit("/", 2)[-2]
        with self._lock:
            fate = self.rng.choices(["ok", "timeout", "500", "429", "dead"], [50, 15, 20, 12, 3])[0]
            self.fates[fate] += 1
            delay = self.rng.uniform(0.0, 1.5)
        if fate == "500":
            self.script(
                500, {"error": {"message": "An unexpected error has occurred", "code": 2}}, match=path
            )
        elif fate == "429":
            self.script(429, {"error": {"message": "limit", "code": 4}}, {"Retry-After": "1"}, match=path)
        elif fate == "dead":  # a platform echoing our token in its error must not leak it to logs
            self.script(
                400, {"error": {"message": f"Permissions error for {ACCESS_TOKEN}", "code": 200}}, match=path
            )
        elif fate == "timeout":
            self.delay(2.0, match=path)  # longer than the send timeout: posted, outcome unknown
        if fate in ("ok", "timeout"):
            with self._lock:
                self.posted[comment] += 1
            length = int(request.headers.get("content-length") or 0)
            body = request.rfile.read(length)
            text_ = (json.loads(body) if body else {}).get("message", "")
            timer = threading.Timer(delay, self._echo, args=(comment, text_))
            timer.daemon = True
            self.echoes.append(timer)
            timer.start()
            self._replay(request, body)
            return None
        return super()._handle(request)

    def _replay(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        """Hand the already-read body to the base handler."""
        import io

        request.rfile = io.BytesIO(body)
        super()._handle(request)

    def _echo(self, comment: str, message: str) -> None:
        meta = CHANNELS["meta"]
        value = {
            "item": "comment",
            "verb": "add",
            "comment_id": f"{comment}_r{self.rng.randint(0, 10**9)}",
            "parent_id": comment,
            "post_id": "1111_2222",
            "message": message,
            "from": {"id": "1111", "name": "Brand"},
        }
        payload = {
            "object": "page",
            "entry": [{"id": "1111", "changes": [{"field": "feed", "value": value}]}],
        }
        signed = meta.sign(payload)
        for _ in range(50):  # the platform retries its webhook until it is taken
            try:
                r = httpx.post(
                    self.server_url + meta.route,
                    content=signed.body,
                    headers=meta.headers(signed),
                    timeout=10,
                )
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)


def rows(database_url: str, sql: str) -> list[Any]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))
    finally:
        engine.dispose()


def secrets_of_the_run(token: str) -> list[str]:
    values = list(SECRETS.values()) + [SECRETS["generic_secret"].removeprefix("whsec_")]
    return values + [ACCESS_TOKEN, PASSWORD, SESSION_SECRET, token]


def assert_no_secret_in(logs: list[Path], secrets: list[str], figures: Callable[..., None]) -> None:
    text_ = "\n".join(p.read_text(errors="replace") for p in logs if p.exists())
    leaked = [s[:6] + "..." for s in secrets if s and s in text_]
    figures(name="secrets in logs", log_bytes=len(text_), secrets_checked=len(secrets), leaked=len(leaked))
    assert text_, "the run logged nothing: the check would prove nothing"
    assert not leaked, leaked


@pytest.mark.parametrize("database_url", DATABASES, indirect=True)
def test_sigkilled_senders_post_each_reply_once(
    database_url: str, tmp_path: Path, figures: Callable[..., None]
) -> None:
    rng = random.Random()
    env = relais_env(
        database_url,
        meta_access_token=ACCESS_TOKEN,
        session_secret=SESSION_SECRET,
        send_timeout_s="1",
        outbox_echo_wait_s="3",
        outbox_lease_s="5",
        outbox_backoff_base_s="0.2",
        outbox_backoff_max_s="2",
        outbox_max_attempts="30",
        outbox_poll_interval_s="0.1",
        models_dir=str(tmp_path),
    )
    server = Server(env, tmp_path / "serve.log")
    with ChaosGraph(rng, server.url) as graph:
        env.update({f"RELAIS_{k.upper()}": v for k, v in graph.settings_overrides().items()})
        server.env = env
        server.start()
        try:
            token = (
                cli(env, "users", "add", "chaos", "--password-stdin", stdin=PASSWORD + "\n")
                .strip()
                .splitlines()[-1]
            )
            auth = {"Authorization": f"Bearer {token}"}
            meta = CHANNELS["meta"]
            with httpx.Client(base_url=server.url, headers=auth, timeout=30) as api:
                for i in range(DRAFTS):
                    signed = meta.sign(meta.build(f"s{i}", f"Où est ma commande {i} ?"))
                    assert (
                        api.post(meta.route, content=signed.body, headers=meta.headers(signed)).status_code
                        == 200
                    )
                items = api.get("/api/drafts", params={"limit": 200}).json()["items"]
                assert len(items) == DRAFTS
                for d in items:
                    r = api.post(
                        f"/api/drafts/{d['id']}/approve",
                        json={"version": d["version"], "text": f"Réponse {d['id']}"},
                    )
                    assert r.status_code == 200, r.text
            logs = [tmp_path / "serve.log"]
            for k in range(KILLS):
                log = tmp_path / f"worker-{k}.log"
                logs.append(log)
                worker = Proc(["worker"], env, log).start()
                time.sleep(rng.uniform(2.0, 6.0))
                worker.kill()
            final = Proc(["worker"], env, tmp_path / "worker-final.log").start()
            logs.append(tmp_path / "worker-final.log")
            # A SIGTERM during Python's start-up (before any handler exists) is death by signal, not
            # a stop on request: the clean stop checked below is that of a started worker.
            wait_for_line(tmp_path / "worker-final.log", "outbox worker", timeout=60)
            deadline = time.monotonic() + scaled(120, 600)
            while time.monotonic() < deadline:
                open_rows = rows(
                    database_url, "SELECT count(*) FROM outbox WHERE status NOT IN ('sent', 'dead')"
                )
                if open_rows[0][0] == 0:
                    break
                time.sleep(0.5)
            assert final.stop() == 0
            time.sleep(2)  # late echoes
        finally:
            server.stop()
        outbox = rows(database_url, "SELECT id, status, target FROM outbox")
    statuses = Counter(r[1] for r in outbox)
    posts = {}
    for _, status, target in outbox:
        target = json.loads(target) if isinstance(target, str) else target
        posts[target["reply_to_id"]] = (status, graph.posted.get(target["reply_to_id"], 0))
    twice = [k for k, (_, n) in posts.items() if n > 1]
    lost = [k for k, (status, n) in posts.items() if status == "sent" and n == 0]
    figures(
        name=f"sender SIGKILL with a failing platform ({database_url.split(':')[0]})",
        replies=len(outbox),
        kills=KILLS,
        fates=dict(graph.fates),
        statuses=dict(statuses),
        posted_twice=len(twice),
        lost=len(lost),
        dead_but_posted=sum(1 for s, n in posts.values() if s == "dead" and n),
    )
    assert len(outbox) == DRAFTS
    assert set(statuses) <= {"sent", "dead"}, statuses
    assert not twice, twice
    assert not lost, lost
    assert_no_secret_in(logs, secrets_of_the_run(token), figures)
