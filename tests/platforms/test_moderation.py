"""Moderating a comment through the Graph API, against the loopback fake: the request each action
makes, and how each answer is classified (already deleted is done; unsupported is final)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app import platforms
from app.platforms.sending import Outgoing
from tests.fakes.platforms import FakePlatforms
from tests.platforms.test_sending import TOKENS, do, graph_error, make_settings, only_call, out


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        yield c


def moderation(
    action: str, channel: str = "facebook", kind: str = "comment", platform: str = "meta"
) -> Outgoing:
    o = out(platform, channel, kind, message_external_id="111_999")
    return Outgoing(o.platform, o.channel, o.account_id, o.target, "", o.idempotency_key, action=action)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "action,channel,method,body",
    [
        ("hide", "facebook", "POST", {"is_hidden": True}),
        ("unhide", "facebook", "POST", {"is_hidden": False}),
        ("hide", "instagram", "POST", {"hide": True}),
        ("unhide", "instagram", "POST", {"hide": False}),
        ("delete", "facebook", "DELETE", None),
        ("delete", "instagram", "DELETE", None),
    ],
)
def test_each_action_is_one_graph_call_on_the_comment(
    fake: FakePlatforms, client: httpx.Client, action: str, channel: str, method: str, body: object
) -> None:
    r = do(client, make_settings(fake), moderation(action, channel))
    call = only_call(fake)
    assert (call["method"], call["path"], call["json"]) == (method, "/v21.0/111_999", body)
    assert call["headers"]["authorization"] == f"Bearer {TOKENS['meta_access_token']}"
    assert r.outcome == "sent" and not r.already_done


@pytest.mark.parametrize(
    "status,answer", [(400, graph_error(100, 33, "Unsupported delete request")), (404, None)]
)
def test_deleting_a_comment_already_gone_is_done(
    fake: FakePlatforms, client: httpx.Client, status: int, answer: object
) -> None:
    fake.script(status, answer)
    r = do(client, make_settings(fake), moderation("delete"))
    assert r.outcome == "sent" and r.already_done


def test_hiding_a_comment_already_gone_is_final(fake: FakePlatforms, client: httpx.Client) -> None:
    fake.script(400, graph_error(100, 33, "Object does not exist"))
    r = do(client, make_settings(fake), moderation("hide"))
    assert r.outcome == "dead" and "100/33" in (r.error or "")


def test_graph_errors_of_a_moderation_are_classified_as_for_replies(
    fake: FakePlatforms, client: httpx.Client
) -> None:
    settings = make_settings(fake)
    fake.script(429, graph_error(4, message="limit"), {"Retry-After": "7"})
    fake.script(500, "oops")
    fake.script(400, graph_error(190, 463, f"expired {TOKENS['meta_access_token']}"))
    fake.script(200, {"success": False})
    limited, down, expired, refused = (do(client, settings, moderation("hide")) for _ in range(4))
    assert (limited.outcome, limited.retry_after_s) == ("retry", 7.0)
    assert down.outcome == "retry"
    assert expired.outcome == "dead" and expired.token_expired
    assert refused.outcome == "dead" and "success: false" in (refused.error or "")


@pytest.mark.parametrize(
    "platform,channel,kind",
    [
        ("meta", "messenger", "dm"),
        ("meta", "whatsapp", "dm"),
        ("telegram", "telegram", "dm"),
        ("x", "x", "dm"),  # a reply (a mention) can be hidden: tests/outbox/test_moderation.py
    ],
)
def test_a_message_without_moderation_is_refused_before_any_call(
    fake: FakePlatforms, client: httpx.Client, platform: str, channel: str, kind: str
) -> None:
    r = do(client, make_settings(fake), moderation("hide", channel, kind, platform))
    assert r.outcome == "dead" and r.error == f"hide is not supported on {channel}"
    assert fake.calls == []
    p = platforms.get(platform)
    assert p is not None and p.moderations(channel, kind) == frozenset()


def test_facebook_and_instagram_comments_can_be_hidden_unhidden_deleted() -> None:
    meta = platforms.get("meta")
    assert meta is not None
    for channel in ("facebook", "instagram"):
        assert meta.moderations(channel, "comment") == {"hide", "unhide", "delete"}
