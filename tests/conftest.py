"""Shared fixtures: a real SQLite file and a real PostgreSQL per test, the app through its factory.

PostgreSQL tests use a fresh database cloned from a migrated template (fast, fully isolated).
Without PostgreSQL they are skipped with the reason, except under CI (CI=true), where a missing
service fails the run.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from app import db
from app.config import Settings
from app.main import create_app
from tests.fakes.platforms import FakePlatforms

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "webhooks"
PG_ADMIN = os.environ.get("RELAIS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"

SECRETS = {
    "meta_app_secret": "test-meta-app-secret",
    "meta_verify_token": "test-verify-token",
    "x_consumer_secret": "test-x-consumer-secret",
    "telegram_secret_token": "test-telegram-secret",
    "slack_signing_secret": "test-slack-signing-secret",
    "generic_secret": "whsec_" + base64.b64encode(b"test-generic-secret-0123456789").decode(),
}

_counter = itertools.count()
_pg_state: dict[str, Any] = {}


def _pg_available() -> str | None:
    if "error" not in _pg_state:
        try:
            with psycopg.connect(PG_ADMIN, connect_timeout=3, autocommit=True) as conn:
                conn.execute("SELECT 1")
            _pg_state["error"] = None
        except psycopg.Error as e:
            _pg_state["error"] = str(e).splitlines()[0]
    return _pg_state["error"]


def _pg_url(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name


def _pg_template() -> str:
    if "template" not in _pg_state:
        name = f"relais_tpl_{os.getpid()}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        db.upgrade(Settings(database_url=_pg_url(name)))
        _pg_state["template"] = name
    return _pg_state["template"]


def new_pg_database() -> str:
    error = _pg_available()
    if error is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI and unavailable: {error}")
        pytest.skip(f"no PostgreSQL at {PG_ADMIN}: {error}")
    template = _pg_template()
    name = f"relais_t_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


def drop_pg_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    template = _pg_state.get("template")
    if template:
        drop_pg_database(template)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'relais.db'}"
    db.upgrade(Settings(database_url=url))
    return url


@pytest.fixture
def pg_url() -> Iterator[str]:
    name = new_pg_database()
    try:
        yield _pg_url(name)
    finally:
        drop_pg_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using this runs twice: on a real SQLite file and on the local PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'relais.db'}"
        db.upgrade(Settings(database_url=url))
        yield url
        return
    name = new_pg_database()
    try:
        yield _pg_url(name)
    finally:
        drop_pg_database(name)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "environment": "test",
        "outbox_in_process": False,
        "intake_process": False,
        "model_reload_interval_s": 3600.0,
        **SECRETS,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def fake() -> Iterator[FakePlatforms]:
    """The platforms' APIs as one small real server on loopback (tests/fakes/platforms.py)."""
    with FakePlatforms() as f:
        yield f


def platform_client(database_url: str, fake: FakePlatforms, **overrides: Any) -> Iterator[TestClient]:
    """The app, sending to the fake platforms, with these settings: for an `app_client` fixture."""
    with TestClient(create_app(make_settings(database_url, **fake.settings_overrides(), **overrides))) as c:
        yield c


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


# -- signing helpers, as the platforms do it -------------------------------------------------------


def fb_removal(comment_id: str, *, page: str = "1111") -> bytes:
    """A Meta feed delivery saying the customer deleted comment `comment_id`."""
    change = {"field": "feed", "value": {"item": "comment", "verb": "remove", "comment_id": comment_id}}
    return json.dumps({"object": "page", "entry": [{"id": page, "changes": [change]}]}).encode()


def meta_headers(body: bytes, secret: str = SECRETS["meta_app_secret"]) -> dict[str, str]:
    sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={sig}"}


def x_headers(body: bytes, secret: str = SECRETS["x_consumer_secret"]) -> dict[str, str]:
    sig = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return {"Content-Type": "application/json", "x-twitter-webhooks-signature": f"sha256={sig}"}


def telegram_headers(secret: str = SECRETS["telegram_secret_token"]) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret}


def slack_headers(
    body: bytes, secret: str = SECRETS["slack_signing_secret"], ts: int | None = None
) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    base = f"v0:{ts}:".encode() + body
    sig = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Slack-Signature": sig,
        "X-Slack-Request-Timestamp": str(ts),
    }


def generic_headers(
    body: bytes, msg_id: str = "msg_1", secret: str = SECRETS["generic_secret"], ts: int | None = None
) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    key = base64.b64decode(secret.removeprefix("whsec_"))
    sig = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": f"v1,{sig}",
    }


def fb_comment(
    comment_id: str, text: str, *, page: str = "1111", author: str = "5555", name: str = "Camille Martin"
) -> bytes:
    return json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": page,
                    "time": int(time.time()),
                    "changes": [
                        {
                            "field": "feed",
                            "value": {
                                "from": {"id": author, "name": name},
                                "message": text,
                                "post_id": f"{page}_2222",
                                "comment_id": comment_id,
                                "parent_id": f"{page}_2222",
                                "created_time": int(time.time()),
                                "item": "comment",
                                "verb": "add",
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()


def make_user(
    client: TestClient, name: str = "camille", role: str = "reviewer", password: str | None = None
) -> dict[str, str]:
    """Create a user in the app's database; returns the Authorization header of its token."""
    from app.users import service as users

    with db.transaction(client.app.state.sessions) as session:
        _, token = users.create(session, name=name, role=role, password=password)
    return {"Authorization": f"Bearer {token}"}


def deliver(client: TestClient, comment_id: str, text: str, **kwargs: Any) -> None:
    body = fb_comment(comment_id, text, **kwargs)
    r = client.post("/webhooks/meta", content=body, headers=meta_headers(body))
    assert r.status_code == 200, r.text


def social_rows(repeat: int = 25) -> list[tuple[str, str, str]]:
    """A tiny, clear-cut training set (lang, text, label) in French and English, for fast trainings."""
    base = [
        ("fr", "Vous livrez le dimanche ?", "question"),
        ("en", "Do you ship to Canada?", "question"),
        ("fr", "Ma commande n'est jamais arrivée, c'est honteux", "complaint"),
        ("en", "My parcel is lost and nobody answers", "complaint"),
        ("fr", "Ce serait top d'avoir un mode sombre", "suggestion"),
        ("en", "You should add a dark mode", "suggestion"),
        ("fr", "Merci pour tout, super équipe", "other"),
        ("en", "Thanks, you rock", "other"),
    ]
    return [(lang, f"{text} {i}", label) for i in range(repeat) for lang, text, label in base]


def write_social_csv(path: Path, rows: list[tuple[str, str, str]]) -> None:
    """Write rows (lang, text, label) in the team's social CSV format."""
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "lang", "kind", "sector", "text", "label"])
        for index, (lang, text, label) in enumerate(rows):
            writer.writerow([f"t_{index:04d}", lang, "comment", "retail", text, label])
