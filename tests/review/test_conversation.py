"""The whole conversation of a message (`app.review.conversation`, `GET
/api/messages/{id}/conversation`), end to end on SQLite and PostgreSQL: signed webhook deliveries
in, replies approved through the API and sent to the fake Graph API on loopback, the platform's
echoes (of our sends, and of replies typed on Facebook) back through the webhook."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app import db
from app.main import create_app
from app.models import Echo, Message, OutboxItem, ReplyTemplate
from app.outbox.sender import Sender
from app.reply_templates import rendering
from app.reply_templates.defaults import DEFAULT_TEMPLATES
from app.review import conversation
from tests.conftest import deliver, fb_comment, make_settings, make_user, meta_headers, platform_client
from tests.fakes.platforms import FakePlatforms

PAGE = "1111"
PSID = "7001"


@pytest.fixture
def app_client(database_url: str, fake: FakePlatforms) -> Iterator[TestClient]:
    yield from platform_client(
        database_url,
        fake,
        meta_access_token="page-token",
        send_timeout_s=2.0,
        confidence_threshold=0.0,  # every message gets a draft
    )


def post_meta(client: TestClient, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    r = client.post("/webhooks/meta", content=body, headers=meta_headers(body))
    assert r.status_code == 200, r.text


def messaging(item: dict[str, Any]) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": PAGE, "time": int(time.time()), "messaging": [item]}]}


def dm(mid: str, text: str, *, psid: str = PSID) -> dict[str, Any]:
    """A Messenger DM from the customer `psid` to the page."""
    return messaging(
        {
            "sender": {"id": psid},
            "recipient": {"id": PAGE},
            "timestamp": int(time.time() * 1000),
            "message": {"mid": mid, "text": text},
        }
    )


def dm_echo(mid: str, text: str, *, psid: str = PSID) -> dict[str, Any]:
    """The page's own DM to `psid` coming back (`is_echo`): sent by Relais or typed in Meta's inbox."""
    return messaging(
        {
            "sender": {"id": PAGE},
            "recipient": {"id": psid},
            "timestamp": int(time.time() * 1000),
            "message": {"mid": mid, "is_echo": True, "text": text},
        }
    )


def page_comment(comment_id: str, text: str, *, parent: str, post: str = f"{PAGE}_2222") -> dict[str, Any]:
    """A comment by the page itself, typed on Facebook, under `parent`."""
    value = {
        "from": {"id": PAGE, "name": "La Marque"},
        "message": text,
        "post_id": post,
        "comment_id": comment_id,
        "parent_id": parent,
        "created_time": int(time.time()),
        "item": "comment",
        "verb": "add",
    }
    return {"object": "page", "entry": [{"id": PAGE, "changes": [{"field": "feed", "value": value}]}]}


def draft_of(client: TestClient, headers: dict[str, str], external_id: str) -> dict[str, Any]:
    items = client.get("/api/drafts", params={"status": "all", "limit": 200}, headers=headers).json()["items"]
    [d] = [i for i in items if i["message"]["external_id"] == external_id]
    return d


def timeline_of(client: TestClient, headers: dict[str, str], message_id: int) -> dict[str, Any]:
    r = client.get(f"/api/messages/{message_id}/conversation", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def brief(entries: list[dict[str, Any]]) -> list[tuple[str, str | None, str]]:
    return [
        (e["side"], e["text"], e.get("source") or ("current" if e.get("current") else "")) for e in entries
    ]


def test_the_second_dm_shows_our_sent_reply_between_the_customers_two_messages(
    app_client: TestClient, fake: FakePlatforms
) -> None:
    h = make_user(app_client, "camille")
    post_meta(app_client, dm("m.1", "Bonjour, ma commande 12345 n'est pas arrivée"))
    first = draft_of(app_client, h, "m.1")
    reply = "Bonjour, nous regardons la commande 12345 tout de suite."
    r = app_client.post(
        f"/api/drafts/{first['id']}/approve", json={"version": first["version"], "text": reply}, headers=h
    )
    assert r.status_code == 200, r.text
    sender = Sender(app_client.app.state.settings, app_client.app.state.sessions, name="t")
    assert sender.run_once() == 1
    assert [c["json"]["message"]["text"] for c in fake.calls if c["path"].endswith(f"/{PAGE}/messages")] == [
        reply
    ]
    with db.transaction(app_client.app.state.sessions) as s:
        item = s.scalar(select(OutboxItem).where(OutboxItem.draft_id == first["id"]))
        assert item is not None and item.status == "sent" and item.platform_message_id
        sent_id = item.platform_message_id
    # Meta sends our own message back as an echo: the same reply, not a second one
    post_meta(app_client, dm_echo(sent_id, reply))
    # a colleague answers in Meta's inbox, outside Relais
    post_meta(app_client, dm_echo("m.typed", "Un colis part demain matin."))
    post_meta(app_client, dm("m.2", "Merci ! Et je serai livré quand ?"))

    second = draft_of(app_client, h, "m.2")
    out = timeline_of(app_client, h, second["message"]["id"])
    assert brief(out["entries"]) == [
        ("customer", "Bonjour, ma commande 12345 n'est pas arrivée", ""),
        ("brand", reply, "relais"),
        ("brand", "Un colis part demain matin.", "platform"),
        ("customer", "Merci ! Et je serai livré quand ?", "current"),
    ]
    ours = out["entries"][1]
    assert ours["status"] == "sent" and ours["approved_by"] == "camille" and ours["sent_at"]
    assert ours["seen_on_platform"] is True and ours["draft_id"] == first["id"]
    typed = out["entries"][2]
    assert typed["status"] == "published" and typed["approved_by"] is None
    assert out["already_replied"] is True and out["last_brand_reply"] == "Un colis part demain matin."

    # the first message's page shows the same conversation, with itself as the current one
    again = timeline_of(app_client, h, first["message"]["id"])
    assert [e["text"] for e in again["entries"]] == [e["text"] for e in out["entries"]]
    assert [e.get("current") for e in again["entries"] if e["side"] == "customer"] == [True, False]
    assert again["already_replied"] is False


def test_threads_of_one_author_are_one_conversation_other_authors_and_channels_are_not(
    app_client: TestClient,
) -> None:
    h = make_user(app_client)
    deliver(app_client, "1111_2222_c1", "Toujours pas de remboursement", author="5555")
    # the page answers Camille under her comment, on Facebook directly
    post_meta(app_client, page_comment("1111_2222_p1", "Nous vous écrivons en privé.", parent="1111_2222_c1"))
    # the same author under another post of the page: the same customer, another thread
    other_post = json.loads(fb_comment("1111_3333_c2", "Et ici non plus", author="5555"))
    other_post["entry"][0]["changes"][0]["value"]["post_id"] = "1111_3333"
    post_meta(app_client, other_post)
    deliver(app_client, "1111_2222_c3", "Moi aussi !", author="6666", name="Léa")
    post_meta(app_client, dm("m.9", "Coucou", psid="5555x"))  # a Messenger PSID: nothing shared
    # and Léa under hers
    post_meta(app_client, page_comment("1111_2222_p2", "Bonjour Léa !", parent="1111_2222_c3"))
    # and posts a top-level comment on the post: answers nobody
    post_meta(app_client, page_comment("1111_2222_p3", "Merci à tous", parent="1111_2222"))

    d = draft_of(app_client, h, "1111_3333_c2")
    out = timeline_of(app_client, h, d["message"]["id"])
    assert [(e["side"], e["text"]) for e in out["entries"]] == [
        ("customer", "Toujours pas de remboursement"),
        ("brand", "Nous vous écrivons en privé."),
        ("customer", "Et ici non plus"),
    ]
    ours = out["entries"][1]
    assert ours["source"] == "platform" and ours["in_reply_to_message_id"] == out["entries"][0]["message_id"]


def test_unknown_message_and_the_route_is_declared(app_client: TestClient) -> None:
    h = make_user(app_client)
    r = app_client.get("/api/messages/99999/conversation", headers=h)
    assert r.status_code == 404 and r.json()["error"]["code"]
    assert app_client.get("/api/messages/1/conversation").status_code == 401
    spec = app_client.get("/openapi.json").json()
    op = spec["paths"]["/api/messages/{message_id}/conversation"]["get"]
    assert {"200", "401", "404", "422"} <= set(op["responses"])


def test_a_returning_customers_draft_is_rendered_in_its_conversation(app_client: TestClient) -> None:
    """The intake renders the draft of a customer who wrote before again, with what the brand
    already said: the template reads `already_replied` and the earlier texts."""
    with db.transaction(app_client.app.state.sessions) as s:
        for t in s.scalars(select(ReplyTemplate)):
            t.body = (
                "{% if already_replied %}Suite à notre réponse « {{ last_brand_reply }} » :{% else %}"
                "Bonjour, votre numéro de commande ?{% endif %} (avant : {{ earlier_customer_text }})"
            )
        s.flush()
        app_client.app.state.drafter.templates(s, fresh=True)
    h = make_user(app_client)
    post_meta(app_client, dm("m.a", "Mon colis est cassé, c'est inadmissible !"))
    first = draft_of(app_client, h, "m.a")
    # French template text gets its no-break spaces before ? and : (the customer's words keep theirs)
    assert first["text"] == "Bonjour, votre numéro de commande\u00a0? (avant\u00a0: )"
    post_meta(app_client, dm_echo("m.typed", "Désolés ! Votre numéro de commande ?"))
    post_meta(app_client, dm("m.b", "Toujours rien, c'est inadmissible, remboursez-moi !"))
    second = draft_of(app_client, h, "m.b")
    assert second["text"] == (
        "Suite à notre réponse « Désolés ! Votre numéro de commande ? »\u00a0: "
        "(avant\u00a0: Mon colis est cassé, c'est inadmissible !)"
    )


def test_changing_the_category_resuggests_the_draft_in_its_conversation(app_client: TestClient) -> None:
    """A relabelled message's new draft is rendered with what the brand already said."""
    with db.transaction(app_client.app.state.sessions) as s:
        for t in s.scalars(select(ReplyTemplate)):
            t.body = "{{ category }}/{% if already_replied %}suite{% else %}premier{% endif %}"
        s.flush()
        app_client.app.state.drafter.templates(s, fresh=True)
    h = make_user(app_client)
    post_meta(app_client, dm("m.r1", "Bonjour, vous livrez le dimanche ?"))
    post_meta(app_client, dm_echo("m.r-typed", "Oui, le dimanche matin."))
    post_meta(app_client, dm("m.r2", "Et le samedi ?"))
    d = draft_of(app_client, h, "m.r2")
    new = "complaint" if d["message"]["category"] != "complaint" else "question"
    r = app_client.patch(f"/api/messages/{d['message']['id']}", json={"category": new}, headers=h)
    assert r.status_code == 200
    assert draft_of(app_client, h, "m.r2")["text"] == f"{new}/suite"


def test_context_of_the_entries_before_a_message(database_url: str) -> None:
    settings = make_settings(database_url)
    with TestClient(create_app(settings)) as c, db.transaction(c.app.state.sessions) as s:
        m = Message(
            platform="meta",
            account_id=PAGE,
            external_id="solo",
            kind="dm",
            channel="messenger",
            text="Bonjour",
            author_id=None,
        )
        s.add(m)
        s.flush()
        t = conversation.timeline(s, m)
        assert [e.message_id for e in t.entries if isinstance(e, conversation.CustomerEntry)] == [m.id]
        assert conversation.context(s, m) == conversation.NO_CONTEXT
        # an echo that names no thread of this message is not in its conversation
        s.add(Echo(platform="meta", account_id=PAGE, external_id="e1", in_reply_to="x", text="hi"))
        s.flush()
        assert len(conversation.timeline(s, m).entries) == 1


def test_template_variables_take_the_conversation() -> None:
    settings = make_settings("sqlite://")
    base = rendering.variables_for(
        settings, author_name="Camille", text="Bonjour", category=None, channel="x", language="fr"
    )
    assert (base["already_replied"], base["earlier_customer_text"], base["last_brand_reply"]) == (
        False,
        "",
        "",
    )
    ctx = rendering.Conversation(
        already_replied=True,
        earlier_customer_text="Commande 12345\nabîmée",
        last_brand_reply="Nous regardons.",
    )
    v = rendering.variables_for(
        settings,
        author_name="Camille",
        text="Alors ?",
        category=None,
        channel="x",
        language="fr",
        conversation=ctx,
    )
    assert (v["already_replied"], v["earlier_customer_text"], v["last_brand_reply"]) == (
        True,
        "Commande 12345 abîmée",
        "Nous regardons.",
    )


def test_default_complaint_templates_do_not_ask_again_once_the_brand_replied() -> None:
    settings = make_settings("sqlite://")
    complaints = [t for t in DEFAULT_TEMPLATES if t[1] == "complaint"]
    assert len(complaints) == 6
    for name, _, language, _, _, body in complaints:
        message = {"author_name": "Camille", "category": "complaint", "channel": "messenger"}
        first = rendering.render(
            body, rendering.variables_for(settings, text="x", language=language, **message)
        )
        later = rendering.render(
            body,
            rendering.variables_for(
                settings,
                text="x",
                language=language,
                conversation=rendering.Conversation(already_replied=True),
                **message,
            ),
        )
        asked = "numéro de commande" if language == "fr" else "order or case number"
        assert asked in first and asked not in later, name
        assert later.startswith(("Merci Camille", "Thanks Camille")), name


def _message(s: Any, **kw: Any) -> Message:
    values: dict[str, Any] = {"platform": "slack", "account_id": "T1", "kind": "message", "channel": "slack"}
    m = Message(**{**values, **kw})
    s.add(m)
    s.flush()
    return m


def test_an_echo_naming_another_thread_is_not_in_the_conversation(database_url: str) -> None:
    """Slack: the same thread_ts in two channels; only the bot reply in the customer's channel is
    ours to show. WhatsApp: a status without text, of a send made elsewhere, still shows."""
    with TestClient(create_app(make_settings(database_url))) as c, db.transaction(c.app.state.sessions) as s:
        m = _message(
            s, external_id="C1:1.1", conversation_id="C1", reply_to_id="1.1", author_id="U1", text="Aide ?"
        )
        s.add_all(
            [
                Echo(
                    platform="slack",
                    account_id="T1",
                    external_id="C1:1.2",
                    in_reply_to="1.1",
                    conversation_id="C1",
                    text="Oui !",
                ),
                Echo(
                    platform="slack",
                    account_id="T1",
                    external_id="C2:1.3",
                    in_reply_to="1.1",
                    conversation_id="C2",
                    text="Ailleurs",
                ),
            ]
        )
        wa = _message(
            s,
            platform="meta",
            account_id="PN1",
            kind="dm",
            channel="whatsapp",
            external_id="wamid.in",
            conversation_id="33600",
            reply_to_id="wamid.in",
            author_id="33600",
            text="Bonjour",
        )
        s.add(
            Echo(
                platform="meta",
                account_id="PN1",
                external_id="wamid.out",
                in_reply_to="33600",
                conversation_id="33600",
            )
        )
        s.flush()
        slack = conversation.timeline(s, m)
        assert [(e.side, e.text) for e in slack.entries] == [("customer", "Aide ?"), ("brand", "Oui !")]
        whatsapp = conversation.timeline(s, wa)
        [brand] = [e for e in whatsapp.entries if isinstance(e, conversation.BrandEntry)]
        assert brand.text is None and brand.source == "platform"
        assert conversation.context(s, wa) == conversation.NO_CONTEXT  # nothing before the message
