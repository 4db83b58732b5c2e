"""Webhook endpoints: handshake, verify over the raw bytes, parse, hand to intake, answer.

The 200 leaves only after the delivery is committed; 503 when the database cannot take it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import SecretStr

from app import metrics
from app.config import Settings
from app.errors import BadRequest, Forbidden, PayloadTooLarge, Unauthorized, Unavailable
from app.intake import DatabaseUnavailable, Delivery, Intake
from app.webhooks import signatures as sig
from app.webhooks.adapters import generic, meta, slack, telegram, x
from app.webhooks.types import AdapterContext, MalformedPayload, Parsed

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

# Headers worth keeping in the journal (signatures and ids help replay and forensics). Never the
# Telegram secret token: it is the shared secret itself.
JOURNAL_HEADERS = (
    "content-type",
    "user-agent",
    "x-hub-signature-256",
    "x-twitter-webhooks-signature",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "x-slack-retry-num",
    "x-slack-retry-reason",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
)

Parser = Callable[[dict[str, str], Any, AdapterContext], Parsed]


def _secret(value: SecretStr | None, platform: str) -> bytes:
    if value is None:
        metrics.WEBHOOKS_REJECTED.labels(platform, "not_configured").inc()
        raise Forbidden(f"the {platform} channel is not configured (its secret is not set)")
    return value.get_secret_value().encode()


def _verify(platform: str, settings: Settings, body: bytes, headers: dict[str, str]) -> None:
    secret = _secret(SECRET_FIELDS[platform](settings), platform)
    tol = settings.timestamp_tolerance_s
    try:
        if platform == "meta":
            sig.verify_meta(secret, body, headers)
        elif platform == "x":
            sig.verify_x(secret, body, headers)
        elif platform == "telegram":
            sig.verify_telegram(secret, body, headers)
        elif platform == "slack":
            sig.verify_slack(secret, body, headers, tolerance_s=tol)
        else:
            sig.verify_standard(sig.standard_webhooks_key(secret.decode()), body, headers, tolerance_s=tol)
    except sig.InvalidSignature as e:
        metrics.WEBHOOKS_REJECTED.labels(platform, e.reason).inc()
        raise Unauthorized(f"signature check failed: {e.reason}") from None


PARSERS: dict[str, Parser] = {
    "meta": meta.parse,
    "x": x.parse,
    "telegram": telegram.parse,
    "slack": slack.parse,
    "generic": generic.parse,
}


async def read_body(receive: Any, headers: dict[str, str], limit: int, platform: str) -> bytes | None:
    """The raw body from the ASGI `receive`, refused past `limit` bytes without reading it all;
    None when the client went away before its body ended."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        metrics.WEBHOOKS_REJECTED.labels(platform, "too_large").inc()
        raise PayloadTooLarge(f"body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            metrics.WEBHOOKS_REJECTED.labels(platform, "too_large").inc()
            raise PayloadTooLarge(f"body over {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def handle(state: Any, platform: str, headers: dict[str, str], body: bytes) -> bytes:
    """Verify, parse and store one delivery; the JSON answer of a 200. Failures raise RelaisError.

    The one home of webhook handling: the documented routes below and the ASGI fast path
    (`app.webhooks.fastpath`, in front of FastAPI) both call it.
    """
    started = time.perf_counter()
    settings: Settings = state.settings
    _verify(platform, settings, body, headers)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        metrics.WEBHOOKS_REJECTED.labels(platform, "malformed").inc()
        raise BadRequest(f"body is not valid JSON: {e}") from None
    try:
        parsed = PARSERS[platform](headers, payload, state.adapter_context)
    except MalformedPayload as e:
        metrics.WEBHOOKS_REJECTED.labels(platform, "malformed").inc()
        raise BadRequest(f"malformed {platform} payload: {e}") from None
    metrics.WEBHOOKS_RECEIVED.labels(platform).inc()
    if parsed.response is not None:
        return orjson.dumps(parsed.response)
    delivery = Delivery(
        platform=platform,
        digest=hashlib.sha256(body).hexdigest(),
        delivery_id=parsed.delivery_id,
        headers={k: headers[k] for k in JOURNAL_HEADERS if k in headers},
        body=body,
        parsed=parsed,
    )
    intake: Intake = state.intake
    try:
        result = await intake.submit(delivery)
    except DatabaseUnavailable:
        metrics.WEBHOOKS_REJECTED.labels(platform, "database_unavailable").inc()
        raise Unavailable("the delivery could not be stored; retry later") from None
    if result.stored:
        metrics.MESSAGES_STORED.labels(platform).inc(result.stored)
    if result.duplicates:
        metrics.WEBHOOK_DUPLICATES.labels(platform).inc(result.duplicates)
    metrics.WEBHOOK_LATENCY.labels(platform).observe(time.perf_counter() - started)
    return orjson.dumps(
        {"ok": True, "stored": result.stored, "duplicates": result.duplicates, "ignored": result.ignored}
    )


def check_configured(settings: Settings, platform: str) -> None:
    """Refuse before reading the body when the channel has no secret."""
    _secret(SECRET_FIELDS[platform](settings), platform)


SECRET_FIELDS: dict[str, Callable[[Settings], SecretStr | None]] = {
    "meta": lambda s: s.meta_app_secret,
    "x": lambda s: s.x_consumer_secret,
    "telegram": lambda s: s.telegram_secret_token,
    "slack": lambda s: s.slack_signing_secret,
    "generic": lambda s: s.generic_secret,
}


async def receive(request: Request, platform: str) -> Response:
    settings: Settings = request.app.state.settings
    check_configured(settings, platform)
    headers = {k.lower(): v for k, v in request.headers.items()}
    body = await read_body(request.receive, headers, settings.max_body_bytes, platform)
    if body is None:
        return Response(status_code=400)  # the client is gone; nobody reads this
    return Response(await handle(request.app.state, platform, headers, body), media_type="application/json")


@router.get("/meta", response_class=PlainTextResponse)
def meta_handshake(
    request: Request,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
) -> PlainTextResponse:
    """Meta's subscription handshake: echo `hub.challenge` when the verify token matches."""
    expected = request.app.state.settings.meta_verify_token
    if expected is None:
        raise Forbidden("the meta channel has no verify token configured")
    if (
        mode != "subscribe"
        or token is None
        or challenge is None
        or not hmac.compare_digest(token.encode(), expected.get_secret_value().encode())
    ):
        metrics.WEBHOOKS_REJECTED.labels("meta", "bad_verify_token").inc()
        raise Forbidden("verification failed")
    return PlainTextResponse(challenge)


@router.post("/meta")
async def meta_webhook(request: Request) -> Response:
    """Facebook Page comments, Messenger, Instagram comments and DMs, WhatsApp Cloud API."""
    return await receive(request, "meta")


@router.get("/x")
def x_crc(request: Request, crc_token: Annotated[str | None, Query()] = None) -> dict[str, str]:
    """X's challenge-response check."""
    if not crc_token:
        raise BadRequest("crc_token is required")
    secret = _secret(request.app.state.settings.x_consumer_secret, "x")
    return {"response_token": sig.x_crc_response(secret, crc_token)}


@router.post("/x")
async def x_webhook(request: Request) -> Response:
    """X Account Activity events and the X Activity API envelope."""
    return await receive(request, "x")


@router.post("/telegram")
async def telegram_webhook(request: Request) -> Response:
    """Telegram Bot API updates."""
    return await receive(request, "telegram")


@router.post("/slack")
async def slack_webhook(request: Request) -> Response:
    """Slack Events API, `url_verification` included."""
    return await receive(request, "slack")


@router.post("/generic")
async def generic_webhook(request: Request) -> Response:
    """Any other source, signed with the Standard Webhooks scheme."""
    return await receive(request, "generic")
