"""Moderation over the API, end to end on SQLite and PostgreSQL with the loopback Graph fake:
hide and unhide, spam (hide and close) and its undo, no_reply (nothing sent), delete (admin,
confirmed, final), platforms without moderation (422 not_supported), bulk with per-id results,
roles, versions, and the audit log of each step."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app import db
from app.models import Draft, Message, OutboxItem
from app.outbox import service as outbox
from app.outbox.sender import Sender
from tests.conftest import deliver, make_user, meta_headers, platform_client, telegram_headers
from tests.fakes.platforms import FakePlatforms


@pytest.fixture
def app_client(database_url: str, fake: FakePlatforms) -> Iterator[TestClient]:
    yield from platform_client(
        database_url,
        fake,
        meta_access_token="page-token-123",
        telegram_bot_token="42:tg-token",
        send_timeout_s=1.0,
        outbox_backoff_base_s=0.05,
        outbox_backoff_max_s=0.2,
    )


@pytest.fixture
def rita(app_client: TestClient) -> dict[str, str]:
    return make_user(app_client, "rita", "reviewer")


@pytest.fixture
def adam(app_client: TestClient) -> dict[str, str]:
    return make_user(app_client, "adam", "admin")


def send_all(client: TestClient) -> None:
    """Run the sender until no outbox row is left unsettled."""
    s = Sender(client.app.state.settings, client.app.state.sessions, name="t")
    started = time.monotonic()
    while time.monotonic() - started < 10:
        s.run_once()
        with db.transaction(client.app.state.sessions) as session:
            if not session.scalar(select(func.count()).where(OutboxItem.status.in_(outbox.UNSETTLED))):
                return
        time.sleep(0.02)
    raise AssertionError("the outbox did not settle")


def draft_of(client: TestClient, h: dict[str, str], external_id: str) -> dict[str, Any]:
    items = client.get("/api/drafts", params={"status": "all", "limit": 200}, headers=h).json()["items"]
    [d] = [i for i in items if i["message"]["external_id"] == external_id]
    return client.get(f"/api/drafts/{d['id']}", headers=h).json()  # type: ignore[no-any-return]


def history(client: TestClient, h: dict[str, str], draft_id: int) -> list[tuple[str, Any]]:
    events = client.get(f"/api/drafts/{draft_id}", headers=h).json()["history"]
    return [(e["action"], e["actor_id"]) for e in events][1:]  # after "proposed"


def graph(fake: FakePlatforms, comment: str) -> list[tuple[str, Any]]:
    return [(c["method"], c["json"]) for c in fake.calls if c["path"] == f"/v21.0/{comment}"]


def me(client: TestClient, h: dict[str, str]) -> int:
    return int(client.get("/api/me", headers=h).json()["id"])


def test_hide_then_unhide(app_client: TestClient, fake: FakePlatforms, rita: dict[str, str]) -> None:
    deliver(app_client, "111_1", "Promo crypto, DM moi")
    d = draft_of(app_client, rita, "111_1")
    mid = d["message"]["id"]
    r = app_client.post(f"/api/messages/{mid}/hide", headers=rita)
    assert r.status_code == 200, r.text
    assert r.json()["moderation"] | {"allowed": None} == {
        "hidden": False,
        "deleted": False,
        "pending": "hide",
        "failed": None,
        "error": None,
        "allowed": None,
    }
    assert r.json()["moderation"]["allowed"] == ["hide", "unhide", "delete"]
    assert (
        app_client.post(f"/api/messages/{mid}/hide", headers=rita).json()["moderation"]["pending"] == "hide"
    )
    send_all(app_client)
    assert draft_of(app_client, rita, "111_1")["moderation"]["hidden"] is True
    assert app_client.post(f"/api/messages/{mid}/hide", headers=rita).json()["moderation"]["pending"] is None
    assert app_client.post(f"/api/messages/{mid}/unhide", headers=rita).status_code == 200
    send_all(app_client)
    after = draft_of(app_client, rita, "111_1")
    assert after["moderation"]["hidden"] is False and after["status"] == "pending"
    assert graph(fake, "111_1") == [("POST", {"is_hidden": True}), ("POST", {"is_hidden": False})]
    uid = me(app_client, rita)
    assert history(app_client, rita, d["id"]) == [
        ("hide", uid),
        ("hidden", None),
        ("unhide", uid),
        ("unhidden", None),
    ]


def test_spam_hides_and_closes_and_reopening_undoes_both(
    app_client: TestClient, fake: FakePlatforms, rita: dict[str, str]
) -> None:
    deliver(app_client, "111_2", "Gagnez 1000 € en un clic")
    d = draft_of(app_client, rita, "111_2")
    r = app_client.post(
        f"/api/drafts/{d['id']}/close", json={"version": d["version"], "reason": "spam"}, headers=rita
    )
    assert r.status_code == 200, r.text
    closed = r.json()
    assert (closed["status"], closed["reason"], closed["moderation"]["pending"]) == ("closed", "spam", "hide")
    pending = app_client.get("/api/drafts", headers=rita).json()["items"]
    assert pending == []  # out of the queue
    listed = app_client.get("/api/drafts", params={"status": "closed"}, headers=rita).json()["items"]
    assert [x["id"] for x in listed] == [d["id"]]
    send_all(app_client)
    assert draft_of(app_client, rita, "111_2")["moderation"]["hidden"] is True
    stale = app_client.post(f"/api/drafts/{d['id']}/reopen", json={"version": d["version"]}, headers=rita)
    assert stale.status_code == 409 and "version" in stale.json()["error"]["message"]
    r = app_client.post(f"/api/drafts/{d['id']}/reopen", json={"version": closed["version"]}, headers=rita)
    assert r.status_code == 200 and r.json()["status"] == "pending" and r.json()["reason"] is None
    assert r.json()["moderation"]["pending"] == "unhide"
    send_all(app_client)
    assert draft_of(app_client, rita, "111_2")["moderation"] | {"allowed": []} == {
        "hidden": False,
        "deleted": False,
        "pending": None,
        "failed": None,
        "error": None,
        "allowed": [],
    }
    assert graph(fake, "111_2") == [("POST", {"is_hidden": True}), ("POST", {"is_hidden": False})]
    actions = [a for a, _ in history(app_client, rita, d["id"])]
    assert actions == ["closed", "hide", "hidden", "reopened", "unhide", "unhidden"]


def test_done_without_a_reply_sends_nothing(
    app_client: TestClient, fake: FakePlatforms, rita: dict[str, str]
) -> None:
    deliver(app_client, "111_3", "Merci pour tout !")
    d = draft_of(app_client, rita, "111_3")
    r = app_client.post(
        f"/api/drafts/{d['id']}/close", json={"version": d["version"], "reason": "no_reply"}, headers=rita
    )
    assert (
        r.status_code == 200
        and r.json()["reason"] == "no_reply"
        and r.json()["moderation"]["pending"] is None
    )
    again = app_client.post(
        f"/api/drafts/{d['id']}/close",
        json={"version": r.json()["version"], "reason": "no_reply"},
        headers=rita,
    )
    assert again.status_code == 409 and "already closed" in again.json()["error"]["message"]
    approve = app_client.post(
        f"/api/drafts/{d['id']}/approve", json={"version": r.json()["version"]}, headers=rita
    )
    assert approve.status_code == 409
    send_all(app_client)
    assert fake.calls == []
    assert history(app_client, rita, d["id"]) == [("closed", me(app_client, rita))]
    bad = app_client.post(
        f"/api/drafts/{d['id']}/close", json={"version": 1, "reason": "deleted"}, headers=rita
    )
    assert bad.status_code == 422 and bad.json()["error"]["message"].startswith("reason:")


def _telegram(client: TestClient) -> None:
    body = json.dumps(
        {
            "update_id": 7001,
            "message": {
                "message_id": 55,
                "from": {"id": 901, "first_name": "Lou"},
                "chat": {"id": 901, "type": "private"},
                "date": int(time.time()),
                "text": "Achetez mes followers",
            },
        }
    ).encode()
    assert client.post("/webhooks/telegram", content=body, headers=telegram_headers()).status_code == 200


def _messenger(client: TestClient) -> None:
    item = {
        "sender": {"id": "PSID9"},
        "recipient": {"id": "1111"},
        "timestamp": int(time.time() * 1000),
        "message": {"mid": "m_dm1", "text": "Spam en privé"},
    }
    body = json.dumps({"object": "page", "entry": [{"id": "1111", "messaging": [item]}]}).encode()
    assert client.post("/webhooks/meta", content=body, headers=meta_headers(body)).status_code == 200


@pytest.mark.parametrize("channel", ["telegram", "messenger"])
def test_a_message_the_platform_cannot_moderate_is_a_422_not_supported(
    app_client: TestClient, fake: FakePlatforms, rita: dict[str, str], adam: dict[str, str], channel: str
) -> None:
    (_telegram if channel == "telegram" else _messenger)(app_client)
    [d] = app_client.get("/api/drafts", headers=rita).json()["items"]
    mid = d["message"]["id"]
    for action, h, body in (
        ("hide", rita, None),
        ("unhide", rita, None),
        ("delete", adam, {"confirm": True}),
    ):
        r = app_client.post(f"/api/messages/{mid}/{action}", json=body, headers=h)
        assert r.status_code == 422, r.text
        assert r.json()["error"] == {
            "code": "not_supported",
            "message": f"{action} is not supported on {channel}",
        }
    # spam still closes it; there is nothing to hide
    r = app_client.post(
        f"/api/drafts/{d['id']}/close", json={"version": d["version"], "reason": "spam"}, headers=rita
    )
    assert r.status_code == 200 and r.json()["status"] == "closed"
    assert r.json()["moderation"]["allowed"] == [] and r.json()["moderation"]["pending"] is None
    send_all(app_client)
    assert fake.calls == []


def test_delete_needs_an_admin_and_a_confirmation_and_cannot_be_undone(
    app_client: TestClient, fake: FakePlatforms, rita: dict[str, str], adam: dict[str, str]
) -> None:
    deliver(app_client, "111_4", "Insultes et adresse perso")
    d = draft_of(app_client, rita, "111_4")
    mid = d["message"]["id"]
    assert (
        app_client.post(f"/api/messages/{mid}/delete", json={"confirm": True}, headers=rita).status_code
        == 403
    )
    for body in (None, {}, {"confirm": False}):
        r = app_client.post(f"/api/messages/{mid}/delete", json=body, headers=adam)
        assert r.status_code == 422, (body, r.text)
    r = app_client.post(f"/api/messages/{mid}/delete", json={"confirm": True}, headers=adam)
    assert r.status_code == 200 and r.json()["draft_status"] == "closed"
    assert r.json()["moderation"]["pending"] == "delete"
    send_all(app_client)
    after = draft_of(app_client, rita, "111_4")
    assert after["moderation"]["deleted"] is True and after["reason"] == "deleted"
    assert [c["method"] for c in fake.calls] == ["DELETE"]
    reopen = app_client.post(
        f"/api/drafts/{d['id']}/reopen", json={"version": after["version"]}, headers=rita
    )
    assert reopen.status_code == 409 and "deleted" in reopen.json()["error"]["message"]
    hide = app_client.post(f"/api/messages/{mid}/hide", headers=rita)
    assert hide.status_code == 409 and "deleted" in hide.json()["error"]["message"]
    uid = me(app_client, adam)
    assert history(app_client, rita, d["id"]) == [("delete", uid), ("closed", uid), ("deleted", None)]


def test_bulk_answers_per_id_and_keeps_what_succeeded(
    app_client: TestClient, fake: FakePlatforms, rita: dict[str, str]
) -> None:
    for i in range(3):
        deliver(app_client, f"111_b{i}", f"Spam numéro {i}")
    _telegram(app_client)
    drafts = {
        d["message"]["external_id"]: d for d in app_client.get("/api/drafts", headers=rita).json()["items"]
    }
    ids = [drafts[f"111_b{i}"]["id"] for i in range(3)]
    tg = next(d["id"] for x, d in drafts.items() if not x.startswith("111_"))
    first = ids[0]
    app_client.post(
        f"/api/drafts/{first}/close",
        json={"version": drafts["111_b0"]["version"], "reason": "no_reply"},
        headers=rita,
    )
    r = app_client.post(
        "/api/drafts/bulk", json={"action": "spam", "ids": [*ids, 999999, first]}, headers=rita
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [(x["id"], x["status"]) for x in results] == [
        (first, 409),
        (ids[1], 200),
        (ids[2], 200),
        (999999, 404),
    ]
    assert results[0]["error"]["code"] == "conflict" and not results[0]["ok"]
    assert all(x["draft"]["status"] == "closed" for x in results[1:3])
    hide = app_client.post(
        "/api/drafts/bulk", json={"action": "hide", "ids": [first, tg]}, headers=rita
    ).json()
    assert [(x["status"], (x["error"] or {}).get("code")) for x in hide["results"]] == [
        (200, None),
        (422, "not_supported"),
    ]
    send_all(app_client)
    assert sorted(c["path"] for c in fake.calls) == [f"/v21.0/111_b{i}" for i in range(3)]
    reopened = app_client.post("/api/drafts/bulk", json={"action": "reopen", "ids": ids}, headers=rita).json()
    assert [x["status"] for x in reopened["results"]] == [200, 200, 200]
    assert [x["draft"]["moderation"]["pending"] for x in reopened["results"]] == [None, "unhide", "unhide"]
    for body in (
        {"action": "delete", "ids": ids},
        {"action": "hide", "ids": []},
        {"action": "hide", "ids": ["1"]},
    ):
        assert app_client.post("/api/drafts/bulk", json=body, headers=rita).status_code == 422


@pytest.mark.parametrize("channel", ["telegram", "messenger"])
def test_hiding_what_cannot_be_hidden_is_said_in_the_callers_language_and_in_bulk(
    app_client: TestClient, rita: dict[str, str], channel: str
) -> None:
    (_telegram if channel == "telegram" else _messenger)(app_client)
    [d] = app_client.get("/api/drafts", headers=rita).json()["items"]
    fr = {**rita, "Accept-Language": "fr-FR,fr;q=0.9"}
    r = app_client.post(f"/api/messages/{d['message']['id']}/hide", headers=fr)
    assert r.status_code == 422
    assert r.json()["error"] == {
        "code": "not_supported",
        "message": f"le masquage n’est pas possible sur {channel}",
    }
    for h, message in (
        (rita, f"hide is not supported on {channel}"),
        (fr, f"le masquage n’est pas possible sur {channel}"),
    ):
        r = app_client.post("/api/drafts/bulk", json={"action": "hide", "ids": [d["id"]]}, headers=h)
        assert r.status_code == 200
        [item] = r.json()["results"]
        assert (item["ok"], item["status"], item["error"]["code"]) == (False, 422, "not_supported")
        assert item["error"]["message"] == message


def _spam_flags(client: TestClient, draft_id: int) -> tuple[bool, bool]:
    with client.app.state.sessions() as s:  # type: ignore[attr-defined]
        draft = s.get(Draft, draft_id)
        message = s.get(Message, draft.message_id)
        return draft.spam, message.spam


def test_closing_as_spam_flags_the_message_and_reopening_clears_it(
    app_client: TestClient, rita: dict[str, str]
) -> None:
    deliver(app_client, "31_1", "Je suis passé au magasin hier")
    deliver(app_client, "31_2", "Où en est ma commande ?")
    d = draft_of(app_client, rita, "31_1")
    assert _spam_flags(app_client, d["id"]) == (False, False)
    r = app_client.post(
        f"/api/drafts/{d['id']}/close", json={"version": d["version"], "reason": "spam"}, headers=rita
    )
    assert r.status_code == 200 and r.json()["message"]["spam"] is True
    assert _spam_flags(app_client, d["id"]) == (True, True)
    spam = app_client.get("/api/drafts?status=closed&spam=true", headers=rita).json()["items"]
    assert [x["id"] for x in spam] == [d["id"]]
    r = app_client.post(f"/api/drafts/{d['id']}/reopen", json={"version": r.json()["version"]}, headers=rita)
    assert r.status_code == 200 and r.json()["message"]["spam"] is False
    assert _spam_flags(app_client, d["id"]) == (False, False)
    # in bulk too; "no reply needed" is no spam
    other = draft_of(app_client, rita, "31_2")
    r = app_client.post("/api/drafts/bulk", json={"action": "spam", "ids": [d["id"]]}, headers=rita)
    assert r.json()["results"][0]["ok"] is True and _spam_flags(app_client, d["id"]) == (True, True)
    r = app_client.post("/api/drafts/bulk", json={"action": "no_reply", "ids": [other["id"]]}, headers=rita)
    assert r.json()["results"][0]["ok"] is True and _spam_flags(app_client, other["id"]) == (False, False)


def test_the_queue_filters_hidden_comments(app_client: TestClient, rita: dict[str, str]) -> None:
    deliver(app_client, "41_1", "Promo crypto, DM moi")
    deliver(app_client, "41_2", "Où en est ma commande ?")
    deliver(app_client, "41_3", "Encore une promo")
    hidden, shown, again = (draft_of(app_client, rita, f"41_{i}") for i in (1, 2, 3))

    def ids(**params: str) -> set[int]:
        items = app_client.get("/api/drafts", params=params, headers=rita).json()["items"]
        return {d["id"] for d in items}

    for d in (hidden, again):
        assert app_client.post(f"/api/messages/{d['message']['id']}/hide", headers=rita).status_code == 200
    assert ids(hidden="true") == set()  # asked, not made yet
    send_all(app_client)
    assert app_client.post(f"/api/messages/{again['message']['id']}/unhide", headers=rita).status_code == 200
    assert ids(hidden="true") == {hidden["id"], again["id"]}  # the unhide is not made yet
    send_all(app_client)
    assert ids(hidden="true") == {hidden["id"]}
    assert ids(hidden="false") == {shown["id"], again["id"]}
    assert ids() == {hidden["id"], shown["id"], again["id"]}
    assert ids(hidden="true", category="complaint") <= {hidden["id"]}
    assert app_client.get("/api/drafts?hidden=maybe", headers=rita).status_code == 422
