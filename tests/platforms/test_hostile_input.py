"""Authentic deliveries the parsers did not foresee (issue 20, defect 3): timestamps out of range,
a generic `kind` that is a list, a WhatsApp `type` that is an object. Each is answered 400 with
its reason, nothing stored, through the real app (the ASGI shim included)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from app import db
from app.config import Settings
from app.main import create_app
from app.models import Event, Message
from tests.conftest import (
    generic_headers,
    make_settings,
    meta_headers,
    telegram_headers,
    x_headers,
)

OUT_OF_RANGE: list[Any] = [1e30, -1e20, 1.5e308, "1e30", "-1e20", "inf", "nan"]


def generic(created_at: Any = 1700000000, kind: Any = "comment") -> dict[str, Any]:
    return {"id": "g-1", "source": "forum", "kind": kind, "text": "hello", "created_at": created_at}


def telegram(date: Any) -> dict[str, Any]:
    chat = {"id": 42, "type": "private"}
    return {"update_id": 9, "message": {"message_id": 1, "chat": chat, "date": date, "text": "hi"}}


def messenger(timestamp: Any) -> dict[str, Any]:
    item = {"sender": {"id": "77"}, "recipient": {"id": "1111"}, "timestamp": timestamp}
    item["message"] = {"mid": "m-1", "text": "hi"}
    return {"object": "page", "entry": [{"id": "1111", "time": 1, "messaging": [item]}]}


def whatsapp(timestamp: Any = "1700000000", mtype: Any = "text") -> dict[str, Any]:
    message = {"from": "3361", "id": "wamid.1", "timestamp": timestamp, "type": mtype, "text": {"body": "hi"}}
    value = {"metadata": {"phone_number_id": "555"}, "messages": [message]}
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "9", "changes": [{"field": "messages", "value": value}]}],
    }


def x_dm(created_timestamp: Any) -> dict[str, Any]:
    event = {
        "type": "message_create",
        "id": "dm-1",
        "created_timestamp": created_timestamp,
        "message_create": {
            "sender_id": "7",
            "target": {"recipient_id": "42"},
            "message_data": {"text": "hi"},
        },
    }
    return {"for_user_id": "42", "direct_message_events": [event]}


def x_tweet(timestamp_ms: Any) -> dict[str, Any]:
    tweet = {"id_str": "100", "text": "@brand hi", "user": {"id_str": "7"}, "timestamp_ms": timestamp_ms}
    return {"for_user_id": "42", "tweet_create_events": [tweet]}


Signer = Callable[[bytes], dict[str, str]]
ROUTES: dict[str, tuple[str, Signer]] = {
    "generic": ("/webhooks/generic", lambda b: generic_headers(b)),
    "telegram": ("/webhooks/telegram", lambda b: telegram_headers()),
    "meta": ("/webhooks/meta", lambda b: meta_headers(b)),
    "x": ("/webhooks/x", lambda b: x_headers(b)),
}
CASES: list[tuple[str, str, dict[str, Any]]] = [
    *[("generic", f"created_at={v!r}", generic(created_at=v)) for v in OUT_OF_RANGE],
    *[("telegram", f"date={v!r}", telegram(v)) for v in OUT_OF_RANGE],
    *[("meta", f"messenger timestamp={v!r}", messenger(v)) for v in OUT_OF_RANGE],
    *[("meta", f"whatsapp timestamp={v!r}", whatsapp(timestamp=v)) for v in OUT_OF_RANGE],
    *[("x", f"created_timestamp={v!r}", x_dm(v)) for v in OUT_OF_RANGE],
    *[("x", f"timestamp_ms={v!r}", x_tweet(v)) for v in OUT_OF_RANGE],
    ("generic", "an ISO date UTC cannot hold", generic(created_at="0001-01-01T00:00:00+05:00")),
    ("generic", "kind is a list", generic(kind=["comment"])),
    ("generic", "kind is an object", generic(kind={"a": 1})),
    ("meta", "whatsapp type is an object", whatsapp(mtype={"a": 1})),
    ("meta", "whatsapp type is a list", whatsapp(mtype=["text"])),
]


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    url = f"sqlite:///{tmp_path / 'relais.db'}"
    db.upgrade(Settings(database_url=url))
    return make_settings(url)


@pytest.fixture
def app_client(sqlite_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(sqlite_settings)) as c:
        yield c


def stored(settings: Settings) -> tuple[int, int]:
    engine = create_engine(settings.database_url)
    try:
        with Session(engine) as s:
            events = s.scalar(select(func.count()).select_from(Event)) or 0
            messages = s.scalar(select(func.count()).select_from(Message)) or 0
            return events, messages
    finally:
        engine.dispose()


@pytest.mark.parametrize(("platform", "what", "payload"), CASES, ids=[f"{p}: {w}" for p, w, _ in CASES])
def test_unforeseen_authentic_input_is_a_400_with_its_reason(
    app_client: TestClient, sqlite_settings: Settings, platform: str, what: str, payload: dict[str, Any]
) -> None:
    path, sign = ROUTES[platform]
    body = json.dumps(payload).encode()
    r = app_client.post(path, content=body, headers=sign(body))
    assert r.status_code == 400, (what, r.status_code, r.text)
    assert r.json()["error"]["message"].startswith(f"malformed {platform} payload"), r.text
    assert stored(sqlite_settings) == (0, 0)


def test_in_range_values_still_store(app_client: TestClient, sqlite_settings: Settings) -> None:
    """The same payloads with ordinary values are stored: the refusals above are about the values."""
    for platform, payload in [
        ("generic", generic()),
        ("telegram", telegram(1700000000)),
        ("meta", messenger(1700000000000)),
        ("meta", whatsapp()),
        ("x", x_dm("1700000000000")),
        ("x", x_tweet("1700000000000")),
    ]:
        path, sign = ROUTES[platform]
        body = json.dumps(payload).encode()
        r = app_client.post(path, content=body, headers=sign(body))
        assert r.status_code == 200 and r.json()["stored"] == 1, (platform, r.text)
    assert stored(sqlite_settings)[1] == 6
