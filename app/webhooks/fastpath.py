"""`POST /webhooks/<platform>` served as plain ASGI, in front of FastAPI's router.

Platforms deliver in bursts, and at thousands of requests per second the router, dependency
resolution and Request/Response objects cost as much as the work itself. This middleware reads
the body (bounded), calls the same `handle()` as the documented routes, and answers; every other
request goes to FastAPI untouched.
"""

from __future__ import annotations

from typing import Any

import orjson

from app.errors import RelaisError, error_body
from app.webhooks.router import PARSERS, check_configured, handle, read_body

PATHS = {f"/webhooks/{p}": p for p in PARSERS}
JSON = [(b"content-type", b"application/json")]


class WebhookFastPath:
    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        platform = PATHS.get(scope.get("path", "")) if scope["type"] == "http" else None
        if platform is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        status, extra = 200, []
        try:
            check_configured(state.settings, platform)
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            body = await read_body(receive, headers, state.settings.max_body_bytes, platform)
            if body is None:
                return  # the client went away before its body ended: nobody to answer, nothing stored
            answer = await handle(state, platform, headers, body)
        except RelaisError as e:
            status, answer = e.status_code, orjson.dumps(error_body(e))
            extra = [(k.lower().encode(), v.encode()) for k, v in (e.headers or {}).items()]
            if status == 503 and not e.headers:
                extra.append((b"retry-after", b"5"))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*JSON, (b"content-length", str(len(answer)).encode()), *extra],
            }
        )
        await send({"type": "http.response.body", "body": answer})
