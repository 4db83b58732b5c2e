"""Expected failures, raised by services and rendered by one handler in one JSON shape:

    RelaisError                      {"error": {"code", "message", "detail"?}}
    ├── BadRequest        400        malformed payload (authentic, unusable)
    ├── Unauthorized      401        no or bad credentials, bad webhook signature
    ├── Forbidden         403        authenticated, wrong role; channel refuses (no secret)
    ├── NotFound          404
    ├── MethodNotAllowed  405        with `Allow`: every method the path has
    ├── Conflict          409        stale version, already decided, claimed by someone else
    ├── PayloadTooLarge   413
    ├── Invalid           422        well-formed but not acceptable (reply too long, ...)
    │   └── Unsupported   422        the platform cannot do that (hide a DM, a Telegram message)
    ├── TooManyRequests   429        login throttling
    └── Unavailable       503        database down: the caller should retry

A 500 is a bug. The same shape carries what FastAPI and Starlette refuse themselves (a request
that does not validate: 422 with the field and the reason; an unknown path: 404; a method the
path does not have: 405 with every method it has in `Allow`) and the database's own refusals:
a constraint the client's values break is a 409 (unique) or a 422, a value the column cannot
hold a 422, and only a database that cannot be reached or used is a 503. `RESPONSES` declares
each status in the OpenAPI document; routes pick theirs with `responses(404, 409)`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import exc as sa
from starlette.exceptions import HTTPException
from starlette.routing import Match, Mount

if TYPE_CHECKING:
    from app.i18n import Reason

log = logging.getLogger("relais")


class RelaisError(Exception):
    status_code = 500
    code = "error"

    def __init__(
        self,
        message: str | Reason,
        detail: Any = None,
        headers: dict[str, str] | None = None,
        reasons: Sequence[Reason] = (),
    ):
        if not isinstance(message, str):  # a Reason: its English text, and the Reason for pages
            reasons = [message, *reasons]
            message = str(message)
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.headers = headers
        self.reasons = list(reasons)  # the same, for a page to show in its viewer's language

    def text(self, language: str) -> str:
        """Why, in `language` (the English message when no Reason was given)."""
        return " ".join(r.text(language) for r in self.reasons) if self.reasons else self.message

    def api_message(self, language: str) -> str:
        """The API's `message`: the English one as it always was, else the reasons translated."""
        return self.message if language == "en" else self.text(language)


class BadRequest(RelaisError):
    status_code, code = 400, "bad_request"


class Unauthorized(RelaisError):
    status_code, code = 401, "unauthorized"


class Forbidden(RelaisError):
    status_code, code = 403, "forbidden"


class NotFound(RelaisError):
    status_code, code = 404, "not_found"


class MethodNotAllowed(RelaisError):
    status_code, code = 405, "method_not_allowed"


class Conflict(RelaisError):
    status_code, code = 409, "conflict"


class PayloadTooLarge(RelaisError):
    status_code, code = 413, "payload_too_large"


class Invalid(RelaisError):
    status_code, code = 422, "invalid"


class Unsupported(Invalid):
    code = "not_supported"


class TooManyRequests(RelaisError):
    status_code, code = 429, "too_many_requests"


class Unavailable(RelaisError):
    status_code, code = 503, "unavailable"


def api_language(request: Request) -> str:
    """The language of the API's messages: English unless `Accept-Language` asks for another that
    Relais speaks (the pages follow the viewer's choice instead)."""
    from app.i18n import negotiate

    return negotiate(request.headers.get("accept-language"), "en")


def error_body(exc: RelaisError, language: str = "en") -> dict[str, Any]:
    err: dict[str, Any] = {"code": exc.code, "message": exc.api_message(language)}
    if exc.detail is not None:
        err["detail"] = exc.detail
    return {"error": err}


def _render(exc: RelaisError, language: str = "en") -> JSONResponse:
    headers = dict(exc.headers or {})
    if exc.status_code == 503:
        headers.setdefault("Retry-After", "5")
    return JSONResponse(error_body(exc, language), status_code=exc.status_code, headers=headers)


async def handle_relais_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RelaisError)
    return _render(exc, api_language(request))


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 naming the first field refused and why; every error in `detail` (without the input)."""
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"][1:]) or ".".join(map(str, first["loc"]))
    return _render(Invalid(f"{where}: {first['msg']}" if where else str(first["msg"]), detail=errors))


_HTTP_ERRORS: dict[int, type[RelaisError]] = {
    400: BadRequest,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
}


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this path (Starlette names only the first route's)."""
    routes = [r for r in request.app.router.routes if not isinstance(r, Mount)]
    return [
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    ]


async def handle_http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own refusals (unknown path, method not allowed...) in the one JSON shape."""
    assert isinstance(exc, HTTPException)
    kind = _HTTP_ERRORS.get(exc.status_code)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request)) or headers.get("Allow", "")
    if kind is None:
        error = RelaisError(str(exc.detail), headers=headers)
        error.status_code, error.code = exc.status_code, "error"
    else:
        error = kind(str(exc.detail), headers=headers)
    return _render(error)


_NOT_NULL, _UNIQUE = ("23502", "not null"), ("23505", "unique")


def from_database_error(exc: sa.SQLAlchemyError) -> RelaisError | None:
    """What a database error means for the client; None for a bug (a 500)."""
    orig = getattr(exc, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None) or ""
    text = str(orig if orig is not None else exc).splitlines()[0][:300]
    if isinstance(exc, sa.IntegrityError):
        if sqlstate == _UNIQUE[0] or _UNIQUE[1] in text.lower():
            return Conflict(f"this conflicts with a stored row ({text})")
        return Invalid(f"a value breaks a rule of the stored data ({text})")
    if isinstance(exc, sa.DataError):
        return Invalid(f"a value the database cannot hold ({text})")
    if isinstance(exc, sa.ProgrammingError | sa.NotSupportedError | sa.InternalError):
        return None
    if isinstance(exc, sa.DBAPIError | sa.TimeoutError):  # cannot connect, locked, pool exhausted
        return Unavailable("the database is unavailable; retry later")
    return None


async def handle_database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, sa.SQLAlchemyError)
    error = from_database_error(exc)
    if error is None:
        log.error("database error on %s", request.url.path, exc_info=exc)
        return JSONResponse(error_body(RelaisError("internal error")), status_code=500)
    log.warning("database error on %s: %s (%s)", request.url.path, exc.__class__.__name__, error.status_code)
    return _render(error)


class ErrorInfo(BaseModel):
    code: str
    message: str
    detail: Any = None


class ErrorBody(BaseModel):
    """Every error: `{"error": {"code", "message", "detail"?}}`."""

    error: ErrorInfo


_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": description, **({"headers": _RETRY_AFTER} if retry else {})}
    for code, description, retry in [
        (400, "Malformed request: an authentic delivery Relais cannot use, an invalid cursor", False),
        (401, "No or bad credentials, or a bad webhook signature", False),
        (403, "This needs another role (or the channel has no secret configured)", False),
        (404, "No such row", False),
        (409, "Stale version, already decided, claimed by someone else, or a duplicate name", False),
        (413, "Body over the limit", False),
        (422, "A value refused, with the field and the reason; or not supported on the platform", False),
        (429, "Too many attempts: wait Retry-After seconds", True),
        (503, "The database is unavailable: retry after Retry-After seconds", True),
    ]
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a route that answers these error statuses."""
    return {code: RESPONSES[code] for code in codes}
