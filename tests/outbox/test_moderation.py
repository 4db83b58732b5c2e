"""Moderations ride the outbox, end to end against the loopback Graph fake, on SQLite and
PostgreSQL: a hide is made once whatever the retries (500, 429 with Retry-After, a timeout), an
unhide waits for the hide before it, an already deleted comment counts as deleted, a dead
moderation leaves the draft alone and can be resent, every step is in the audit log."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app import audit, db
from app.models import Draft, Message, OutboxAttempt, OutboxItem, utcnow
from app.outbox import service as outbox
from app.outbox.sender import Sender
from tests.conftest import FIXTURES, deliver, make_user, platform_client, x_headers
from tests.fakes.platforms import FakePlatforms


@pytest.fixture
def app_client(database_url: str, fake: FakePlatforms) -> Iterator[TestClient]:
    yield from platform_client(
        database_url,
        fake,
        meta_access_token="page-token-123",
        send_timeout_s=0.5,
        outbox_backoff_base_s=0.05,
        outbox_backoff_max_s=0.2,
        outbox_echo_wait_s=30.0,  # an echo wait would show as a stalled test
    )


def sender(client: TestClient) -> Sender:
    return Sender(client.app.state.settings, client.app.state.sessions, name="t")


def moderate(client: TestClient, external_id: str, action: str, user_id: int | None = 1) -> int:
    """Queue `action` on the comment `external_id` as the service does; the outbox row's id."""
    with db.transaction(client.app.state.sessions) as s:
        message = s.scalar(select(Message).where(Message.external_id == external_id))
        assert message is not None and message.draft is not None
        item = outbox.enqueue_moderation(
            s, draft_id=message.draft.id, message=message, action=action, user_id=user_id, now=utcnow()
        )
        return item.id


def drain(client: TestClient, until: Any, timeout: float = 10.0) -> None:
    s, started = sender(client), time.monotonic()
    while not until() and time.monotonic() - started < timeout:
        s.run_once()
        time.sleep(0.02)
    assert until(), "the outbox did not settle"


def row(client: TestClient, item_id: int) -> OutboxItem:
    with db.transaction(client.app.state.sessions) as s:
        item = s.get(OutboxItem, item_id)
        assert item is not None
        return item


def outcomes(client: TestClient, item_id: int) -> list[str | None]:
    with db.transaction(client.app.state.sessions) as s:
        return list(
            s.scalars(
                select(OutboxAttempt.outcome)
                .where(OutboxAttempt.outbox_id == item_id)
                .order_by(OutboxAttempt.id)
            )
        )


def actions(client: TestClient, external_id: str) -> list[tuple[str, int | None]]:
    with db.transaction(client.app.state.sessions) as s:
        draft_id = s.scalar(select(Draft.id).join(Message).where(Message.external_id == external_id))
        assert draft_id is not None
        return [(e.action, e.actor_id) for e in audit.events(s, draft_id)]


def state(client: TestClient, external_id: str) -> outbox.Moderation:
    with db.transaction(client.app.state.sessions) as s:
        draft_id = s.scalar(select(Draft.id).join(Message).where(Message.external_id == external_id))
        assert draft_id is not None
        return outbox.moderation_of(s, draft_id)


def graph(fake: FakePlatforms, comment: str) -> list[tuple[str, Any]]:
    return [(c["method"], c["json"]) for c in fake.calls if c["path"] == f"/v21.0/{comment}"]


def test_a_hide_is_made_once_through_500_and_429(app_client: TestClient, fake: FakePlatforms) -> None:
    make_user(app_client)
    deliver(app_client, "111_1", "Gagnez un iPhone, cliquez ici")
    fake.script(500, {"error": {"message": "boom", "code": 2}})
    fake.script(429, {"error": {"message": "limit", "code": 4}}, {"Retry-After": "1"})
    item = moderate(app_client, "111_1", "hide")
    assert moderate(app_client, "111_1", "hide") == item  # a double click: the same row
    assert state(app_client, "111_1") == outbox.Moderation(pending="hide")
    started = time.monotonic()
    drain(app_client, lambda: row(app_client, item).status == "sent")
    assert time.monotonic() - started >= 1.0  # never before Retry-After
    assert graph(fake, "111_1") == [("POST", {"is_hidden": True})] * 3
    assert outcomes(app_client, item) == ["retry", "retry", "sent"]
    assert sender(app_client).run_once() == 0 and len(fake.calls) == 3  # nothing more, ever
    assert state(app_client, "111_1") == outbox.Moderation(hidden=True, last="hide")
    assert actions(app_client, "111_1") == [("hide", 1), ("hidden", None)]
    with db.transaction(app_client.app.state.sessions) as s:
        assert s.scalar(select(Draft.status)) == "pending"  # hiding decides nothing about the reply


def test_an_unknown_outcome_is_made_again_without_waiting_for_an_echo(
    app_client: TestClient, fake: FakePlatforms
) -> None:
    deliver(app_client, "111_2", "Arnaque !!! www.example.test")
    fake.delay(1.0, match="/111_2")  # the request left; the answer never came in time
    item = moderate(app_client, "111_2", "hide")
    drain(app_client, lambda: row(app_client, item).status == "sent", timeout=5.0)
    assert outcomes(app_client, item) == ["retry", "sent"]  # no echo wait: simply tried again
    assert len(graph(fake, "111_2")) == 2  # idempotent on the platform: a second hide is harmless


def test_an_unhide_waits_for_the_hide_before_it(app_client: TestClient, fake: FakePlatforms) -> None:
    deliver(app_client, "111_3", "Du spam, peut-être")
    fake.script(429, {"error": {"message": "limit", "code": 4}}, {"Retry-After": "1"})
    hide = moderate(app_client, "111_3", "hide")
    s = sender(app_client)
    assert s.run_once() == 1 and row(app_client, hide).status == "retry"
    unhide = moderate(app_client, "111_3", "unhide")
    assert s.run_once() == 0  # the unhide is due, but the hide is not settled
    drain(app_client, lambda: row(app_client, unhide).status == "sent")
    assert graph(fake, "111_3") == [("POST", {"is_hidden": True})] * 2 + [("POST", {"is_hidden": False})]
    assert state(app_client, "111_3") == outbox.Moderation(hidden=False, last="unhide")
    assert [a for a, _ in actions(app_client, "111_3")] == ["hide", "unhide", "hidden", "unhidden"]


def test_deleting_a_comment_already_gone_counts_as_deleted(
    app_client: TestClient, fake: FakePlatforms
) -> None:
    deliver(app_client, "111_4", "Insultes")
    fake.script(400, {"error": {"message": "Unsupported delete request", "code": 100, "error_subcode": 33}})
    item = moderate(app_client, "111_4", "delete")
    drain(app_client, lambda: row(app_client, item).status == "sent")
    assert [c["method"] for c in fake.calls] == ["DELETE"]
    assert state(app_client, "111_4").deleted
    with db.transaction(app_client.app.state.sessions) as s:
        events = audit.events(s, s.scalar(select(Draft.id)) or 0)
    assert [(e.action, e.data.get("already")) for e in events] == [("delete", None), ("deleted", True)]


def test_a_dead_moderation_leaves_the_draft_alone_and_can_be_resent_once(
    app_client: TestClient, fake: FakePlatforms
) -> None:
    h = make_user(app_client)
    deliver(app_client, "111_5", "Encore du spam")
    fake.script(400, {"error": {"message": "Permissions error", "code": 200}})
    item = moderate(app_client, "111_5", "hide")
    drain(app_client, lambda: row(app_client, item).status == "dead")
    moderation = state(app_client, "111_5")
    assert (moderation.hidden, moderation.failed) == (False, "hide") and "Permissions" in (
        moderation.error or ""
    )
    with db.transaction(app_client.app.state.sessions) as s:
        assert s.scalar(select(Draft.status)) == "pending"
    r = app_client.post(f"/api/outbox/{item}/resend", headers=h)
    assert r.status_code == 200 and r.json()["action"] == "hide"
    drain(app_client, lambda: row(app_client, item).status == "sent")
    assert state(app_client, "111_5") == outbox.Moderation(hidden=True, last="hide")
    assert [a for a, _ in actions(app_client, "111_5")] == ["hide", "hide_failed", "resent", "hidden"]
    with db.transaction(app_client.app.state.sessions) as s:
        assert s.scalar(select(Draft.status)) == "pending"


def test_a_reply_and_moderations_share_the_outbox_one_reply_per_draft(
    app_client: TestClient, fake: FakePlatforms
) -> None:
    h = make_user(app_client)
    deliver(app_client, "111_6", "Vous livrez le dimanche ?")
    [d] = app_client.get("/api/drafts", headers=h).json()["items"]
    hide = moderate(app_client, "111_6", "hide")
    r = app_client.post(
        f"/api/drafts/{d['id']}/approve", json={"version": d["version"], "text": "Oui !"}, headers=h
    )
    assert r.status_code == 200
    drain(app_client, lambda: row(app_client, hide).status == "sent" and state(app_client, "111_6").hidden)
    drain(app_client, lambda: app_client.get(f"/api/drafts/{d['id']}", headers=h).json()["status"] == "sent")
    detail = app_client.get(f"/api/drafts/{d['id']}", headers=h).json()
    assert detail["outbox"]["action"] == "reply" and detail["outbox"]["text"] == "Oui !"
    with db.transaction(app_client.app.state.sessions) as s:
        reply = outbox.reply_of(s, d["id"])
        assert reply is not None and reply.text == "Oui !"
        message = s.scalar(select(Message))
        assert message is not None
        with pytest.raises(Exception, match="(?i)unique"), s.begin_nested():
            outbox.enqueue(s, draft_id=d["id"], message=message, text="Twice", now=utcnow())


def _x_reply(client: TestClient, tweet_id: str, text: str) -> None:
    """A reply to the brand's post on X, through the signed Account Activity webhook."""
    payload = json.loads((FIXTURES / "x_tweet_create.json").read_text())
    tweet = payload["tweet_create_events"][0]
    tweet.update(
        id=int(tweet_id), id_str=tweet_id, text=text, in_reply_to_status_id_str="1205000000000000001"
    )
    body = json.dumps(payload).encode()
    assert client.post("/webhooks/x", content=body, headers=x_headers(body)).status_code == 200


def x_calls(fake: FakePlatforms, tweet_id: str) -> list[tuple[str, Any, str]]:
    return [
        (c["method"], c["json"], c["headers"].get("authorization", ""))
        for c in fake.calls
        if c["path"] == f"/2/tweets/{tweet_id}/hidden"
    ]


@pytest.fixture
def x_client(database_url: str, fake: FakePlatforms) -> Iterator[TestClient]:
    yield from platform_client(
        database_url,
        fake,
        x_access_token="x-user-token",
        send_timeout_s=0.5,
        outbox_backoff_base_s=0.05,
        outbox_backoff_max_s=0.2,
    )


def test_an_x_reply_is_hidden_once_through_503_and_429_then_shown_again(
    x_client: TestClient, fake: FakePlatforms
) -> None:
    client = x_client
    make_user(client)
    _x_reply(client, "1905000000000000001", "Arnaque, n'achetez pas")
    fake.script(503, {"title": "Service Unavailable"}, match="/hidden")
    fake.script(
        429,
        {"title": "Too Many Requests"},
        {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(time.time()) + 1)},
        match="/hidden",
    )
    item = moderate(client, "1905000000000000001", "hide")
    assert moderate(client, "1905000000000000001", "hide") == item
    drain(client, lambda: row(client, item).status == "sent")
    assert outcomes(client, item) == ["retry", "retry", "sent"]
    assert x_calls(fake, "1905000000000000001") == [("PUT", {"hidden": True}, "Bearer x-user-token")] * 3
    assert sender(client).run_once() == 0 and len(x_calls(fake, "1905000000000000001")) == 3
    assert state(client, "1905000000000000001") == outbox.Moderation(hidden=True, last="hide")
    again = moderate(client, "1905000000000000001", "unhide")
    drain(client, lambda: row(client, again).status == "sent")
    assert x_calls(fake, "1905000000000000001")[-1] == ("PUT", {"hidden": False}, "Bearer x-user-token")
    assert state(client, "1905000000000000001") == outbox.Moderation(hidden=False, last="unhide")
    assert actions(client, "1905000000000000001") == [
        ("hide", 1),
        ("hidden", None),
        ("unhide", 1),
        ("unhidden", None),
    ]


def test_x_moderation_is_for_replies_and_never_a_delete(x_client: TestClient) -> None:
    from app.platforms import x

    assert x.X.moderations("x", "mention") == frozenset({"hide", "unhide"})
    assert x.X.moderations("x", "dm") == frozenset()
    client = x_client
    h = make_user(client, "rita")
    _x_reply(client, "1905000000000000002", "Spam spam")
    [d] = client.get("/api/drafts", headers=h).json()["items"]
    r = client.post(f"/api/messages/{d['message']['id']}/delete", json={"confirm": True}, headers=h)
    assert r.status_code in (403, 422)  # a reviewer may not; nobody can on X
    r = client.post(f"/api/messages/{d['message']['id']}/hide", headers=h)
    assert r.status_code == 200 and r.json()["moderation"]["allowed"] == ["hide", "unhide"]
