"""Known-answer tests for every signature scheme (vectors computed with `openssl dgst`), and the
refusals: tampered bodies, wrong secrets, stale timestamps."""

import base64

import pytest

from app.platforms import generic, meta, slack, telegram, x
from app.platforms.signing import InvalidSignature

SLACK_DOC_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)


def test_slack_documentation_example() -> None:
    headers = {
        "x-slack-request-timestamp": "1531420618",
        "x-slack-signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    }
    slack.verify(b"8f742231b10e8888abcd99yyyzzz85a5", SLACK_DOC_BODY, headers, now=1531420618 + 10)


def test_slack_stale_timestamp_refused_even_with_a_good_signature() -> None:
    headers = {
        "x-slack-request-timestamp": "1531420618",
        "x-slack-signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    }
    with pytest.raises(InvalidSignature) as e:
        slack.verify(b"8f742231b10e8888abcd99yyyzzz85a5", SLACK_DOC_BODY, headers, now=1531420618 + 301)
    assert e.value.reason == "stale_timestamp"


def test_slack_tampered_body() -> None:
    headers = {
        "x-slack-request-timestamp": "1531420618",
        "x-slack-signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    }
    with pytest.raises(InvalidSignature, match="bad_signature"):
        slack.verify(b"8f742231b10e8888abcd99yyyzzz85a5", SLACK_DOC_BODY + b"x", headers, now=1531420618)


META_BODY = b'{"object":"page","entry":[]}'
META_SIG = "sha256=38e252e2a181cade5eabf56dcf006ab7a015304656730bffe1619b43065805b2"


def test_meta_known_answer() -> None:
    meta.verify(b"kat-meta-secret", META_BODY, {"x-hub-signature-256": META_SIG})
    meta.verify(
        b"kat-meta-secret", META_BODY, {"x-hub-signature-256": META_SIG.upper().replace("SHA256", "sha256")}
    )


@pytest.mark.parametrize(
    "headers,reason",
    [
        ({}, "missing_signature"),
        ({"x-hub-signature-256": "sha1=" + "0" * 40}, "bad_signature"),
        ({"x-hub-signature": "sha1=anything"}, "missing_signature"),  # the legacy header is never a fallback
        ({"x-hub-signature-256": META_SIG[:-1] + "0"}, "bad_signature"),
    ],
)
def test_meta_refusals(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(InvalidSignature) as e:
        meta.verify(b"kat-meta-secret", META_BODY, headers)
    assert e.value.reason == reason


def test_meta_wrong_secret_and_tampered_body() -> None:
    with pytest.raises(InvalidSignature):
        meta.verify(b"another-secret", META_BODY, {"x-hub-signature-256": META_SIG})
    with pytest.raises(InvalidSignature):
        meta.verify(
            b"kat-meta-secret", META_BODY.replace(b"page", b"user"), {"x-hub-signature-256": META_SIG}
        )


def test_x_known_answers() -> None:
    x.verify(
        b"kat-x-secret",
        b'{"for_user_id":"1"}',
        {"x-twitter-webhooks-signature": "sha256=tKWsDM/XuB2Rxhn3kwFYKOsVLUjRCOAkcfPa47Lvasg="},
    )
    assert (
        x.crc_response(b"kat-x-secret", "crc-kat-token")
        == "sha256=u+RPN6t//IPW/LWaWvmYZWXzsYAYwHM8dWW0+YZWi84="
    )
    with pytest.raises(InvalidSignature):
        x.verify(
            b"kat-x-secret",
            b'{"for_user_id":"2"}',
            {"x-twitter-webhooks-signature": "sha256=tKWsDM/XuB2Rxhn3kwFYKOsVLUjRCOAkcfPa47Lvasg="},
        )


def test_telegram_shared_secret() -> None:
    telegram.verify(b"s3cret", b"{}", {"x-telegram-bot-api-secret-token": "s3cret"})
    for value in ("s3cre", "s3cret2", ""):
        with pytest.raises(InvalidSignature):
            telegram.verify(b"s3cret", b"{}", {"x-telegram-bot-api-secret-token": value})


GENERIC_KEY = b"kat-generic-key"
GENERIC_SIG = "v1,nq6jl6xDmYzXWjE8HI35rMaMLDIElPE4KEqEoWk46qI="


def test_standard_webhooks_known_answer_and_rotation() -> None:
    headers = {"webhook-id": "msg_kat", "webhook-timestamp": "1700000000", "webhook-signature": GENERIC_SIG}
    generic.verify_standard(GENERIC_KEY, b'{"id":"1"}', headers, now=1700000000)
    # key rotation: several signatures, one valid
    rotated = {**headers, "webhook-signature": "v1,AAAA " + GENERIC_SIG}
    generic.verify_standard(GENERIC_KEY, b'{"id":"1"}', rotated, now=1700000000)
    assert generic.sign_standard(GENERIC_KEY, "msg_kat", 1700000000, b'{"id":"1"}') == GENERIC_SIG


@pytest.mark.parametrize(
    "change,reason",
    [
        ({"webhook-timestamp": "1699999000"}, "stale_timestamp"),
        ({"webhook-id": "msg_other"}, "bad_signature"),
        ({"webhook-signature": "v1,AAAA"}, "bad_signature"),
        ({"webhook-timestamp": "soon"}, "bad_timestamp"),
    ],
)
def test_standard_webhooks_refusals(change: dict[str, str], reason: str) -> None:
    headers = {
        "webhook-id": "msg_kat",
        "webhook-timestamp": "1700000000",
        "webhook-signature": GENERIC_SIG,
        **change,
    }
    with pytest.raises(InvalidSignature) as e:
        generic.verify_standard(GENERIC_KEY, b'{"id":"1"}', headers, now=1700000000)
    assert e.value.reason == reason


def test_whsec_secret_is_base64_decoded() -> None:
    secret = "whsec_" + base64.b64encode(GENERIC_KEY).decode()
    assert generic.standard_webhooks_key(secret) == GENERIC_KEY
    assert generic.standard_webhooks_key("plain-secret") == b"plain-secret"
    with pytest.raises(ValueError):
        generic.standard_webhooks_key("whsec_not base64!")
