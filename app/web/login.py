"""Logging in and out: the login form (with its own CSRF cookie), throttled password checks, sessions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import Response

from app import i18n
from app.deps import SessionDep, SettingsDep
from app.users import service as users
from app.web import security as sec
from app.web.pages import page_router, redirect, templates
from app.web.security import FormViewer, PageError

router = page_router()


def login_page(
    request: Request,
    settings: Any,
    *,
    error: str | None = None,
    status_code: int = 200,
    username: str = "",
    next_url: str = "/",
) -> Response:
    nonce = sec.new_login_nonce()
    response = templates.TemplateResponse(
        request,
        "login.html",
        {
            "viewer": None,
            "csrf_token": sec.login_csrf(settings, nonce),
            "error": error,
            "username": username,
            "next": sec.safe_next(next_url),
            "flash": None,
        },
        status_code=status_code,
    )
    sec.set_login_cookie(response, settings, nonce)
    return response


@router.get("/login")
def login_form(request: Request, settings: SettingsDep, next: str = "/") -> Response:
    """The login form."""
    return login_page(request, settings, next_url=next)


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the password (argon2), throttled per client address; opens a session."""
    if not sec.check_login_csrf(request, settings, csrf_token):
        raise PageError(
            403,
            i18n.t(
                i18n.language_of(request),
                "The login form expired or lacks its security token (CSRF). Reload the page and retry.",
            ),
        )
    name = username.strip()[:64]
    address = sec.client_address(request)
    wait = sec.login_wait_s(session, settings, name=name, address=address)
    if wait:
        response = login_page(
            request,
            settings,
            status_code=429,
            username=name,
            next_url=next,
            error=f"Too many failed attempts from your address. Wait {wait} s, then try again.",
        )
        response.headers["Retry-After"] = str(wait)
        return response
    user = users.check_password(session, name=name, password=password) if name and password else None
    if user is None:
        sec.login_failed(session, settings, name=name, address=address)
        return login_page(
            request,
            settings,
            status_code=401,
            username=name,
            next_url=next,
            error="Wrong username or password.",
        )
    sec.login_succeeded(session, name=name, address=address)
    token = sec.start_session(session, settings, user=user)
    response = redirect(sec.safe_next(next))
    sec.set_session_cookie(response, settings, token)
    response.delete_cookie(sec.LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(session: SessionDep, settings: SettingsDep, viewer: FormViewer) -> Response:
    """End the session."""
    sec.end_session(session, session_id=viewer.session_id)
    response = redirect("/login")
    sec.clear_session_cookie(response, settings)
    return response
