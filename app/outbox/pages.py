"""The outbox page: dead letters with a resend button, and each channel's health (resume, admin)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from app import i18n
from app.deps import ReadSessionDep, RowInt, SessionDep, SettingsDep
from app.errors import RelaisError
from app.outbox import service as outbox
from app.web.flash import flash
from app.web.pages import friendly, page, page_router, redirect
from app.web.security import FormAdmin, FormViewer, PageViewer

router = page_router()


@router.get("/outbox")
def outbox_page(request: Request, session: ReadSessionDep, viewer: PageViewer) -> Response:
    """Failed sends with their reason and a resend button; per channel, traffic and token state."""
    return page(
        request,
        "outbox.html",
        {
            "viewer": viewer,
            "dead": outbox.dead_letters(session),
            "counts": outbox.status_counts(session),
            "channels": outbox.channels(session),
        },
        session=session,
    )


@router.post("/outbox/{item_id:int}/resend")
def resend(
    item_id: RowInt, request: Request, session: SessionDep, settings: SettingsDep, viewer: FormViewer
) -> Response:
    """Send a dead letter once more."""
    try:
        outbox.resend(session, item_id=item_id, user_id=viewer.user_id)
    except RelaisError as e:
        session.rollback()
        return flash(redirect("/outbox"), settings, "error", friendly(request, e))
    text = i18n.t(i18n.language_of(request), "Reply #%(id)s queued to be sent again.", id=item_id)
    return flash(redirect("/outbox"), settings, "ok", text)


@router.post("/channels/{platform}/{account_id}/resume")
def resume(
    platform: str,
    account_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: FormAdmin,
) -> Response:
    """Resume sending on a paused channel (admin)."""
    try:
        outbox.resume_channel(session, platform=platform, account_id=account_id)
    except RelaisError as e:
        session.rollback()
        return flash(redirect("/outbox"), settings, "error", friendly(request, e))
    language = i18n.language_of(request)
    text = i18n.t(
        language, "Sending resumed on %(platform)s/%(account)s.", platform=platform, account=account_id
    )
    return flash(redirect("/outbox"), settings, "ok", text)
