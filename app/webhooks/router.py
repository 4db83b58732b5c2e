"""Webhook endpoints: `POST /webhooks/<platform>` for every registered platform (and its GET
handshake when it has one): verify over the raw bytes, parse, hand to intake, answer.

The 200 leaves only after the delivery is committed; 503 when the database cannot take it.
`receive_delivery` answers every failure itself (no exception handler needed), so that
`app.main.RelaisApp` can call the same endpoint before FastAPI's middleware stack: at thousands
of deliveries a second that stack costs as much as the work (see docs/experiments/intake.md).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from app import deps, metrics, platforms
from app.config import Settings
from app.errors import (
    BadRequest,
    PayloadTooLarge,
    RelaisError,
    Unauthorized,
    Unavailable,
    error_body,
    responses,
)
from app.intake import DatabaseUnavailable, Delivery, Intake
from app.intake.storable import storable
from app.platforms.base import Platform, inbound_secret
from app.platforms.signing import InvalidSignature
from app.platforms.types import AdapterContext, MalformedPayload

log = logging.getLogger("relais.webhooks")
router = APIRouter(prefix="/webhooks", tags=["webhooks"])
Endpoint = Callable[[Request], Awaitable[Response]]


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


async def handle(
    settings: Settings,
    ctx: AdapterContext,
    intake: Intake,
    platform: Platform,
    headers: dict[str, str],
    body: bytes,
) -> bytes:
    """Verify, parse and store one delivery; the JSON answer of a 200. Failures raise RelaisError."""
    started = time.perf_counter()
    name = platform.name
    try:
        platform.verify(settings, inbound_secret(platform, settings), body, headers)
    except InvalidSignature as e:
        metrics.WEBHOOKS_REJECTED.labels(name, e.reason).inc()
        raise Unauthorized(f"signature check failed: {e.reason}") from None
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        metrics.WEBHOOKS_REJECTED.labels(name, "malformed").inc()
        raise BadRequest(f"body is not valid JSON: {e}") from None
    try:
        parsed = storable(platform.parse(headers, payload, ctx), body)
    except MalformedPayload as e:
        metrics.WEBHOOKS_REJECTED.labels(name, "malformed").inc()
        raise BadRequest(f"malformed {name} payload: {e}") from None
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError) as e:
        # an authentic delivery the parser did not foresee: refused with its reason, logged as
        # the parser's bug, never a 500 the platform would retry for days
        log.exception("the %s parser failed on an authentic delivery", name)
        metrics.WEBHOOKS_REJECTED.labels(name, "malformed").inc()
        raise BadRequest(f"malformed {name} payload: {e.__class__.__name__}") from None
    metrics.WEBHOOKS_RECEIVED.labels(name).inc()
    if parsed.response is not None:
        return orjson.dumps(parsed.response)
    delivery = Delivery(
        platform=name,
        digest=hashlib.sha256(body).hexdigest(),
        delivery_id=parsed.delivery_id,
        headers={k: headers[k] for k in platform.journal_headers if k in headers},
        body=body,
        parsed=parsed,
    )
    try:
        result = await intake.submit(delivery)
    except DatabaseUnavailable:
        metrics.WEBHOOKS_REJECTED.labels(name, "database_unavailable").inc()
        raise Unavailable("the delivery could not be stored; retry later") from None
    if result.stored:
        metrics.MESSAGES_STORED.labels(name).inc(result.stored)
    if result.duplicates:
        metrics.WEBHOOK_DUPLICATES.labels(name).inc(result.duplicates)
    metrics.WEBHOOK_LATENCY.labels(name).observe(time.perf_counter() - started)
    return orjson.dumps(
        {"ok": True, "stored": result.stored, "duplicates": result.duplicates, "ignored": result.ignored}
    )


async def receive_delivery(request: Request, platform: Platform) -> Response:
    """One delivery, answered: 200 with what was stored, or the error's status and JSON body."""
    settings = deps.get_settings(request)  # called directly: the fast path runs ahead of injection
    headers: dict[str, str] = {}
    try:
        inbound_secret(platform, settings)  # refuse before reading the body
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]}
        body = await read_body(request.receive, headers, settings.max_body_bytes, platform.name)
        if body is None:
            return Response(status_code=400)  # the client went away: nobody reads this, nothing stored
        answer = await handle(
            settings, deps.get_adapter_context(request), deps.get_intake(request), platform, headers, body
        )
        return Response(answer, media_type="application/json")
    except RelaisError as e:
        extra = dict(e.headers or {})
        if e.status_code == 503 and not e.headers:
            extra["Retry-After"] = "5"
        return Response(
            orjson.dumps(error_body(e)),
            status_code=e.status_code,
            headers=extra,
            media_type="application/json",
        )


def _delivery_endpoint(platform: Platform) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        return await receive_delivery(request, platform)

    endpoint.__doc__ = platform.description
    return endpoint


# The endpoint of each `POST /webhooks/<name>`, for `RelaisApp` to call ahead of the middleware.
DELIVERY_ENDPOINTS: dict[str, Endpoint] = {}

for _platform in platforms.all():
    _endpoint = _delivery_endpoint(_platform)
    DELIVERY_ENDPOINTS[f"{router.prefix}/{_platform.name}"] = _endpoint
    router.add_api_route(
        f"/{_platform.name}",
        _endpoint,
        methods=["POST"],
        name=f"{_platform.name}_webhook",
        responses=responses(400, 401, 403, 413, 503),
    )
    if _platform.handshake is not None:
        # Errors are JSON whatever the challenge's type: a text/plain handshake declares its 200
        # itself, so that FastAPI does not file the error bodies under text/plain too.
        media = _platform.handshake.response_class.media_type or "application/json"
        plain = media != "application/json"
        router.add_api_route(
            f"/{_platform.name}",
            _platform.handshake.endpoint,
            methods=["GET"],
            name=f"{_platform.name}_handshake",
            response_class=Response if plain else _platform.handshake.response_class,
            responses={
                **(
                    {
                        200: {
                            "description": "The challenge",
                            "content": {media: {"schema": {"type": "string"}}},
                        }
                    }
                    if plain
                    else {}
                ),
                **responses(400, 403, 422),
            },
        )
