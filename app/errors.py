"""Expected failures, raised by services and rendered by one handler in one JSON shape:

    RelaisError                      {"error": {"code", "message", "detail"?}}
    ├── BadRequest        400        malformed payload (authentic, unusable)
    ├── Unauthorized      401        no or bad credentials, bad webhook signature
    ├── Forbidden         403        authenticated, wrong role; channel refuses (no secret)
    ├── NotFound          404
    ├── Conflict          409        stale version, already decided, claimed by someone else
    ├── PayloadTooLarge   413
    ├── Invalid           422        well-formed but not acceptable (reply too long, ...)
    ├── TooManyRequests   429        login throttling
    └── Unavailable       503        database down: the caller should retry

A 500 is a bug.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse


class RelaisError(Exception):
    status_code = 500
    code = "error"

    def __init__(self, message: str, detail: Any = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.headers = headers


class BadRequest(RelaisError):
    status_code, code = 400, "bad_request"


class Unauthorized(RelaisError):
    status_code, code = 401, "unauthorized"


class Forbidden(RelaisError):
    status_code, code = 403, "forbidden"


class NotFound(RelaisError):
    status_code, code = 404, "not_found"


class Conflict(RelaisError):
    status_code, code = 409, "conflict"


class PayloadTooLarge(RelaisError):
    status_code, code = 413, "payload_too_large"


class Invalid(RelaisError):
    status_code, code = 422, "invalid"


class TooManyRequests(RelaisError):
    status_code, code = 429, "too_many_requests"


class Unavailable(RelaisError):
    status_code, code = 503, "unavailable"


def error_body(exc: RelaisError) -> dict[str, Any]:
    err: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.detail is not None:
        err["detail"] = exc.detail
    return {"error": err}


async def handle_relais_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RelaisError)
    headers = dict(exc.headers or {})
    if exc.status_code == 503:
        headers.setdefault("Retry-After", "5")
    return JSONResponse(error_body(exc), status_code=exc.status_code, headers=headers)
