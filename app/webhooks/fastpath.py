"""`POST /webhooks/<platform>` served as plain ASGI, before FastAPI's middleware stack.

Platforms deliver in bursts, and at thousands of requests per second the middleware stack, the
router, dependency resolution and Request/Response objects cost as much as the work itself (the
stack alone was about 40 % of the web process's time per delivery, measured with py-spy under
`bench/ingest_throughput.py`). `RelaisApp` (app.main) sends these requests here first: the body
is read (bounded), the same `handle()` as the documented routes runs, and the answer goes out.
Every other request goes to FastAPI untouched.
"""

from __future__ import annotations

from typing import Any

import orjson

from app.errors import RelaisError, error_body
from app.webhooks.router import PARSERS, check_configured, handle, read_body

PATHS = {f"/webhooks/{p}": p for p in PARSERS}
JSON = [(b"content-type", b"application/json")]


def platform_of(scope: dict[str, Any]) -> str | None:
    """The platform when the request is a webhook delivery (a POST to /webhooks/<platform>)."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    return PATHS.get(scope["path"])


async def serve(state: Any, platform: str, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answer one webhook delivery as ASGI."""
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
