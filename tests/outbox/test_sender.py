"""Sending back, end to end, against real HTTP fakes of the platforms on loopback, on SQLite and
PostgreSQL: exactly one request per approved reply, retries that respect Retry-After, dead
letters, paused channels, unknown outcomes reconciled by the platform's echo, concurrent senders."""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from app import db
from app.main import create_app
from app.models import Channel, Draft, Message, OutboxAttempt, OutboxItem
from app.outbox import service as outbox
from app.outbox.sender import Sender
from tests.conftest import deliver, make_settings, make_user, meta_headers, platform_client, telegram_headers
from tests.fakes.platforms import FakePlatforms

TOKENS = {
    "meta_access_token": "page-token-123",
    "x_access_token": "x-token",
    "telegram_bot_token": "42:tg-token",
    "slack_bot_token": "xoxb-slack",
}


@pytest.fixture
def app_client(database_url: str, fake: FakePlatforms) -> Iterator[TestClient]:
    yield from platform_client(
        database_url,
        fake,
        **TOKENS,
        send_timeout_s=1.0,
        outbox_backoff_base_s=0.05,
        outbox_echo_wait_s=0.0,
    )


def sender(client: TestClient, name: str = "t") -> Sender:
    return Sender(client.app.state.settings, client.app.state.sessions, name=name)


def approve(client: TestClient, headers: dict[str, str], external_id: str, text: str) -> dict[str, Any]:
    items = client.get("/api/drafts", params={"limit": 200}, headers=headers).json()["items"]
    [d] = [i for i in items if i["message"]["external_id"] == external_id]
    r = client.post(
        f"/api/drafts/{d['id']}/approve", json={"version": d["version"], "text": text}, headers=headers
    )
    assert r.status_code == 200, r.text
    return d


def posts_to(fake: FakePlatforms, fragment: str) -> list[dict[str, Any]]:
    return [c for c in fake.calls if c["method"] == "POST" and fragment in c["path"]]


def item_of(client: TestClient, draft_id: int) -> OutboxItem:
    with db.transaction(client.app.state.sessions) as s:
        return s.scalar(select(OutboxItem).where(OutboxItem.draft_id == draft_id))


def test_approved_reply_is_posted_once_with_the_page_token(
    app_client: TestClient, fake: FakePlatforms
) -> None:
    h = make_user(app_client)
    deliver(app_client, "111_1", "Ma commande n'est pas arrivée")
    d = approve(app_client, h, "111_1", "Bonjour Camille, nous regardons cela tout de suite.")
    s = sender(app_client)
    assert s.run_once() == 1 and s.run_once() == 0
    [call] = posts_to(fake, "/111_1/comments")
    assert call["json"] == {"message": "Bonjour Camille, nous regardons cela tout de suite."}
    assert call["headers"]["authorization"] == "Bearer page-token-123"
    item = item_of(app_client, d["id"])
    assert item.status == "sent" and item.platform_message_id and item.attempts == 1
    detail = app_client.get(f"/api/drafts/{d['id']}", headers=h).json()
    assert detail["status"] == "sent" and [e["action"] for e in detail["history"]][-1] == "sent"
    channels = app_client.get("/api/channels", headers=h).json()
    assert channels[0]["last_sent_at"] and channels[0]["token_state"] == "ok"


def test_rate_limited_then_sent_never_before_retry_after(app_client: TestClient, fake: FakePlatforms) -> None:
    h = make_user(app_client)
    deliver(app_client, "111_2", "Where is my invoice?")
    d = approve(app_client, h, "111_2", "Here it is.")
    fake.script(429, {"error": {"message": "limit", "code": 4}}, {"Retry-After": "1"})
    s = sender(app_client)
    started = time.monotonic()
    s.run_once()
    assert item_of(app_client, d["id"]).status == "retry"
    assert s.run_once() == 0  # not due before Retry-After
    while item_of(app_client, d["id"]).status != "sent" and time.monotonic() - started < 10:
        s.run_once()
        time.sleep(0.05)
    calls = posts_to(fake, "/111_2/comments")
    assert len(calls) == 2 and time.monotonic() - started >= 1.0
    with db.transaction(app_client.app.state.sessions) as session:
        outcomes = [a.outcome for a in session.scalars(select(OutboxAttempt).order_by(OutboxAttempt.id))]
    assert outcomes == ["retry", "sent"]


def test_permanent_error_is_a_dead_letter_without_retry_and_can_be_resent_once(
    app_client: TestClient, fake: FakePlatforms
) -> None:
    h = make_user(app_client)
    deliver(app_client, "111_3", "Vous livrez en Corse ?")
    d = approve(app_client, h, "111_3", "Oui !")
    fake.script(400, {"error": {"message": "Permissions error", "code": 200}})
    s = sender(app_client)
    s.run_once()
    time.sleep(0.2)
    s.run_once()
    assert len(posts_to(fake, "/111_3/comments")) == 1
    dead = app_client.get("/api/outbox", params={"status": "dead"}, headers=h).json()
    assert [x["draft_id"] for x in dead] == [d["id"]] and "Permissions" in dead[0]["last_error"]
    assert app_client.get(f"/api/drafts/{d['id']}", headers=h).json()["status"] == "failed"
    r = app_client.post(f"/api/outbox/{dead[0]['id']}/resend", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "queued"
    s.run_once()
    assert len(posts_to(fake, "/111_3/comments")) == 2 and item_of(app_client, d["id"]).status == "sent"
    assert app_client.post(f"/api/outbox/{dead[0]['id']}/resend", headers=h).status_code == 409


def test_expired_token_pauses_the_channel(app_client: TestClient, fake: FakePlatforms) -> None:
    h = make_user(app_client)
    admin = make_user(app_client, "admin", "admin")
    deliver(app_client, "111_4", "Do you ship to Belgium?")
    deliver(app_client, "111_5", "Do you ship to Spain?")
    d4 = approve(app_client, h, "111_4", "Yes.")
    fake.script(400, {"error": {"message": "Session has expired", "code": 190, "error_subcode": 463}})
    s = sender(app_client)
    s.run_once()
    d5 = approve(app_client, h, "111_5", "Yes too.")
    assert s.run_once() == 0  # the channel is paused: nothing is attempted
    assert len(fake.calls) == 1
    [channel] = app_client.get("/api/channels", headers=h).json()
    assert channel["paused"] and channel["token_state"] == "expired"
    assert item_of(app_client, d4["id"]).status == "dead"
    assert app_client.post("/api/channels/meta/1111/resume", headers=admin).status_code == 200
    assert s.run_once() == 1 and item_of(app_client, d5["id"]).status == "sent"


def test_sender_killed_after_posting_is_reconciled_by_the_echo(
    app_client: TestClient, fake: FakePlatforms
) -> None:
    """The reply left, the sender died before recording it: the Page's own comment comes back
    through the webhook, and the reply is marked sent without a second post."""
    h = make_user(app_client)
    deliver(app_client, "111_6", "Colis abîmé")
    d = approve(app_client, h, "111_6", "Désolés, on s'en occupe.")
    s = sender(app_client)
    with db.transaction(app_client.app.state.sessions) as session:
        [claimed] = outbox.claim(session, worker=s.worker, lease_s=0.1)
    from app.platforms import sending as clients

    result = clients.send(
        s.client,
        s.settings,
        clients.Outgoing(
            claimed.platform, claimed.channel, claimed.account_id, claimed.target, claimed.text, "k"
        ),
        now=dt.datetime.now(dt.UTC),
    )
    assert result.outcome == "sent"  # ... and then the process dies: nothing recorded
    echo = json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": "1111",
                    "changes": [
                        {
                            "field": "feed",
                            "value": {
                                "item": "comment",
                                "verb": "add",
                                "comment_id": "111_6_reply",
                                "parent_id": "111_6",
                                "post_id": "1111_2222",
                                "message": "Désolés, on s'en occupe.",
                                "from": {"id": "1111", "name": "Brand"},
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()
    assert app_client.post("/webhooks/meta", content=echo, headers=meta_headers(echo)).json()["stored"] == 0
    time.sleep(0.15)  # the lease expires
    fresh = sender(app_client, "other")
    assert fresh.run_once() == 1
    assert len(posts_to(fake, "/111_6/comments")) == 1
    item = item_of(app_client, d["id"])
    assert item.status == "sent" and item.platform_message_id == "111_6_reply"
    with db.transaction(app_client.app.state.sessions) as session:  # the echo created no message
        assert session.scalar(select(Message).where(Message.external_id == "111_6_reply")) is None


def page_reply_echo(parent_id: str, reply_id: str, text: str, page: str = "1111") -> bytes:
    """The Page's own reply to comment `parent_id`, as the feed webhook sends it back."""
    value = {
        "item": "comment",
        "verb": "add",
        "comment_id": reply_id,
        "parent_id": parent_id,
        "post_id": f"{page}_2222",
        "message": text,
        "from": {"id": page, "name": "Brand"},
    }
    change = {"field": "feed", "value": value}
    return json.dumps({"object": "page", "entry": [{"id": page, "changes": [change]}]}).encode()


def test_echo_after_a_failed_resend_still_means_sent(app_client: TestClient, fake: FakePlatforms) -> None:
    """Defect 1 of issue 20: the first post times out (it did reach the platform), the resend gets a
    500 (state `retry`), then the first post's echo arrives: the next attempt must see the echo and
    mark the reply sent, not post it a second time."""
    h = make_user(app_client)
    deliver(app_client, "111_9", "Colis jamais reçu")
    d = approve(app_client, h, "111_9", "Nous relançons le transporteur.")
    fake.delay(2.0, match="/111_9/")  # longer than send_timeout_s: outcome unknown
    s = sender(app_client)
    s.run_once()
    assert item_of(app_client, d["id"]).status == "unknown"
    fake.script(500, {"error": {"message": "temporary", "code": 2}}, match="/111_9/")
    s.run_once()  # no echo yet: resent, and the platform answers 500
    assert item_of(app_client, d["id"]).status == "retry"
    echo = page_reply_echo("111_9", "111_9_reply", "Nous relançons le transporteur.")
    assert app_client.post("/webhooks/meta", content=echo, headers=meta_headers(echo)).status_code == 200
    deadline = time.monotonic() + 10
    while item_of(app_client, d["id"]).status == "retry" and time.monotonic() < deadline:
        s.run_once()
        time.sleep(0.05)
    item = item_of(app_client, d["id"])
    assert item.status == "sent" and item.platform_message_id == "111_9_reply"
    assert len(posts_to(fake, "/111_9/comments")) == 2  # the timed-out one and the 500: never a third


def test_echo_is_consulted_again_after_an_admin_resend(app_client: TestClient, fake: FakePlatforms) -> None:
    """A reply whose first outcome was unknown, then given up (dead) and resent by an admin: an echo
    seen meanwhile means it was posted after all."""
    h = make_user(app_client)
    deliver(app_client, "111_10", "Retour possible ?")
    d = approve(app_client, h, "111_10", "Oui, sous 30 jours.")
    fake.delay(2.0, match="/111_10/")
    s = sender(app_client)
    s.run_once()  # unknown
    fake.script(400, {"error": {"message": "Permissions error", "code": 200}}, match="/111_10/")
    s.run_once()  # no echo: resent, refused for good
    item = item_of(app_client, d["id"])
    assert item.status == "dead"
    echo = page_reply_echo("111_10", "111_10_reply", "Oui, sous 30 jours.")
    assert app_client.post("/webhooks/meta", content=echo, headers=meta_headers(echo)).status_code == 200
    assert app_client.post(f"/api/outbox/{item.id}/resend", headers=h).status_code == 200
    s.run_once()
    item = item_of(app_client, d["id"])
    assert item.status == "sent" and item.platform_message_id == "111_10_reply"
    assert len(posts_to(fake, "/111_10/comments")) == 2


def test_read_timeout_is_unknown_then_resent_when_no_echo(
    app_client: TestClient, fake: FakePlatforms
) -> None:
    h = make_user(app_client)
    deliver(app_client, "111_7", "Horaires ?")
    d = approve(app_client, h, "111_7", "9h-19h.")
    fake.delay(2.0, match="/111_7/")
    s = sender(app_client)
    s.run_once()
    assert item_of(app_client, d["id"]).status == "unknown"
    s.run_once()  # echo wait is 0 in this test: no echo came, so it is sent again
    assert item_of(app_client, d["id"]).status == "sent"
    assert len(posts_to(fake, "/111_7/")) == 2


def test_unknown_outcome_on_a_platform_without_echo_goes_to_dead_letters(
    app_client: TestClient, fake: FakePlatforms
) -> None:
    h = make_user(app_client)
    update_ = {
        "update_id": 9,
        "message": {
            "message_id": 5,
            "chat": {"id": 77, "type": "private"},
            "from": {"id": 77, "first_name": "Ana"},
            "date": int(time.time()),
            "text": "Bonjour, ma box ne marche plus",
        },
    }
    body = json.dumps(update_).encode()
    assert app_client.post("/webhooks/telegram", content=body, headers=telegram_headers()).status_code == 200
    d = approve(app_client, h, "77:5", "On regarde !")
    fake.delay(2.0, match="sendMessage")
    s = sender(app_client)
    s.run_once()
    s.run_once()
    item = item_of(app_client, d["id"])
    assert item.status == "dead" and "unknown" in item.last_error
    assert len(posts_to(fake, "sendMessage")) == 1  # never posted twice
    [call] = posts_to(fake, "sendMessage")
    assert call["path"] == "/bot42:tg-token/sendMessage"
    assert call["json"]["chat_id"] == 77 and call["json"]["reply_parameters"]["message_id"] == 5


def test_concurrent_senders_post_each_reply_once(app_client: TestClient, fake: FakePlatforms) -> None:
    h = make_user(app_client)
    for i in range(30):
        deliver(app_client, f"222_{i}", f"Question {i} : vous livrez le samedi ?")
    for i in range(30):
        approve(app_client, h, f"222_{i}", f"Oui ({i}).")
    senders = [sender(app_client, f"w{k}") for k in range(3)]

    def drain(s: Sender) -> None:
        for _ in range(50):
            if s.run_once() == 0:
                time.sleep(0.02)

    threads = [threading.Thread(target=drain, args=(s,)) for s in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    paths = [c["path"] for c in fake.calls]
    assert len(paths) == 30 and len(set(paths)) == 30
    with db.transaction(app_client.app.state.sessions) as session:
        assert {i.status for i in session.scalars(select(OutboxItem))} == {"sent"}
        assert {d.status for d in session.scalars(select(Draft))} == {"sent"}


def test_in_process_sender_sends_after_approval(database_url: str, fake: FakePlatforms) -> None:
    settings = make_settings(
        database_url,
        **fake.settings_overrides(),
        **TOKENS,
        outbox_in_process=True,
        outbox_poll_interval_s=0.1,
    )
    with TestClient(create_app(settings)) as c:
        h = make_user(c)
        deliver(c, "333_1", "Vous faites la livraison express ?")
        approve(c, h, "333_1", "Oui, en 24 h.")
        deadline = time.time() + 10
        while time.time() < deadline and not posts_to(fake, "/333_1/comments"):
            time.sleep(0.1)
    assert len(posts_to(fake, "/333_1/comments")) == 1


def test_x_whatsapp_slack_replies_reach_the_right_endpoints(
    app_client: TestClient, fake: FakePlatforms
) -> None:
    from tests.conftest import FIXTURES, slack_headers, x_headers

    h = make_user(app_client)
    for name, route, headers in [
        ("x_tweet_create.json", "x", x_headers),
        ("slack_event.json", "slack", slack_headers),
        ("whatsapp_text_metadocs.json", "meta", meta_headers),
    ]:
        body = (FIXTURES / name).read_bytes()
        if name.startswith("whatsapp"):  # a fresh message: inside the 24-hour window
            data = json.loads(body)
            data["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = str(int(time.time()))
            body = json.dumps(data).encode()
        assert app_client.post(f"/webhooks/{route}", content=body, headers=headers(body)).status_code == 200
    approve(app_client, h, "1205348660982083584", "Thanks for the test!")
    approve(app_client, h, "C111:1595926230.009600", "Hi there!")
    wamid = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    approve(app_client, h, wamid, "Yes, in blue and red.")
    s = sender(app_client)
    while s.run_once():
        pass
    [tweet] = posts_to(fake, "/2/tweets")
    assert tweet["json"] == {
        "text": "Thanks for the test!",
        "reply": {"in_reply_to_tweet_id": "1205348660982083584"},
    }
    [slack] = posts_to(fake, "chat.postMessage")
    assert slack["json"]["channel"] == "C111" and slack["json"]["thread_ts"] == "1595926230.009600"
    [wa] = posts_to(fake, "/106540352242922/messages")
    assert wa["json"]["to"] == "16505551234" and wa["json"]["context"] == {"message_id": wamid}
    with db.transaction(app_client.app.state.sessions) as session:
        assert {i.status for i in session.scalars(select(OutboxItem))} == {"sent"}


def test_pausing_a_channel_never_seen_before_creates_it_paused(app_client: TestClient) -> None:
    with db.transaction(app_client.app.state.sessions) as session:
        outbox.pause_channel(session, platform="x", account_id="new", reason="token rejected")
    with db.transaction(app_client.app.state.sessions) as session:
        [c] = session.scalars(select(Channel).where(Channel.platform == "x")).all()
        assert c.paused and c.token_state == "expired"
        session.execute(update(Channel).values(paused=False))


def test_an_account_with_its_own_token_uses_it(database_url: str, fake: FakePlatforms) -> None:
    settings = make_settings(
        database_url,
        **fake.settings_overrides(),
        **TOKENS,
        account_tokens={"meta:2222": "token-of-page-2222"},
    )
    with TestClient(create_app(settings)) as c:
        h = make_user(c)
        deliver(c, "444_1", "Vous livrez à Lille ?", page="2222")
        deliver(c, "444_2", "Vous livrez à Nantes ?", page="1111")
        approve(c, h, "444_1", "Oui.")
        approve(c, h, "444_2", "Oui aussi.")
        s = sender(c)
        while s.run_once():
            pass
    [own] = posts_to(fake, "/444_1/comments")
    [shared] = posts_to(fake, "/444_2/comments")
    assert own["headers"]["authorization"] == "Bearer token-of-page-2222"
    assert shared["headers"]["authorization"] == "Bearer page-token-123"


def test_each_failed_send_is_a_warning_with_its_reason(
    app_client: TestClient, fake: FakePlatforms, caplog: pytest.LogCaptureFixture
) -> None:
    """Six refused connections used to be silent (issue 19): each failed send says why, and what next."""
    h = make_user(app_client)
    deliver(app_client, "111_9", "Vous livrez en Corse ?")
    d = approve(app_client, h, "111_9", "Oui !")
    fake.script(400, {"error": {"message": "Permissions error", "code": 200}})
    with caplog.at_level(logging.WARNING, logger="relais.outbox"):
        sender(app_client).run_once()
    [line] = [r.getMessage() for r in caplog.records if r.name == "relais.outbox"]
    item = item_of(app_client, d["id"])
    assert line.startswith(f"reply {item.id} (facebook, attempt 1) not sent: ") and "Permissions" in line
    assert line.endswith("given up (dead letter)")
    assert "page-token-123" not in caplog.text


def test_a_refused_connection_is_a_warning_and_a_retry(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    settings = make_settings(database_url, meta_graph_url=closed, **TOKENS, send_timeout_s=1.0)
    with TestClient(create_app(settings)) as c:
        h = make_user(c)
        deliver(c, "111_10", "Où est ma commande ?")
        d = approve(c, h, "111_10", "Elle arrive.")
        with caplog.at_level(logging.WARNING, logger="relais.outbox"):
            sender(c).run_once()
        assert item_of(c, d["id"]).status == "retry"
    [line] = [r.getMessage() for r in caplog.records if r.name == "relais.outbox"]
    assert "not sent: connection failed" in line and "next try in" in line, line


def pending_gauge(client: TestClient) -> float:
    lines = client.get("/metrics").text.splitlines()
    [line] = [ln for ln in lines if ln.startswith("relais_outbox_pending ")]
    return float(line.split()[1])


def test_metrics_count_the_replies_waiting_to_be_sent(app_client: TestClient) -> None:
    h = make_user(app_client)
    assert pending_gauge(app_client) == 0
    deliver(app_client, "111_m1", "Ma commande n'est pas arrivée")
    deliver(app_client, "111_m2", "Toujours rien reçu")
    approve(app_client, h, "111_m1", "Bonjour, nous regardons.")
    approve(app_client, h, "111_m2", "Bonjour, nous regardons aussi.")
    assert pending_gauge(app_client) == 2
    assert sender(app_client).run_once() == 2
    assert pending_gauge(app_client) == 0
