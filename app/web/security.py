"""Browser sessions, CSRF and the security headers of the review pages.

    cookie relais_session = random token ──sha256──▶ web_sessions.token_hash (+ user, csrf_token, expiry)
    every POST form carries csrf_token = web_sessions.csrf_token (compared with hmac.compare_digest)
    the login form (no session yet) uses a signed double-submit: cookie relais_login = nonce,
    field csrf_token = HMAC(key, nonce); the key is RELAIS_SESSION_SECRET (required in production),
    else a per-process random key (development: one process).

Failures surface as `PageRedirect` (go and log in) or `PageError` (an HTML error page); the
router's route class turns both into responses.

Login throttling counts failures per client address, never per username alone (which would let
anyone lock a reviewer out by typing wrong passwords for their name): past RELAIS_LOGIN_MAX_FAILURES
for one username from one address, or RELAIS_LOGIN_MAX_FAILURES_PER_ADDRESS for any usernames from
one address, that address waits 15 s, then twice as long after each further failure, up to
RELAIS_LOGIN_LOCKOUT_S (also the window in which failures count). The right password from any
other address keeps working.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app import i18n
from app.config import Settings
from app.deps import ReadSessionDep, SessionDep
from app.models import User, WebSession, utcnow
from app.users import service as users

SESSION_COOKIE = "relais_session"
LOGIN_COOKIE = "relais_login"
FLASH_COOKIE = "relais_flash"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

_process_key = secrets.token_bytes(32)


class PageRedirect(Exception):
    """Send the browser elsewhere (303), e.g. to the login page."""

    def __init__(self, url: str):
        super().__init__(url)
        self.url = url


class PageError(Exception):
    """Show an HTML error page with this status."""

    def __init__(self, status_code: int, message: str):
        super().__init__(message)
        self.status_code = status_code
        self.message = message


@dataclass(frozen=True, slots=True)
class Viewer:
    """The logged-in reviewer, detached from any database session."""

    user_id: int
    name: str
    role: str
    csrf_token: str
    session_id: int
    language: str | None = None  # None: the browser's, then RELAIS_LANGUAGE
    timezone: str | None = None  # None: RELAIS_TIMEZONE

    @property
    def is_admin(self) -> bool:
        return users.ROLE_RANK.get(self.role, 0) >= users.ROLE_RANK["admin"]


def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _key(settings: Settings) -> bytes:
    secret = settings.session_secret
    return secret.get_secret_value().encode() if secret is not None else _process_key


def safe_next(url: str | None) -> str:
    """A local path to return to after login; anything else (//evil, http:...) becomes /."""
    if not url or not url.startswith("/") or url.startswith(("//", "/\\")) or any(c in url for c in "\r\n\\"):
        return "/"
    return url


# -- login form CSRF (no session yet) -------------------------------------------------------------


def login_csrf(settings: Settings, nonce: str) -> str:
    return hmac.new(_key(settings), b"login:" + nonce.encode(), hashlib.sha256).hexdigest()


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


def set_login_cookie(response: Response, settings: Settings, nonce: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
    )


def check_login_csrf(request: Request, settings: Settings, token: str) -> bool:
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or not token:
        return False
    return hmac.compare_digest(login_csrf(settings, nonce), token)


# -- login throttling ----------------------------------------------------------------------------

LOGIN_BACKOFF_FIRST_S = 15.0


def _backoff_wait(count: int, last: dt.datetime | None, limit: int, cap_s: float, now: dt.datetime) -> float:
    """Seconds left to wait after `count` failures (the last at `last`) against a limit of `limit`."""
    if count < limit or last is None:
        return 0.0
    delay = min(cap_s, LOGIN_BACKOFF_FIRST_S * 2.0 ** min(count - limit, 32))
    return max(0.0, (last - now).total_seconds() + delay)


def login_wait_s(session: Session, settings: Settings, *, name: str, address: str) -> int:
    """Whole seconds this client address must wait before trying to log in as `name` (0: go ahead)."""
    now = utcnow()
    window = settings.login_lockout_s
    since = now - dt.timedelta(seconds=window)
    pair = users.failures_since(session, since=since, address=address, name=name)
    anyone = users.failures_since(session, since=since, address=address)
    wait = max(
        _backoff_wait(*pair, settings.login_max_failures, window, now),
        _backoff_wait(*anyone, settings.login_max_failures_per_address, window, now),
    )
    return math.ceil(wait)


def login_failed(session: Session, settings: Settings, *, name: str, address: str) -> None:
    users.record_failure(session, name=name, address=address, keep_s=settings.login_lockout_s)


def login_succeeded(session: Session, *, name: str, address: str) -> None:
    users.clear_failures(session, name=name, address=address)


def client_address(request: Request) -> str:
    """The client's address (uvicorn puts the proxy's X-Forwarded-For there for trusted proxies)."""
    return request.client.host if request.client else ""


# -- sessions -------------------------------------------------------------------------------------


def start_session(session: Session, settings: Settings, *, user: User) -> str:
    """Open a browser session for `user`; returns the cookie value (shown once, stored hashed)."""
    now = utcnow()
    session.execute(delete(WebSession).where(WebSession.expires_at < now))
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=users.hash_token(token),
            user_id=user.id,
            csrf_token=secrets.token_hex(32),
            created_at=now,
            expires_at=now + dt.timedelta(seconds=settings.session_max_age_s),
        )
    )
    session.flush()
    return token


def end_session(session: Session, *, session_id: int) -> None:
    session.execute(delete(WebSession).where(WebSession.id == session_id))


def set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_max_age_s,
        path="/",
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=settings.cookie_secure
    )


def viewer_of(session: Session, token: str | None) -> Viewer | None:
    """The reviewer behind a session cookie, or None (unknown, expired, disabled)."""
    if not token:
        return None
    row = session.execute(
        select(
            WebSession.id, WebSession.csrf_token, User.id, User.name, User.role, User.language, User.timezone
        )
        .join(User, User.id == WebSession.user_id)
        .where(
            WebSession.token_hash == users.hash_token(token),
            WebSession.expires_at > utcnow(),
            User.disabled.is_(False),
        )
    ).first()
    if row is None:
        return None
    sid, csrf, uid, name, role, language, timezone = row
    return Viewer(
        user_id=uid,
        name=name,
        role=role,
        csrf_token=csrf,
        session_id=sid,
        language=language,
        timezone=timezone,
    )


def _login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(target, safe="")


def page_viewer(request: Request, session: ReadSessionDep) -> Viewer:
    """A logged-in reviewer for a page, or a redirect to /login?next=..."""
    viewer = viewer_of(session, request.cookies.get(SESSION_COOKIE))
    if viewer is None:
        raise PageRedirect(_login_url(request))
    i18n.set_viewer(request, viewer)
    return viewer


def form_viewer(
    request: Request, session: SessionDep, csrf_token: Annotated[str, Form(max_length=128)] = ""
) -> Viewer:
    """A logged-in reviewer posting a form with the session's CSRF token; 403 otherwise."""
    viewer = viewer_of(session, request.cookies.get(SESSION_COOKIE))
    if viewer is None:
        raise PageError(
            403, i18n.t(i18n.language_of(request), "Your session has expired: log in again, then retry.")
        )
    i18n.set_viewer(request, viewer)
    if not csrf_token or not hmac.compare_digest(viewer.csrf_token, csrf_token):
        raise PageError(
            403,
            i18n.t(
                i18n.language_of(request),
                "This form is missing its security token (CSRF). Reload the page and retry.",
            ),
        )
    return viewer


def require_admin(request: Request, viewer: Viewer) -> Viewer:
    if not viewer.is_admin:
        raise PageError(403, i18n.t(i18n.language_of(request), "Only admins can manage reply templates."))
    return viewer


def page_admin(request: Request, viewer: Annotated[Viewer, Depends(page_viewer)]) -> Viewer:
    return require_admin(request, viewer)


def form_admin(request: Request, viewer: Annotated[Viewer, Depends(form_viewer)]) -> Viewer:
    return require_admin(request, viewer)


PageViewer = Annotated[Viewer, Depends(page_viewer)]
FormViewer = Annotated[Viewer, Depends(form_viewer)]
PageAdmin = Annotated[Viewer, Depends(page_admin)]
FormAdmin = Annotated[Viewer, Depends(form_admin)]
