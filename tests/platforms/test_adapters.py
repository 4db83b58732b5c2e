"""Adapters are pure: every shared fixture, plus the cases PLATFORMS.md describes, give exactly
the messages, echoes, deletions and ignored items expected."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from app.platforms import generic, meta, slack, telegram, x
from app.platforms.types import AdapterContext, MalformedPayload
from tests.conftest import FIXTURES

CTX = AdapterContext(telegram_bot_id="777")


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_facebook_comment_by_the_page_itself_is_our_own_not_inbound() -> None:
    parsed = meta.parse({}, load("facebook_feed_comment.json"), CTX)
    assert parsed.messages == []
    assert [(o.external_id, o.in_reply_to) for o in parsed.own] == [
        ("122131676912594941_1213590066982748", "122131676912594941_542072878449250")
    ]


def test_facebook_comment_from_a_customer() -> None:
    body = load("facebook_feed_comment.json")
    body["entry"][0]["changes"][0]["value"]["from"] = {"id": "999", "name": "Camille Martin"}
    [m] = meta.parse({}, body, CTX).messages
    assert (m.platform, m.channel, m.kind, m.account_id) == ("meta", "facebook", "comment", "448242228374517")
    assert m.external_id == "122131676912594941_1213590066982748"
    assert m.reply_to_id == m.external_id
    assert m.conversation_id == "448242228374517_122131676912594941"
    assert m.parent_id == "122131676912594941_542072878449250"
    assert (m.author_id, m.author_name, m.text) == ("999", "Camille Martin", "meow 2")
    assert m.created_at == dt.datetime.fromtimestamp(1742667604, dt.UTC)


def test_facebook_page_post_is_ignored() -> None:
    change = load("facebook_feed_post_change.json")
    parsed = meta.parse(
        {}, {"object": "page", "entry": [{"id": "100518329516574", "changes": [change]}]}, CTX
    )
    assert parsed.messages == [] and parsed.ignored == 1


def test_messenger_text() -> None:
    [m] = meta.parse({}, load("messenger_text.json"), CTX).messages
    assert (m.channel, m.kind, m.account_id, m.author_id, m.reply_to_id) == (
        "messenger",
        "dm",
        "111111",
        "USER_ID",
        "USER_ID",
    )
    assert m.external_id == "mid.1457764197618:41d102a3e1ae206a38"
    assert m.text == "hello, world!"
    assert m.created_at == dt.datetime.fromtimestamp(1457764197.627, dt.UTC)


def test_messenger_delivery_receipt_is_not_a_message() -> None:
    parsed = meta.parse({}, load("messenger_delivery.json"), CTX)
    assert parsed.messages == [] and parsed.own == [] and parsed.ignored == 1


def test_whatsapp_text() -> None:
    [m] = meta.parse({}, load("whatsapp_text_metadocs.json"), CTX).messages
    assert (m.channel, m.kind, m.account_id) == ("whatsapp", "dm", "106540352242922")
    assert m.external_id.startswith("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA")
    assert (m.author_id, m.author_name, m.text) == (
        "16505551234",
        "Sheena Nelson",
        "Does it come in another color?",
    )
    assert m.created_at == dt.datetime.fromtimestamp(1749416383, dt.UTC)


def test_whatsapp_status_is_never_a_message_but_confirms_our_send() -> None:
    parsed = meta.parse({}, load("whatsapp_status.json"), CTX)
    assert parsed.messages == []
    assert [(o.account_id, o.external_id, o.in_reply_to) for o in parsed.own] == [
        ("1122334455667", "wamid.xyzxyz", "972987654321")
    ]


def test_x_mention() -> None:
    [m] = x.parse({}, load("x_tweet_create.json"), CTX).messages
    assert (m.platform, m.kind, m.account_id, m.external_id) == (
        "x",
        "mention",
        "2975699229",
        "1205348660982083584",
    )
    assert (m.author_id, m.author_handle) == ("1205290247124217856", "pennbrooke1")
    assert m.text == "@ScruffyMcG This is a test of Twitter API webhooks."


def test_x_mention_uses_id_str_and_full_text() -> None:
    body = load("x_tweet_create.json")
    tweet = body["tweet_create_events"][0]
    tweet["id"] = 1205348660982083584  # a float would round this
    tweet["truncated"] = True
    tweet["extended_tweet"] = {"full_text": "the whole text " * 20}
    [m] = x.parse({}, body, CTX).messages
    assert m.external_id == "1205348660982083584"
    assert m.text == "the whole text " * 20


def test_x_dm() -> None:
    [m] = x.parse({}, load("x_dm.json"), CTX).messages
    assert (m.kind, m.external_id, m.author_id, m.author_name, m.author_handle, m.text) == (
        "dm",
        "954491830116155396",
        "3001969357",
        "Jordan Brinks",
        "furiouscamper",
        "Hello World!",
    )


def test_x_own_dm_and_own_tweet_are_not_inbound() -> None:
    body = load("x_dm.json")
    body["direct_message_events"][0]["message_create"]["sender_id"] = "4337869213"
    parsed = x.parse({}, body, CTX)
    assert parsed.messages == [] and len(parsed.own) == 1
    body = load("x_tweet_create.json")
    body["tweet_create_events"][0]["user"]["id_str"] = "2975699229"
    parsed = x.parse({}, body, CTX)
    assert parsed.messages == [] and parsed.own[0].external_id == "1205348660982083584"


def test_x_delete_and_ignored_events() -> None:
    parsed = x.parse(
        {}, {"for_user_id": "1", "tweet_delete_events": [{"status": {"id": "55", "user_id": "9"}}]}, CTX
    )
    assert parsed.deletions == [("x", "1", "55")]
    assert x.parse({}, {"for_user_id": "1", "favorite_events": [{}]}, CTX).ignored == 1


def test_x_activity_api_envelope() -> None:
    body = {
        "data": {
            "event_uuid": "u-1",
            "event_type": "post.mention.create",
            "for_user_id": "42",
            "payload": {
                "id": "1900000000000000001",
                "text": "@brand my order is late",
                "author_id": "7",
                "created_at": "2026-01-02T03:04:05.000Z",
                "conversation_id": "1900000000000000000",
            },
            "includes": {"users": [{"id": "7", "name": "Sam", "username": "sam"}]},
        }
    }
    [m] = x.parse({}, body, CTX).messages
    assert (m.account_id, m.external_id, m.kind, m.author_handle, m.conversation_id) == (
        "42",
        "1900000000000000001",
        "mention",
        "sam",
        "1900000000000000000",
    )
    assert m.created_at == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    dm = {
        "data": {
            "event_type": "dm.received",
            "for_user_id": "42",
            "payload": {"id": "dm-1", "text": "hello", "sender_id": "7", "dm_conversation_id": "7-42"},
        }
    }
    [m] = x.parse({}, dm, CTX).messages
    assert (m.kind, m.external_id, m.reply_to_id) == ("dm", "dm-1", "7")
    assert x.parse({}, {"data": {"event_type": "profile.update"}}, CTX).ignored == 1


def test_x_activity_api_dm_as_x_documents_it() -> None:
    """`dm.received` carries Account Activity DM events in `payload.direct_message_events`: each is
    a message of the filtered user's account; `dm.sent` and the account's own DMs are echoes."""
    body = load("x_activity_dm_received.json")
    parsed = x.parse({}, body, CTX)
    [m] = parsed.messages
    assert (m.account_id, m.external_id, m.kind, m.author_id, m.reply_to_id, m.text) == (
        "1111111111111111111",
        "2080765901528535096",
        "dm",
        "2222222222222222222",
        "2222222222222222222",
        "hello!",
    )
    assert (m.author_name, m.author_handle) == ("OtherUser", "OtherUser")
    assert m.created_at == dt.datetime(2026, 7, 24, 21, 23, 44, 372000, tzinfo=dt.UTC)
    assert parsed.own == [] and parsed.ignored == 0
    sent = load("x_activity_dm_received.json")
    sent["data"]["event_type"] = "dm.sent"
    parsed = x.parse({}, sent, CTX)
    assert parsed.messages == [] and [o.external_id for o in parsed.own] == ["2080765901528535096"]
    own = load("x_activity_dm_received.json")
    own["data"]["payload"]["direct_message_events"][0]["message_create"]["sender_id"] = "1111111111111111111"
    parsed = x.parse({}, own, CTX)
    assert parsed.messages == [] and len(parsed.own) == 1
    with pytest.raises(MalformedPayload):
        broken = load("x_activity_dm_received.json")
        broken["data"]["payload"]["direct_message_events"] = {"id": "1"}
        x.parse({}, broken, CTX)


def test_telegram_message() -> None:
    parsed = telegram.parse({}, load("telegram_message.json"), CTX)
    [m] = parsed.messages
    assert parsed.delivery_id == "5"
    assert (m.account_id, m.external_id, m.kind, m.conversation_id, m.reply_to_id) == (
        "777",
        "111111:5",
        "dm",
        "111111",
        "5",
    )
    assert (m.author_name, m.author_handle, m.text) == (
        "Test Firstname Test Lastname",
        "Testusername",
        "Hello, I need your Help",
    )


def test_telegram_non_messages() -> None:
    assert telegram.parse({}, {"update_id": 6, "edited_message": {"message_id": 1}}, CTX).ignored == 1
    assert telegram.parse({}, {"update_id": 7, "callback_query": {"id": "1"}}, CTX).ignored == 1
    with pytest.raises(MalformedPayload):
        telegram.parse({}, {"message": {"message_id": 1}}, CTX)


def test_slack_event_and_challenge() -> None:
    [m] = slack.parse({}, load("slack_event.json"), CTX).messages
    assert (m.account_id, m.external_id, m.kind, m.conversation_id, m.reply_to_id) == (
        "T111",
        "C111:1595926230.009600",
        "mention",
        "C111",
        "1595926230.009600",
    )
    assert slack.parse({}, load("slack_event.json"), CTX).delivery_id == "Ev111"
    assert slack.parse({}, load("slack_url_verification.json"), CTX).response == {
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    }


def test_slack_bot_messages_and_edits_are_not_inbound() -> None:
    body = load("slack_event.json")
    body["event"]["bot_id"] = "B1"
    parsed = slack.parse({}, body, CTX)
    assert parsed.messages == [] and len(parsed.own) == 1
    body = load("slack_event.json")
    body["event"].update(type="message", subtype="message_changed")
    assert slack.parse({}, body, CTX).ignored == 1


def test_slack_mention_and_message_events_share_one_key() -> None:
    mention = load("slack_event.json")
    message = load("slack_event.json")
    message["event"]["type"] = "message"
    message["event_id"] = "Ev222"
    assert slack.parse({}, mention, CTX).messages[0].key == slack.parse({}, message, CTX).messages[0].key


def test_meta_batch_reads_every_entry_and_every_item() -> None:
    def comment(i: int) -> dict[str, Any]:
        return {
            "field": "feed",
            "value": {
                "item": "comment",
                "verb": "add",
                "comment_id": f"c{i}",
                "post_id": "p",
                "message": f"hello {i}",
                "from": {"id": f"u{i}"},
            },
        }

    def dm(i: int) -> dict[str, Any]:
        return {
            "sender": {"id": f"u{i}"},
            "recipient": {"id": "P"},
            "timestamp": 1700000000000,
            "message": {"mid": f"m{i}", "text": f"dm {i}"},
        }

    body = {
        "object": "page",
        "entry": [
            {"id": "P", "changes": [comment(1), comment(2)], "messaging": [dm(3), dm(4)]},
            {
                "id": "P",
                "changes": [comment(5)],
                "messaging": [
                    dm(6),
                    {"sender": {"id": "u"}, "recipient": {"id": "P"}, "read": {"watermark": 1}},
                    {
                        "sender": {"id": "P"},
                        "recipient": {"id": "u7"},
                        "message": {"mid": "m7", "is_echo": True, "text": "hi"},
                    },
                ],
            },
        ],
    }
    parsed = meta.parse({}, body, CTX)
    assert sorted(m.external_id for m in parsed.messages) == ["c1", "c2", "c5", "m3", "m4", "m6"]
    assert [o.external_id for o in parsed.own] == ["m7"] and parsed.ignored == 1


def test_instagram_comment_dm_and_own_comment() -> None:
    body = {
        "object": "instagram",
        "entry": [
            {
                "id": "IG1",
                "time": 1700000000,
                "changes": [
                    {
                        "field": "comments",
                        "value": {
                            "id": "17865",
                            "text": "Dispo en 38 ?",
                            "from": {"id": "u1", "username": "lea"},
                            "media": {"id": "M1", "media_product_type": "FEED"},
                        },
                    },
                    {
                        "field": "comments",
                        "value": {
                            "id": "17866",
                            "text": "Merci !",
                            "parent_id": "17865",
                            "from": {"id": "IG1", "username": "brand", "self_ig_scoped_id": "x"},
                            "media": {"id": "M1"},
                        },
                    },
                ],
                "messaging": [
                    {
                        "sender": {"id": "u2"},
                        "recipient": {"id": "IG1"},
                        "timestamp": 1700000000000,
                        "message": {"mid": "aWdfZAG1", "text": "Bonjour"},
                    }
                ],
            }
        ],
    }
    parsed = meta.parse({}, body, CTX)
    comment, dm = sorted(parsed.messages, key=lambda m: m.kind)
    assert (
        comment.channel,
        comment.kind,
        comment.external_id,
        comment.author_handle,
        comment.conversation_id,
    ) == ("instagram", "comment", "17865", "lea", "M1")
    assert (dm.channel, dm.kind, dm.external_id) == ("instagram", "dm", "aWdfZAG1")
    assert [o.external_id for o in parsed.own] == ["17866"]


def test_whatsapp_media_reactions_and_batches() -> None:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"phone_number_id": "PN"},
        "contacts": [{"wa_id": "33600", "profile": {"name": "Inès"}}],
        "messages": [
            {
                "from": "33600",
                "id": "wamid.1",
                "timestamp": "1700000000",
                "type": "image",
                "image": {"caption": "colis abîmé", "id": "img"},
            },
            {
                "from": "33600",
                "id": "wamid.2",
                "timestamp": "1700000001",
                "type": "reaction",
                "reaction": {"message_id": "wamid.0", "emoji": "👍"},
            },
            {
                "from": "33600",
                "id": "wamid.3",
                "timestamp": "1700000002",
                "type": "text",
                "text": {"body": "?"},
            },
        ],
    }
    parsed = meta.parse(
        {},
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}],
        },
        CTX,
    )
    assert [(m.external_id, m.text, m.author_name) for m in parsed.messages] == [
        ("wamid.1", "[image] colis abîmé", "Inès"),
        ("wamid.3", "?", "Inès"),
    ]
    assert parsed.ignored == 1


@pytest.mark.parametrize(
    "body",
    [
        {"object": "page", "entry": {"id": "1"}},
        {"object": "page", "entry": [{"changes": []}]},
        {
            "object": "page",
            "entry": [
                {"id": "1", "changes": [{"field": "feed", "value": {"item": "comment", "verb": "add"}}]}
            ],
        },
        [1, 2],
    ],
)
def test_meta_malformed(body: Any) -> None:
    with pytest.raises(MalformedPayload):
        meta.parse({}, body, CTX)


def test_meta_unknown_object_is_authentic_but_unhandled() -> None:
    parsed = meta.parse({}, {"object": "permissions", "entry": []}, CTX)
    assert parsed.messages == [] and parsed.ignored == 1


def test_generic_item_and_batch() -> None:
    item = {
        "id": "r-1",
        "source": "trustpilot",
        "kind": "review",
        "thread_id": "t",
        "text": "Livraison rapide",
        "author": {"id": "a", "name": "Zoé", "handle": "zoe"},
        "created_at": "2026-03-01T10:00:00Z",
        "reply_url": "https://example.invalid/reply",
    }
    [m] = generic.parse({"webhook-id": "msg_1"}, item, CTX).messages
    assert (m.account_id, m.channel, m.kind, m.external_id, m.author_handle) == (
        "trustpilot",
        "trustpilot",
        "review",
        "r-1",
        "zoe",
    )
    assert m.extra["reply_url"] == "https://example.invalid/reply"
    assert len(generic.parse({}, [item, {**item, "id": "r-2"}], CTX).messages) == 2
    with pytest.raises(MalformedPayload):
        generic.parse({}, {**item, "kind": "fax"}, CTX)
    with pytest.raises(MalformedPayload):
        generic.parse({}, {"id": "x"}, CTX)


# -- echoes carry the thread of the customer's messages (their conversation_id) and a time --------


def test_echoes_name_the_thread_the_customers_messages_name() -> None:
    """Each echo's `conversation_id` is what the customer's messages in the same thread carry, so
    that the conversation page can put our replies, typed on the platform or not, in it."""
    parsed = meta.parse({}, load("facebook_feed_comment.json"), CTX)
    [own] = parsed.own
    body = load("facebook_feed_comment.json")
    body["entry"][0]["changes"][0]["value"]["from"] = {"id": "999", "name": "Camille Martin"}
    [customer] = meta.parse({}, body, CTX).messages
    assert own.conversation_id == customer.conversation_id == "448242228374517_122131676912594941"
    assert own.created_at == dt.datetime.fromtimestamp(1742667604, dt.UTC)

    echo = {
        "object": "page",
        "entry": [
            {
                "id": "111111",
                "messaging": [
                    {
                        "sender": {"id": "111111"},
                        "recipient": {"id": "USER_ID"},
                        "timestamp": 1457764200000,
                        "message": {"mid": "m.echo", "is_echo": True, "text": "Bonjour !"},
                    }
                ],
            }
        ],
    }
    [dm] = meta.parse({}, load("messenger_text.json"), CTX).messages
    [own] = meta.parse({}, echo, CTX).own
    assert (own.in_reply_to, own.conversation_id) == ("USER_ID", dm.conversation_id)
    assert own.created_at == dt.datetime.fromtimestamp(1457764200, dt.UTC)

    [status] = meta.parse({}, load("whatsapp_status.json"), CTX).own
    assert status.conversation_id == "972987654321" and status.created_at is not None

    body = load("x_dm.json")
    create = body["direct_message_events"][0]["message_create"]
    create["sender_id"], create["target"]["recipient_id"] = "4337869213", "3001969357"
    [own] = x.parse({}, body, CTX).own
    [customer] = x.parse({}, load("x_dm.json"), CTX).messages
    assert own.conversation_id == own.in_reply_to == customer.conversation_id == "3001969357"

    body = load("slack_event.json")
    body["event"].update(bot_id="B1", thread_ts="1595926230.009600")
    [own] = slack.parse({}, body, CTX).own
    [customer] = slack.parse({}, load("slack_event.json"), CTX).messages
    assert own.conversation_id == customer.conversation_id == "C111"
    assert own.in_reply_to == customer.reply_to_id


def test_an_echo_with_an_unreadable_time_is_kept_without_it() -> None:
    body = load("facebook_feed_comment.json")
    body["entry"][0]["changes"][0]["value"]["created_time"] = "yesterday"
    [own] = meta.parse({}, body, CTX).own
    assert own.created_at is None and own.external_id == "122131676912594941_1213590066982748"
