"""Flash messages: one cookie, read once by the next page."""

from __future__ import annotations

import base64
import json
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from app.web import security as sec


def flash(response: Response, settings: Any, kind: str, text: str) -> Response:
    raw = base64.urlsafe_b64encode(json.dumps({"kind": kind, "text": text[:300]}).encode()).decode()
    response.set_cookie(
        sec.FLASH_COOKIE,
        raw,
        max_age=60,
        path="/",
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
    )
    return response


def take_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(sec.FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode()))
        return {
            "kind": "error" if data.get("kind") == "error" else "ok",
            "text": str(data.get("text", ""))[:300],
        }
    except (ValueError, TypeError, AttributeError):
        return None
