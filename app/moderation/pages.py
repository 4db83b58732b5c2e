"""The message page's moderation forms (CSRF-checked like every form): spam, done without a reply,
reopen, hide, show again, delete (admins, with a confirmation box: it cannot be undone)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from app import i18n
from app.deps import RowInt, SessionDep, SettingsDep
from app.errors import Invalid, RelaisError
from app.moderation import service as moderation
from app.review import service as review
from app.review.pages import after_decision, filter_from_form, with_query
from app.web.flash import flash
from app.web.pages import MAX_FORM_BYTES, WebRoute, redirect
from app.web.security import FormAdmin, FormViewer

router = APIRouter(
    tags=["pages"], route_class=WebRoute, include_in_schema=False, max_body_size=MAX_FORM_BYTES
)
Query = Annotated[str, Form(max_length=1000)]


def _done(
    request: Request,
    session: Session,
    settings: SettingsDep,
    draft_id: int,
    q: str,
    action: Callable[[], moderation.Moderated],
    said: Callable[[moderation.Moderated], str],
    *,
    next_draft: bool = False,
) -> Response:
    """Run one action; then the next draft (after a close) or this one again, with a flash."""
    here = with_query(f"/drafts/{draft_id}", filter_from_form(q)[1])
    language = i18n.language_of(request)
    try:
        result = action()
    except RelaisError as e:
        session.rollback()
        if e.status_code == 404:
            raise
        return flash(
            redirect(here),
            settings,
            "error",
            i18n.t(language, "Not done: %(reason)s.", reason=e.text(language)),
        )
    to = after_decision(session, result.draft, q) if next_draft else here
    return flash(redirect(to), settings, "ok", i18n.t(language, said(result)))


@router.post("/drafts/{draft_id:int}/close")
def close(
    draft_id: RowInt,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: FormViewer,
    version: Annotated[int, Form()],
    reason: Annotated[str, Form(max_length=16)],
    q: Query = "",
) -> Response:
    """Spam (hidden too, where the platform can) or done without a reply; then the next draft."""

    def act() -> moderation.Moderated:
        if reason not in ("spam", "no_reply"):
            raise Invalid(i18n.Reason(i18n.N_("reason must be spam or no_reply")))
        return moderation.close(
            session, draft_id=draft_id, version=version, user_id=viewer.user_id, reason=reason
        )

    def said(m: moderation.Moderated) -> str:
        if reason == "no_reply":
            return i18n.N_("Closed: nothing will be sent.")
        if m.moderation.pending == "hide":
            return i18n.N_("Closed as spam: the comment is being hidden.")
        return i18n.N_("Closed as spam.")

    return _done(request, session, settings, draft_id, q, act, said, next_draft=True)


@router.post("/drafts/{draft_id:int}/reopen")
def reopen(
    draft_id: RowInt,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: FormViewer,
    version: Annotated[int, Form()],
    q: Query = "",
) -> Response:
    """Back in the queue (a spam's comment is shown again)."""
    return _done(
        request,
        session,
        settings,
        draft_id,
        q,
        lambda: moderation.reopen(session, draft_id=draft_id, version=version, user_id=viewer.user_id),
        lambda m: i18n.N_("Back in the queue."),
    )


SAID = {
    "hide": i18n.N_("The comment is being hidden."),
    "unhide": i18n.N_("The comment is being shown again."),
    "delete": i18n.N_("The comment is being deleted."),
}


def _moderate(
    request: Request,
    session: Session,
    settings: SettingsDep,
    draft_id: int,
    q: str,
    action: str,
    user_id: int,
) -> Response:
    def act() -> moderation.Moderated:
        draft = review.get(session, draft_id)
        return moderation.moderate(session, message_id=draft.message_id, action=action, user_id=user_id)

    return _done(request, session, settings, draft_id, q, act, lambda m: SAID[action])


@router.post("/drafts/{draft_id:int}/hide")
def hide(
    draft_id: RowInt,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: FormViewer,
    q: Query = "",
) -> Response:
    """Hide the comment from the public."""
    return _moderate(request, session, settings, draft_id, q, "hide", viewer.user_id)


@router.post("/drafts/{draft_id:int}/unhide")
def unhide(
    draft_id: RowInt,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: FormViewer,
    q: Query = "",
) -> Response:
    """Show the hidden comment again."""
    return _moderate(request, session, settings, draft_id, q, "unhide", viewer.user_id)


@router.post("/drafts/{draft_id:int}/delete")
def delete(
    draft_id: RowInt,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: FormAdmin,
    confirm: Annotated[str, Form(max_length=8)] = "",
    q: Query = "",
) -> Response:
    """Delete the comment on the platform (admins), once the box saying it cannot be undone is ticked."""
    if confirm != "yes":
        here = with_query(f"/drafts/{draft_id}", filter_from_form(q)[1])
        text = i18n.t(i18n.language_of(request), "Not deleted: tick the box, deleting cannot be undone.")
        return flash(redirect(here), settings, "error", text)
    return _moderate(request, session, settings, draft_id, q, "delete", viewer.user_id)
