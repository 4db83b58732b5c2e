"""The webhook endpoints through the app, on a real SQLite file and on the local PostgreSQL:
handshakes, refusals with nothing stored, every fixture's outcome, batches, concurrent
duplicates, and 503 when the database is down."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.main import create_app
from app.models import Channel, Draft, DraftEvent, Echo, Event, Message
from tests.conftest import (
    FIXTURES,
    fb_comment,
    fb_removal,
    generic_headers,
    make_settings,
    meta_headers,
    slack_headers,
    telegram_headers,
    x_headers,
)


def count(settings: Settings, model: Any) -> int:
    engine = create_engine(settings.database_url)
    try:
        with Session(engine) as s:
            return s.scalar(select(func.count()).select_from(model)) or 0
    finally:
        engine.dispose()


def rows(settings: Settings, model: Any) -> list[Any]:
    engine = create_engine(settings.database_url)
    try:
        with Session(engine) as s:
            return list(s.scalars(select(model).order_by(model.id)))
    finally:
        engine.dispose()


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# fixture -> (route, messages expected, own-echoes expected)
FIXTURE_OUTCOMES = {
    "facebook_feed_comment.json": ("meta", 0, 1),
    "messenger_delivery.json": ("meta", 0, 0),
    "messenger_text.json": ("meta", 1, 0),
    "whatsapp_status.json": ("meta", 0, 1),
    "whatsapp_text_metadocs.json": ("meta", 1, 0),
    "x_dm.json": ("x", 1, 0),
    "x_activity_dm_received.json": ("x", 1, 0),
    "x_tweet_create.json": ("x", 1, 0),
    "telegram_message.json": ("telegram", 1, 0),
    "slack_event.json": ("slack", 1, 0),
}


def signed(route: str, body: bytes) -> dict[str, str]:
    return {"meta": meta_headers, "x": x_headers, "slack": slack_headers, "generic": generic_headers}.get(
        route, lambda b: telegram_headers()
    )(body)


def test_every_fixture_once(client: TestClient, settings: Settings) -> None:
    total_messages = total_own = 0
    for name, (route, n_messages, n_own) in FIXTURE_OUTCOMES.items():
        body = fixture_bytes(name)
        r = client.post(f"/webhooks/{route}", content=body, headers=signed(route, body))
        assert r.status_code == 200, (name, r.text)
        assert r.json()["stored"] == n_messages, name
        total_messages += n_messages
        total_own += n_own
    assert count(settings, Message) == total_messages
    assert count(settings, Draft) == total_messages  # one pending draft per message
    assert count(settings, Echo) == total_own
    assert count(settings, Event) == len(FIXTURE_OUTCOMES)  # every authentic delivery journaled
    # replaying every fixture changes nothing
    for name, (route, _, _) in FIXTURE_OUTCOMES.items():
        body = fixture_bytes(name)
        r = client.post(f"/webhooks/{route}", content=body, headers=signed(route, body))
        assert r.status_code == 200 and r.json()["stored"] == 0
    assert count(settings, Message) == total_messages
    assert count(settings, Event) == len(FIXTURE_OUTCOMES)


def test_message_is_normalised_classified_and_drafted(client: TestClient, settings: Settings) -> None:
    body = fb_comment(
        "c_1", "Ma commande n'est toujours pas arrivée après deux semaines, c'est inadmissible !"
    )
    assert client.post("/webhooks/meta", content=body, headers=meta_headers(body)).status_code == 200
    [m] = rows(settings, Message)
    assert (m.platform, m.channel, m.account_id, m.external_id, m.kind) == (
        "meta",
        "facebook",
        "1111",
        "c_1",
        "comment",
    )
    assert m.author_name == "Camille Martin" and m.created_at is not None and m.received_at is not None
    assert m.created_at.tzinfo is not None
    if client.app.state.holder.version:  # the shipped model is present
        assert m.category == "complaint" and m.language == "fr"
        assert m.model_version == client.app.state.holder.version
        assert abs(sum(m.scores.values()) - 1) < 0.01
    [d] = rows(settings, Draft)
    assert d.message_id == m.id and d.status == "pending" and d.version == 1
    assert rows(settings, DraftEvent) == []  # the draft row itself records its proposal
    assert d.created_at is not None
    [journal] = rows(settings, Event)
    assert journal.body == body and m.event_id == journal.id
    assert "x-hub-signature-256" in journal.headers
    [channel] = rows(settings, Channel)
    assert (channel.platform, channel.account_id) == ("meta", "1111") and channel.last_event_at is not None


def test_same_delivery_five_times_concurrently_gives_one_message(
    client: TestClient, settings: Settings
) -> None:
    body = fb_comment("c_dup", "Vous livrez en Belgique ?")
    with ThreadPoolExecutor(5) as ex:
        codes = list(
            ex.map(
                lambda _: client.post("/webhooks/meta", content=body, headers=meta_headers(body)).status_code,
                range(5),
            )
        )
    assert codes == [200] * 5
    assert count(settings, Message) == 1 and count(settings, Draft) == 1


def test_same_message_in_different_deliveries_is_stored_once(database_url: str, tmp_path: Path) -> None:
    """Two server instances (as two processes would) receive different bodies carrying one comment."""
    settings = make_settings(database_url)
    a = fb_comment("c_same", "Bonjour, horaires du magasin ?")
    b = json.dumps({**json.loads(a), "extra_field": 1}).encode()  # another body, same comment
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        barrier = threading.Barrier(2)

        def send(args: tuple[TestClient, bytes]) -> int:
            c, body = args
            barrier.wait()
            return c.post("/webhooks/meta", content=body, headers=meta_headers(body)).status_code

        with ThreadPoolExecutor(2) as ex:
            assert list(ex.map(send, [(one, a), (two, b)])) == [200, 200]
    assert count(settings, Message) == 1 and count(settings, Event) == 2


def test_batched_meta_delivery_stores_every_item(client: TestClient, settings: Settings) -> None:
    changes = [
        {
            "field": "feed",
            "value": {
                "item": "comment",
                "verb": "add",
                "comment_id": f"b_{i}",
                "post_id": "p",
                "message": f"message {i}",
                "from": {"id": f"u{i}"},
            },
        }
        for i in range(300)
    ]
    body = json.dumps(
        {
            "object": "page",
            "entry": [{"id": "P1", "changes": changes[:150]}, {"id": "P1", "changes": changes[150:]}],
        }
    ).encode()
    r = client.post("/webhooks/meta", content=body, headers=meta_headers(body))
    assert r.status_code == 200 and r.json()["stored"] == 300
    assert count(settings, Message) == 300 and count(settings, Draft) == 300


@pytest.mark.parametrize(
    "route,headers",
    [
        ("meta", {"X-Hub-Signature-256": "sha256=" + "0" * 64}),
        ("meta", {}),
        ("x", {"x-twitter-webhooks-signature": "sha256=AAAA"}),
        ("telegram", {"X-Telegram-Bot-Api-Secret-Token": "wrong"}),
        ("slack", {"X-Slack-Signature": "v0=00", "X-Slack-Request-Timestamp": str(int(time.time()))}),
        (
            "generic",
            {"webhook-id": "m", "webhook-timestamp": str(int(time.time())), "webhook-signature": "v1,AAAA"},
        ),
    ],
)
def test_bad_signature_is_401_and_nothing_stored(
    client: TestClient, settings: Settings, route: str, headers: dict[str, str]
) -> None:
    body = fb_comment("c_bad", "hello")
    r = client.post(
        f"/webhooks/{route}", content=body, headers={"Content-Type": "application/json", **headers}
    )
    assert r.status_code == 401
    assert "signature" in r.json()["error"]["message"]
    assert count(settings, Event) == 0 and count(settings, Message) == 0


def test_tampered_body_and_wrong_secret(client: TestClient, settings: Settings) -> None:
    body = fb_comment("c_t", "hello")
    headers = meta_headers(body)
    assert (
        client.post("/webhooks/meta", content=body.replace(b"hello", b"hullo"), headers=headers).status_code
        == 401
    )
    assert (
        client.post("/webhooks/meta", content=body, headers=meta_headers(body, "not-the-secret")).status_code
        == 401
    )
    assert count(settings, Message) == 0


def test_stale_timestamps_refused(client: TestClient, settings: Settings) -> None:
    slack = fixture_bytes("slack_event.json")
    r = client.post("/webhooks/slack", content=slack, headers=slack_headers(slack, ts=int(time.time()) - 301))
    assert r.status_code == 401 and "stale_timestamp" in r.text
    item = json.dumps({"id": "g1", "source": "forum", "text": "hi"}).encode()
    r = client.post(
        "/webhooks/generic", content=item, headers=generic_headers(item, ts=int(time.time()) + 400)
    )
    assert r.status_code == 401
    assert count(settings, Event) == 0


def test_unconfigured_channel_refuses(database_url: str) -> None:
    settings = make_settings(
        database_url, meta_app_secret=None, slack_signing_secret=None, meta_verify_token=None
    )
    with TestClient(create_app(settings)) as c:
        body = fb_comment("c_u", "hello")
        assert c.post("/webhooks/meta", content=body, headers=meta_headers(body)).status_code == 403
        slack = fixture_bytes("slack_event.json")
        assert c.post("/webhooks/slack", content=slack, headers=slack_headers(slack)).status_code == 403
        assert (
            c.get(
                "/webhooks/meta",
                params={"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"},
            ).status_code
            == 403
        )
    assert count(settings, Event) == 0


def test_malformed_authentic_payload_is_400_with_reason_and_no_partial_write(
    client: TestClient, settings: Settings
) -> None:
    body = b'{"object": "page", "entry": [}'
    r = client.post("/webhooks/meta", content=body, headers=meta_headers(body))
    assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]
    # the first item is fine, the second lacks its id: nothing of the delivery is stored
    good = {"field": "feed", "value": {"item": "comment", "verb": "add", "comment_id": "ok", "message": "hi"}}
    bad = {"field": "feed", "value": {"item": "comment", "verb": "add", "message": "no id"}}
    body = json.dumps({"object": "page", "entry": [{"id": "P", "changes": [good, bad]}]}).encode()
    r = client.post("/webhooks/meta", content=body, headers=meta_headers(body))
    assert r.status_code == 400 and "comment_id" in r.json()["error"]["message"]
    assert count(settings, Message) == 0 and count(settings, Event) == 0


def test_unhandled_event_type_is_200(client: TestClient, settings: Settings) -> None:
    body = json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": "P",
                    "changes": [
                        {
                            "field": "feed",
                            "value": {"item": "reaction", "verb": "add", "reaction_type": "like"},
                        }
                    ],
                }
            ],
        }
    ).encode()
    r = client.post("/webhooks/meta", content=body, headers=meta_headers(body))
    assert r.status_code == 200 and r.json() == {"ok": True, "stored": 0, "duplicates": 0, "ignored": 1}


def test_body_limit_is_413(database_url: str) -> None:
    settings = make_settings(database_url, max_body_bytes=1000)
    with TestClient(create_app(settings)) as c:
        body = fb_comment("c_big", "x" * 2000)
        assert c.post("/webhooks/meta", content=body, headers=meta_headers(body)).status_code == 413

        def chunks():  # no Content-Length: the limit holds while streaming
            yield body[:600]
            yield body[600:]

        assert c.post("/webhooks/meta", content=chunks(), headers=meta_headers(body)).status_code == 413
    assert count(settings, Event) == 0


def test_default_body_limit_takes_a_3_mb_meta_delivery(client: TestClient) -> None:
    changes = [
        {
            "field": "feed",
            "value": {
                "item": "comment",
                "verb": "add",
                "comment_id": f"big_{i}",
                "message": "y" * 2900,
                "from": {"id": "u"},
            },
        }
        for i in range(1000)
    ]
    body = json.dumps({"object": "page", "entry": [{"id": "P", "changes": changes}]}).encode()
    assert len(body) > 3_000_000
    assert client.post("/webhooks/meta", content=body, headers=meta_headers(body)).status_code == 200


def test_handshakes(client: TestClient) -> None:
    r = client.get(
        "/webhooks/meta",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": "test-verify-token",
            "hub.challenge": "1158201444",
        },
    )
    assert (
        r.status_code == 200 and r.text == "1158201444" and r.headers["content-type"].startswith("text/plain")
    )
    r = client.get(
        "/webhooks/meta", params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"}
    )
    assert r.status_code == 403
    r = client.get("/webhooks/x", params={"crc_token": "abc"})
    from app.platforms.x import crc_response as x_crc_response

    assert r.json() == {"response_token": x_crc_response(b"test-x-consumer-secret", "abc")}
    body = fixture_bytes("slack_url_verification.json")
    r = client.post("/webhooks/slack", content=body, headers=slack_headers(body))
    assert r.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    assert (
        client.post("/webhooks/slack", content=body, headers=slack_headers(body, "wrong")).status_code == 401
    )


def test_generic_channel(client: TestClient, settings: Settings) -> None:
    item = json.dumps(
        {
            "id": "rev-9",
            "source": "reviews",
            "kind": "review",
            "text": "Service au top",
            "author": {"id": "a1", "name": "Zoé"},
            "created_at": "2026-01-01T00:00:00Z",
        }
    ).encode()
    r = client.post("/webhooks/generic", content=item, headers=generic_headers(item, "msg_rev-9"))
    assert r.status_code == 200 and r.json()["stored"] == 1
    [m] = rows(settings, Message)
    assert (m.platform, m.account_id, m.kind) == ("generic", "reviews", "review")


def test_deletion_withdraws_the_pending_draft(client: TestClient, settings: Settings) -> None:
    body = fb_comment("c_del", "vous êtes ouverts dimanche ?")
    client.post("/webhooks/meta", content=body, headers=meta_headers(body))
    removal = fb_removal("c_del")
    assert client.post("/webhooks/meta", content=removal, headers=meta_headers(removal)).status_code == 200
    [m] = rows(settings, Message)
    [d] = rows(settings, Draft)
    assert m.deleted_at is not None and d.status == "withdrawn"


def test_database_down_is_503_and_the_retry_succeeds(tmp_path: Path) -> None:
    """The database file's folder disappears under the running service; then comes back."""
    from app import db

    folder = tmp_path / "dbdir"
    folder.mkdir()
    settings = make_settings(f"sqlite:///{folder / 'relais.db'}")
    db.upgrade(settings)
    with TestClient(create_app(settings)) as c:
        c.app.state.engine.dispose()
        moved = tmp_path / "moved"
        folder.rename(moved)
        folder.write_text("not a directory")  # the database path cannot be opened
        body = fb_comment("c_down", "hello")
        r = c.post("/webhooks/meta", content=body, headers=meta_headers(body))
        assert r.status_code == 503 and r.headers.get("retry-after")
        assert c.get("/healthz").status_code == 503
        folder.unlink()
        moved.rename(folder)
        c.app.state.engine.dispose()
        r = c.post("/webhooks/meta", content=body, headers=meta_headers(body))
        assert r.status_code == 200 and r.json()["stored"] == 1


@pytest.mark.postgres
def test_postgres_down_is_503(pg_url: str) -> None:
    settings = make_settings(pg_url)
    with TestClient(create_app(settings)) as c:
        from tests.conftest import drop_pg_database

        drop_pg_database(pg_url.rsplit("/", 1)[1])  # the database vanishes under the service
        body = fb_comment("c_pgdown", "hello")
        r = c.post("/webhooks/meta", content=body, headers=meta_headers(body))
        assert r.status_code == 503
        assert c.get("/healthz").status_code == 503


def test_healthz_and_metrics(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["database"] is True and "model_version" in r.json()
    body = fb_comment("c_m", "hello")
    client.post("/webhooks/meta", content=body, headers=meta_headers(body))
    client.post("/webhooks/meta", content=body, headers={"X-Hub-Signature-256": "sha256=00"})
    text = client.get("/metrics").text
    assert 'relais_webhooks_received_total{platform="meta"}' in text
    assert 'relais_webhooks_rejected_total{platform="meta",reason="bad_signature"}' in text
    assert "relais_webhook_seconds_bucket" in text and "relais_webhook_duplicates_total" in text


def test_without_a_model_the_service_starts_and_everything_goes_to_sort(
    database_url: str, tmp_path: Path
) -> None:
    empty = tmp_path / "no-models"
    empty.mkdir()
    settings = make_settings(database_url, models_dir=empty)
    with TestClient(create_app(settings)) as c:
        assert c.get("/healthz").json()["model_version"] is None
        body = fb_comment("c_nomodel", "Ma commande n'est jamais arrivée !")
        assert c.post("/webhooks/meta", content=body, headers=meta_headers(body)).json()["stored"] == 1
    [m] = rows(settings, Message)
    [d] = rows(settings, Draft)
    assert (m.category, m.confidence, m.model_version, m.to_sort) == (None, None, None, True)
    assert (d.status, d.text, d.to_sort) == ("pending", "", True)
