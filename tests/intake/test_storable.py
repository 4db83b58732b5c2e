"""Authentic deliveries PostgreSQL would refuse as they are (issue 20, defect 2): a NUL in any
string, a string longer than its column. Stored the same on SQLite and PostgreSQL (NUL removed,
long names cut), or refused with a 400 that says why when an id is too long: never a 503."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.models import Echo, Event, Message
from tests.conftest import generic_headers, meta_headers, slack_headers


def stored(settings: Settings, model: Any) -> list[Any]:
    engine = create_engine(settings.database_url)
    try:
        with Session(engine) as s:
            return list(s.scalars(select(model).order_by(model.id)))
    finally:
        engine.dispose()


def generic_post(client: TestClient, item: dict[str, Any], msg_id: str = "msg_1") -> Any:
    body = json.dumps(item).encode()
    return client.post("/webhooks/generic", content=body, headers=generic_headers(body, msg_id))


def test_nul_is_removed_from_every_string(client: TestClient, settings: Settings) -> None:
    item = {
        "id": "g\u00001",
        "source": "forum\u0000",
        "kind": "comment",
        "thread_id": "t\u00009",
        "author": {"id": "a\u00007", "name": "Cam\u0000ille", "handle": "@cam\u0000"},
        "text": "Bon\u0000jour",
        "subject": "sub\u0000ject",
    }
    r = generic_post(client, item)
    assert r.status_code == 200 and r.json()["stored"] == 1, r.text
    [m] = stored(settings, Message)
    assert (m.external_id, m.account_id, m.conversation_id, m.author_id) == ("g1", "forum", "t9", "a7")
    assert (m.author_name, m.author_handle, m.text, m.extra["subject"]) == (
        "Camille",
        "@cam",
        "Bonjour",
        "subject",
    )
    # the same message again, NUL or not, is the same message
    item["id"] = "g1"
    assert generic_post(client, item, "msg_2").json() == {
        "ok": True,
        "stored": 0,
        "duplicates": 1,
        "ignored": 0,
    }


def test_nul_in_slack_ids_echoes_and_the_delivery_id(client: TestClient, settings: Settings) -> None:
    event = {
        "type": "event_callback",
        "team_id": "T\u00001",
        "event_id": "Ev\u00001",
        "event": {"type": "message", "channel": "C1", "user": "U\u00001", "text": "hi\u0000", "ts": "1.5"},
    }
    body = json.dumps(event).encode()
    r = client.post("/webhooks/slack", content=body, headers=slack_headers(body))
    assert r.status_code == 200 and r.json()["stored"] == 1, r.text
    [m] = stored(settings, Message)
    assert (m.account_id, m.author_id, m.text) == ("T1", "U1", "hi")
    assert [e.delivery_id for e in stored(settings, Event)] == ["Ev1"]
    bot = {**event, "event_id": "Ev2", "event": {**event["event"], "bot_id": "B\u00001", "ts": "2.5"}}
    body = json.dumps(bot).encode()
    assert client.post("/webhooks/slack", content=body, headers=slack_headers(body)).status_code == 200
    assert [(e.account_id, e.text) for e in stored(settings, Echo)] == [("T1", "hi")]


def test_long_names_are_cut_long_ids_refused_with_the_reason(client: TestClient, settings: Settings) -> None:
    name = "N" * 300
    r = generic_post(client, {"id": "g-long-name", "text": "hello", "author": {"name": name, "handle": name}})
    assert r.status_code == 200 and r.json()["stored"] == 1, r.text
    [m] = stored(settings, Message)
    assert m.author_name == "N" * 255 and m.author_handle == "N" * 255 and m.external_id == "g-long-name"

    r = generic_post(client, {"id": "x" * 256, "text": "hello"}, "msg_2")
    assert r.status_code == 400, r.text
    assert "external_id is 256 characters long; at most 255 are stored" in r.json()["error"]["message"]
    r = generic_post(client, {"id": "g-2", "source": "s" * 129, "text": "hello"}, "msg_3")
    assert r.status_code == 400 and "account_id is 129 characters long" in r.json()["error"]["message"]
    assert len(stored(settings, Message)) == 1 and len(stored(settings, Event)) == 1


def test_a_long_delivery_id_is_cut_and_the_message_kept(client: TestClient, settings: Settings) -> None:
    event = {
        "type": "event_callback",
        "team_id": "T1",
        "event_id": "E" * 500,
        "event": {"type": "message", "channel": "C1", "user": "U1", "text": "hi", "ts": "1.5"},
    }
    body = json.dumps(event).encode()
    r = client.post("/webhooks/slack", content=body, headers=slack_headers(body))
    assert r.status_code == 200 and r.json()["stored"] == 1, r.text
    assert [e.delivery_id for e in stored(settings, Event)] == ["E" * 128]


def test_an_echo_with_an_overlong_id_is_ignored(client: TestClient, settings: Settings) -> None:
    """Our own comment, echoed with an id no reply of ours can have: ignored, nothing refused."""
    change = {
        "field": "feed",
        "value": {"item": "comment", "verb": "add", "comment_id": "c" * 300, "from": {"id": "1111"}},
    }
    body = json.dumps({"object": "page", "entry": [{"id": "1111", "changes": [change]}]}).encode()
    r = client.post("/webhooks/meta", content=body, headers=meta_headers(body))
    assert r.status_code == 200 and r.json()["ignored"] == 1, r.text
    assert stored(settings, Echo) == []
