"""Outbound clients against a real loopback HTTP server playing each platform (no mocks)."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.platforms.generic import standard_webhooks_key, verify_standard
from app.platforms.sending import Outgoing, SendResult, parse_retry_after, send
from app.platforms.signing import InvalidSignature
from tests.fakes.platforms import FakePlatforms

NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
TOKENS = {
    "meta_access_token": "EAAGmetaTOKENsecret123",
    "x_access_token": "xTOKENsecret456",
    "telegram_bot_token": "123456:TELEGRAMtokenSECRET",
    "slack_bot_token": "xoxb-slackTOKENsecret",
}
GENERIC_SECRET = "whsec_" + base64.b64encode(b"outbox-generic-secret-0123456789").decode()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        yield c


def make_settings(fake: FakePlatforms, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        **fake.settings_overrides(),
        **TOKENS,
        "generic_secret": GENERIC_SECRET,
        "send_timeout_s": 2.0,
    }
    values.update(extra)
    return Settings(_env_file=None, **values)


def out(
    platform: str,
    channel: str,
    kind: str,
    *,
    account_id: str = "PAGE1",
    text: str = "Merci !",
    age: timedelta = timedelta(minutes=5),
    **target: Any,
) -> Outgoing:
    base = {
        "kind": kind,
        "channel": channel,
        "message_external_id": "EXT1",
        "reply_to_id": "R1",
        "conversation_id": "C1",
        "author_id": "A1",
        "customer_at": (NOW - age).isoformat(),
    }
    base.update(target)
    return Outgoing(
        platform=platform,
        channel=channel,
        account_id=account_id,
        target=base,
        text=text,
        idempotency_key="relais-outbox-42",
    )


def do(client: httpx.Client, settings: Settings, o: Outgoing) -> SendResult:
    result = send(client, settings, o, now=NOW)
    if result.error:
        for token in (*TOKENS.values(), GENERIC_SECRET):
            assert token not in result.error
    return result


def only_call(fake: FakePlatforms) -> dict[str, Any]:
    calls = fake.calls
    assert len(calls) == 1, calls
    return calls[0]


def graph_error(code: int, subcode: int | None = None, message: str = "boom") -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Ab"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


# --------------------------------------------------------------------------------------------- Meta


def test_facebook_comment_reply(fake: FakePlatforms, client: httpx.Client) -> None:
    r = do(client, make_settings(fake), out("meta", "facebook", "comment", reply_to_id="111_222"))
    call = only_call(fake)
    assert (call["method"], call["path"]) == ("POST", "/v21.0/111_222/comments")
    assert call["json"] == {"message": "Merci !"}
    assert call["headers"]["authorization"] == f"Bearer {TOKENS['meta_access_token']}"
    assert TOKENS["meta_access_token"] not in call["path"]
    assert r.outcome == "sent" and r.platform_message_id and r.platform_message_id.endswith("_fake")
    assert r.http_status == 200


def test_instagram_comment_reply(fake: FakePlatforms, client: httpx.Client) -> None:
    fake.script(200, {"id": "17900000000000001"})
    r = do(
        client, make_settings(fake), out("meta", "instagram", "comment", account_id="IG1", reply_to_id="1789")
    )
    call = only_call(fake)
    assert (call["method"], call["path"]) == ("POST", "/v21.0/1789/replies")
    assert call["json"] == {"message": "Merci !"}
    assert call["headers"]["authorization"] == f"Bearer {TOKENS['meta_access_token']}"
    assert (r.outcome, r.platform_message_id) == ("sent", "17900000000000001")


@pytest.mark.parametrize("channel", ["messenger", "instagram"])
def test_dm_inside_24h_is_a_response(fake: FakePlatforms, client: httpx.Client, channel: str) -> None:
    fake.script(200, {"recipient_id": "PSID9", "message_id": "m_abc"})
    r = do(
        client, make_settings(fake), out("meta", channel, "dm", author_id="PSID9", age=timedelta(hours=23))
    )
    call = only_call(fake)
    assert (call["method"], call["path"]) == ("POST", "/v21.0/PAGE1/messages")
    assert call["json"] == {
        "recipient": {"id": "PSID9"},
        "messaging_type": "RESPONSE",
        "message": {"text": "Merci !"},
    }
    assert call["headers"]["authorization"] == f"Bearer {TOKENS['meta_access_token']}"
    assert (r.outcome, r.platform_message_id) == ("sent", "m_abc")


def test_messenger_after_24h_uses_human_agent_tag(fake: FakePlatforms, client: httpx.Client) -> None:
    r = do(
        client,
        make_settings(fake),
        out("meta", "messenger", "dm", author_id="PSID9", age=timedelta(hours=25)),
    )
    assert only_call(fake)["json"] == {
        "recipient": {"id": "PSID9"},
        "messaging_type": "MESSAGE_TAG",
        "tag": "HUMAN_AGENT",
        "message": {"text": "Merci !"},
    }
    assert r.outcome == "sent" and r.platform_message_id and r.platform_message_id.startswith("m_")


def test_messenger_after_7_days_is_dead_without_a_call(fake: FakePlatforms, client: httpx.Client) -> None:
    r = do(client, make_settings(fake), out("meta", "messenger", "dm", age=timedelta(days=8)))
    assert r.outcome == "dead" and r.error and "24-hour window closed" in r.error
    assert not r.token_expired
    assert fake.calls == []


def test_whatsapp_reply(fake: FakePlatforms, client: httpx.Client) -> None:
    o = out(
        "meta",
        "whatsapp",
        "dm",
        account_id="PHONE1",
        author_id="33612345678",
        message_external_id="wamid.IN1",
        age=timedelta(hours=2),
    )
    r = do(client, make_settings(fake), o)
    call = only_call(fake)
    assert (call["method"], call["path"]) == ("POST", "/v21.0/PHONE1/messages")
    assert call["json"] == {
        "messaging_product": "whatsapp",
        "to": "33612345678",
        "type": "text",
        "text": {"body": "Merci !"},
        "context": {"message_id": "wamid.IN1"},
    }
    assert call["headers"]["authorization"] == f"Bearer {TOKENS['meta_access_token']}"
    assert r.outcome == "sent" and r.platform_message_id and r.platform_message_id.startswith("wamid.")


def test_whatsapp_after_24h_is_dead_without_a_call(fake: FakePlatforms, client: httpx.Client) -> None:
    r = do(client, make_settings(fake), out("meta", "whatsapp", "dm", age=timedelta(hours=25)))
    assert r.outcome == "dead" and r.error and "24-hour window closed" in r.error
    assert fake.calls == []


@pytest.mark.parametrize(
    ("status", "code", "subcode"),
    [
        (400, 4, None),
        (400, 17, None),
        (400, 32, None),
        (400, 613, None),
        (400, 80001, None),
        (400, 80008, None),
        (400, 130429, None),
        (400, 131048, None),
        (400, 131056, None),
        (500, 1, None),
        (500, 2, None),
    ],
)
def test_meta_rate_limits_and_transient_errors_retry(
    fake: FakePlatforms, client: httpx.Client, status: int, code: int, subcode: int | None
) -> None:
    fake.script(status, graph_error(code, subcode, "Application request limit reached"))
    r = do(client, make_settings(fake), out("meta", "facebook", "comment"))
    assert (r.outcome, r.http_status, r.token_expired) == ("retry", status, False)
    assert r.error and str(code) in r.error


def test_meta_429_honours_retry_after(fake: FakePlatforms, client: httpx.Client) -> None:
    fake.script(429, {"error": {"message": "slow down", "code": 4}}, {"Retry-After": "120"})
    r = do(client, make_settings(fake), out("meta", "facebook", "comment"))
    assert (r.outcome, r.retry_after_s) == ("retry", 120.0)


def test_meta_190_is_dead_and_pauses_the_channel(fake: FakePlatforms, client: httpx.Client) -> None:
    fake.script(400, graph_error(190, 463, "Error validating access token: Session has expired"))
    r = do(client, make_settings(fake), out("meta", "messenger", "dm"))
    assert (r.outcome, r.token_expired, r.http_status) == ("dead", True, 400)
    assert r.error and "190" in r.error


@pytest.mark.parametrize("code", [10, 200, 230, 299, 368, 551, 131047, 131026, 100])
def test_meta_permission_window_and_invalid_errors_are_dead(
    fake: FakePlatforms, client: httpx.Client, code: int
) -> None:
    fake.script(400, graph_error(code, message="(#10) This message is sent outside of allowed window."))
    r = do(client, make_settings(fake), out("meta", "whatsapp", "dm"))
    assert (r.outcome, r.token_expired) == ("dead", False)


@pytest.mark.parametrize(
    ("status", "outcome"), [(500, "retry"), (503, "retry"), (429, "retry"), (404, "dead"), (400, "dead")]
)
def test_meta_http_status_without_known_code(
    fake: FakePlatforms, client: httpx.Client, status: int, outcome: str
) -> None:
    fake.script(status, "<html>upstream error</html>")
    r = do(client, make_settings(fake), out("meta", "facebook", "comment"))
    assert (r.outcome, r.http_status) == (outcome, status)


def test_meta_malformed_success_is_unknown(fake: FakePlatforms, client: httpx.Client) -> None:
    fake.script(200, {"success": True})
    r = do(client, make_settings(fake), out("meta", "facebook", "comment"))
    assert r.outcome == "unknown"


def test_meta_error_never_leaks_the_token(fake: FakePlatforms, client: httpx.Client) -> None:
    token = TOKENS["meta_access_token"]
    fake.script(400, graph_error(190, message=f"Invalid OAuth access token - Cannot parse {token}"))
    r = send(client, make_settings(fake), out("meta", "facebook", "comment"), now=NOW)
    assert r.outcome == "dead" and r.token_expired
    assert r.error and token not in r.error and "***" in r.error


# ------------------------------------------------------------------------------------------------ X


def test_x_mention_reply(fake: FakePlatforms, client: httpx.Client) -> None:
    r = do(client, make_settings(fake), out("x", "x", "mention", reply_to_id="1850000000000000001"))
    call = only_call(fake)
    assert (call["method"], call["path"]) == ("POST", "/2/tweets")
    assert call["json"] == {"text": "Merci !", "reply": {"in_reply_to_tweet_id": "1850000000000000001"}}
    assert call["headers"]["authorization"] == f"Bearer {TOKENS['x_access_token']}"
    assert r.outcome == "sent" and r.platform_message_id and r.platform_message_id.isdigit()


def test_x_dm_reply(fake: FakePlatforms, client: httpx.Client) -> None:
    fake.script(201, {"data": {"dm_conversation_id": "1-2", "dm_event_id": "1580000000000000000"}})
    r = do(client, make_settings(fake), out("x", "x", "dm", author_id="987654321"))
    call = only_call(fake)
    assert (call["method"], call["path"]) == ("POST", "/2/dm_conversations/with/987654321/messages")
    assert call["json"] == {"text": "Merci !"}
    assert call["headers"]["authorization"] == f"Bearer {TOKENS['x_access_token']}"
    assert (r.outcome, r.platform_message_id, r.http_status) == ("sent", "1580000000000000000", 201)


def test_x_tweet_over_280_chars_is_dead_without_a_call(fake: FakePlatforms, client: httpx.Client) -> None:
    r = do(client, make_settings(fake), out("x", "x", "mention", text="a" * 281))
    assert r.outcome == "dead" and r.error and "280" in r.error
    assert fake.calls == []


def test_x_429_uses_rate_limit_reset(fake: FakePlatforms, client: httpx.Client) -> None:
    reset = int(NOW.timestamp()) + 600
    fake.script(
        429,
        {"title": "Too Many Requests", "detail": "Too Many Requests", "status": 429},
        {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)},
    )
    r = do(client, make_settings(fake), out("x", "x", "mention"))
    assert (r.outcome, r.http_status, r.retry_after_s) == ("retry", 429, 600.0)


def test_x_429_with_retry_after(fake: FakePlatforms, client: httpx.Client) -> None:
    fake.script(429, {"title": "Too Many Requests"}, {"Retry-After": "30"})
    r = do(client, make_settings(fake), out("x", "x", "dm"))
    assert (r.outcome, r.retry_after_s) == ("retry", 30.0)


@pytest.mark.parametrize(
    ("status", "outcome", "expired"),
    [
        (500, "retry", False),
        (503, "retry", False),
        (401, "dead", True),
        (403, "dead", False),
        (400, "dead", False),
    ],
)
def test_x_error_statuses(
    fake: FakePlatforms, client: httpx.Client, status: int, outcome: str, expired: bool
) -> None:
    fake.script(status, {"title": "Error", "detail": "duplicate content"})
    r = do(client, make_settings(fake), out("x", "x", "mention"))
    assert (r.outcome, r.token_expired, r.http_status) == (outcome, expired, status)


# ----------------------------------------------------------------------------------------- Telegram


def test_telegram_reply(fake: FakePlatforms, client: httpx.Client) -> None:
    o = out(
        "telegram",
        "telegram",
        "message",
        account_id="BOT1",
        conversation_id="-1001234567890",
        reply_to_id="42",
        thread_id=7,
        chat_type="supergroup",
    )
    r = do(client, make_settings(fake), o)
    call = only_call(fake)
    assert (call["method"], call["path"]) == ("POST", f"/bot{TOKENS['telegram_bot_token']}/sendMessage")
    assert call["json"] == {
        "chat_id": -1001234567890,
        "text": "Merci !",
        "message_thread_id": 7,
        "reply_parameters": {"message_id": 42, "allow_sending_without_reply": True},
    }
    assert "authorization" not in call["headers"]
    assert r.outcome == "sent" and r.platform_message_id and r.platform_message_id.isdigit()


def test_telegram_private_chat_without_thread(fake: FakePlatforms, client: httpx.Client) -> None:
    fake.script(200, {"ok": True, "result": {"message_id": 555}})
    r = do(
        client,
        make_settings(fake),
        out("telegram", "telegram", "dm", conversation_id="12345", reply_to_id="9"),
    )
    assert only_call(fake)["json"] == {
        "chat_id": 12345,
        "text": "Merci !",
        "reply_parameters": {"message_id": 9, "allow_sending_without_reply": True},
    }
    assert (r.outcome, r.platform_message_id) == ("sent", "555")


def test_telegram_429_retry_after(fake: FakePlatforms, client: httpx.Client) -> None:
    fake.script(
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 35",
            "parameters": {"retry_after": 35},
        },
    )
    r = do(
        client, make_settings(fake), out("telegram", "telegram", "dm", conversation_id="1", reply_to_id="2")
    )
    assert (r.outcome, r.retry_after_s, r.http_status) == ("retry", 35.0, 429)


@pytest.mark.parametrize(
    ("status", "description", "outcome", "expired"),
    [
        (401, "Unauthorized", "dead", True),
        (404, "Not Found", "dead", True),
        (403, "Forbidden: bot was blocked by the user", "dead", False),
        (400, "Bad Request: chat not found", "dead", False),
        (500, "Internal Server Error", "retry", False),
        (502, "Bad Gateway", "retry", False),
    ],
)
def test_telegram_errors(
    fake: FakePlatforms, client: httpx.Client, status: int, description: str, outcome: str, expired: bool
) -> None:
    fake.script(status, {"ok": False, "error_code": status, "description": description})
    r = do(
        client, make_settings(fake), out("telegram", "telegram", "dm", conversation_id="1", reply_to_id="2")
    )
    assert (r.outcome, r.token_expired, r.http_status) == (outcome, expired, status)


def test_telegram_token_never_in_error_even_on_transport_failure(client: httpx.Client) -> None:
    port = _closed_port()
    settings = Settings(
        _env_file=None,
        telegram_api_url=f"http://127.0.0.1:{port}",
        send_timeout_s=2.0,
        telegram_bot_token=TOKENS["telegram_bot_token"],
    )
    r = do(client, settings, out("telegram", "telegram", "dm", conversation_id="1", reply_to_id="2"))
    assert r.outcome == "retry"


# -------------------------------------------------------------------------------------------- Slack


def test_slack_reply_in_thread(fake: FakePlatforms, client: httpx.Client) -> None:
    o = out(
        "slack",
        "slack",
        "mention",
        account_id="T1",
        conversation_id="C42",
        reply_to_id="1700000000.000100",
        thread_ts="1700000000.000050",
    )
    r = do(client, make_settings(fake), o)
    call = only_call(fake)
    assert (call["method"], call["path"]) == ("POST", "/api/chat.postMessage")
    assert call["json"] == {"channel": "C42", "text": "Merci !", "thread_ts": "1700000000.000050"}
    assert call["headers"]["authorization"] == f"Bearer {TOKENS['slack_bot_token']}"
    assert r.outcome == "sent" and r.platform_message_id and r.platform_message_id.startswith("1700000000.")


def test_slack_thread_falls_back_to_reply_to_id(fake: FakePlatforms, client: httpx.Client) -> None:
    fake.script(200, {"ok": True, "channel": "C42", "ts": "1700000001.000001"})
    r = do(
        client,
        make_settings(fake),
        out("slack", "slack", "message", conversation_id="C42", reply_to_id="17.5"),
    )
    assert only_call(fake)["json"]["thread_ts"] == "17.5"
    assert (r.outcome, r.platform_message_id) == ("sent", "1700000001.000001")


@pytest.mark.parametrize(
    ("error", "outcome", "expired"),
    [
        ("ratelimited", "retry", False),
        ("invalid_auth", "dead", True),
        ("token_revoked", "dead", True),
        ("token_expired", "dead", True),
        ("not_authed", "dead", True),
        ("account_inactive", "dead", True),
        ("channel_not_found", "dead", False),
        ("not_in_channel", "dead", False),
        ("msg_too_long", "dead", False),
    ],
)
def test_slack_errors(
    fake: FakePlatforms, client: httpx.Client, error: str, outcome: str, expired: bool
) -> None:
    fake.script(200, {"ok": False, "error": error})
    r = do(client, make_settings(fake), out("slack", "slack", "message", conversation_id="C42"))
    assert (r.outcome, r.token_expired, r.http_status) == (outcome, expired, 200)
    assert r.error and error in r.error


def test_slack_429_retry_after(fake: FakePlatforms, client: httpx.Client) -> None:
    fake.script(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "3"})
    r = do(client, make_settings(fake), out("slack", "slack", "message", conversation_id="C42"))
    assert (r.outcome, r.retry_after_s, r.http_status) == ("retry", 3.0, 429)


# ------------------------------------------------------------------------------------------ Generic


def test_generic_callback_is_signed(fake: FakePlatforms, client: httpx.Client) -> None:
    o = out(
        "generic",
        "forum",
        "comment",
        account_id="forum",
        message_external_id="post-9",
        conversation_id="thread-3",
        reply_url=fake.url + "/forum/replies",
    )
    r = do(client, make_settings(fake), o)
    call = only_call(fake)
    assert (call["method"], call["path"]) == ("POST", "/forum/replies")
    assert call["json"] == {
        "id": "relais-outbox-42",
        "in_reply_to": "post-9",
        "thread_id": "thread-3",
        "source": "forum",
        "text": "Merci !",
    }
    headers = call["headers"]
    assert headers["webhook-id"] == "relais-outbox-42"
    assert headers["webhook-timestamp"] == str(int(NOW.timestamp()))
    key = standard_webhooks_key(GENERIC_SECRET)
    verify_standard(key, call["raw"], headers, now=NOW.timestamp())
    with pytest.raises(InvalidSignature):
        verify_standard(key, call["raw"] + b" ", headers, now=NOW.timestamp())
    assert r.outcome == "sent" and r.platform_message_id and r.platform_message_id.startswith("generic-")


def test_generic_uses_the_configured_callback_and_defaults_the_id(
    fake: FakePlatforms, client: httpx.Client
) -> None:
    fake.script(204, None)
    r = do(client, make_settings(fake), out("generic", "shop", "email", account_id="shop"))
    assert only_call(fake)["path"] == "/generic/reply"
    assert (r.outcome, r.platform_message_id, r.http_status) == ("sent", "relais-outbox-42", 204)


def test_generic_without_callback_url_is_dead(fake: FakePlatforms, client: httpx.Client) -> None:
    r = do(client, make_settings(fake, generic_callback_url=None), out("generic", "shop", "email"))
    assert r.outcome == "dead" and r.error and "no callback URL" in r.error
    assert fake.calls == []


@pytest.mark.parametrize(
    ("status", "headers", "outcome", "retry_after"),
    [
        (429, {"Retry-After": "7"}, "retry", 7.0),
        (503, {}, "retry", None),
        (500, {}, "retry", None),
        (400, {}, "dead", None),
        (410, {}, "dead", None),
    ],
)
def test_generic_errors(
    fake: FakePlatforms,
    client: httpx.Client,
    status: int,
    headers: dict[str, str],
    outcome: str,
    retry_after: float | None,
) -> None:
    fake.script(status, {"error": "nope"}, headers)
    r = do(client, make_settings(fake), out("generic", "shop", "email"))
    assert (r.outcome, r.http_status, r.retry_after_s) == (outcome, status, retry_after)


# ----------------------------------------------------------------------------- credentials, transport


@pytest.mark.parametrize(
    ("platform", "channel", "kind", "field"),
    [
        ("meta", "facebook", "comment", "meta_access_token"),
        ("x", "x", "mention", "x_access_token"),
        ("telegram", "telegram", "dm", "telegram_bot_token"),
        ("slack", "slack", "message", "slack_bot_token"),
        ("generic", "shop", "email", "generic_secret"),
    ],
)
def test_missing_credential_is_dead_without_a_call(
    fake: FakePlatforms, client: httpx.Client, platform: str, channel: str, kind: str, field: str
) -> None:
    r = do(client, make_settings(fake, **{field: None}), out(platform, channel, kind))
    assert r.outcome == "dead" and r.error == f"RELAIS_{field.upper()} is not set"
    assert fake.calls == []


@pytest.mark.parametrize(
    ("platform", "channel", "kind"),
    [
        ("meta", "facebook", "comment"),
        ("x", "x", "mention"),
        ("telegram", "telegram", "dm"),
        ("slack", "slack", "message"),
        ("generic", "shop", "email"),
    ],
)
def test_read_timeout_is_unknown(
    fake: FakePlatforms, client: httpx.Client, platform: str, channel: str, kind: str
) -> None:
    fake.delay(2.0)
    settings = make_settings(fake, send_timeout_s=0.3)
    r = do(client, settings, out(platform, channel, kind, conversation_id="1", reply_to_id="2"))
    assert r.outcome == "unknown" and r.error and "ReadTimeout" in r.error
    assert len(fake.calls) == 1  # the request did reach the platform


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("platform", "channel", "kind"),
    [
        ("meta", "facebook", "comment"),
        ("x", "x", "mention"),
        ("slack", "slack", "message"),
        ("generic", "shop", "email"),
    ],
)
def test_refused_connection_is_retry(client: httpx.Client, platform: str, channel: str, kind: str) -> None:
    base = f"http://127.0.0.1:{_closed_port()}"
    settings = Settings(
        _env_file=None,
        meta_graph_url=base,
        x_api_url=base,
        slack_api_url=base,
        generic_callback_url=base + "/cb",
        generic_secret=GENERIC_SECRET,
        send_timeout_s=2.0,
        **TOKENS,
    )
    r = do(client, settings, out(platform, channel, kind))
    assert r.outcome == "retry" and r.error and "ConnectError" in r.error


def test_unknown_platform_is_dead(fake: FakePlatforms, client: httpx.Client) -> None:
    r = do(client, make_settings(fake), out("myspace", "myspace", "dm"))
    assert r.outcome == "dead"
    assert fake.calls == []


# -------------------------------------------------------------------------------------- Retry-After


def test_parse_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after(format_datetime(NOW + timedelta(seconds=90), usegmt=True), NOW) == 90.0
    assert parse_retry_after(format_datetime(NOW - timedelta(seconds=90), usegmt=True), NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_fake_answers_scripted_calls_in_order_and_by_path(fake: FakePlatforms, client: httpx.Client) -> None:
    fake.script(200, {"id": "only-for-replies"}, match="/replies")
    fake.script(200, {"id": "first"})
    settings = make_settings(fake)
    assert do(client, settings, out("meta", "facebook", "comment")).platform_message_id == "first"
    assert do(client, settings, out("meta", "instagram", "comment")).platform_message_id == "only-for-replies"
