"""The viewer's own settings: the pages' language and time zone."""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import Response

from app import i18n
from app.deps import SessionDep, SettingsDep
from app.users import service as users
from app.web.flash import flash
from app.web.pages import page, page_router, redirect
from app.web.security import FormViewer, PageViewer

router = page_router()


@cache
def zones() -> list[str]:
    return sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith("Etc/"))


@router.get("/account")
def account_page(request: Request, settings: SettingsDep, viewer: PageViewer) -> Response:
    """The viewer's language and time zone."""
    return page(
        request,
        "account.html",
        {"viewer": viewer, "zones": zones(), "default_zone": settings.timezone},
    )


@router.post("/account")
def account_save(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: FormViewer,
    language: Annotated[str, Form(max_length=8)] = "",
    timezone: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Save the viewer's choices; empty means "the browser's language" / "the server's zone"."""
    chosen = language if language in i18n.LANGUAGES else None
    zone = timezone if timezone and i18n.valid_timezone(timezone) else None
    users.set_preferences(session, user_id=viewer.user_id, language=chosen, timezone=zone)
    request.state.viewer, request.state.language = None, chosen  # the flash speaks the new language
    return flash(redirect("/account"), settings, "ok", i18n.t(i18n.language_of(request), "Saved."))
