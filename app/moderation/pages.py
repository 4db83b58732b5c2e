"""The message page's moderation forms (CSRF-checked like every form): spam, done without a reply,
reopen, and one route for hide, show again and delete (admins, with a confirmation box: it cannot
be undone)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.convertors import Convertor, register_url_convertor

from app import i18n
from app.deps import RowInt, SessionDep, SettingsDep
from app.errors import Invalid, RelaisError
from app.moderation import service as moderation
from app.review import service as review
from app.review.pages import after_decision, filter_from_form, with_query
from app.web.flash import flash
from app.web.pages import MAX_FORM_BYTES, WebRoute, redirect
from app.web.security import FormViewer, PageError

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


class ModerationConvertor(Convertor[str]):
    """A path segment that is one of the moderations (hide, unhide, delete): another action of
    `/drafts/{id}/...` (approve, close...) is left to its own route."""

    regex = "|".join(moderation.ACTIONS)

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("moderation", ModerationConvertor())


@router.post("/drafts/{draft_id:int}/{action:moderation}")
def moderate(
    draft_id: RowInt,
    action: Literal["hide", "unhide", "delete"],
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: FormViewer,
    confirm: Annotated[str, Form(max_length=8)] = "",
    q: Query = "",
) -> Response:
    """Hide the comment from the public, show it again, or delete it on the platform (admins,
    once the box saying it cannot be undone is ticked)."""
    language = i18n.language_of(request)
    if action == "delete":
        if not viewer.is_admin:
            raise PageError(403, i18n.t(language, "Only admins can delete a comment."))
        if confirm != "yes":
            here = with_query(f"/drafts/{draft_id}", filter_from_form(q)[1])
            text = i18n.t(language, "Not deleted: tick the box, deleting cannot be undone.")
            return flash(redirect(here), settings, "error", text)

    def act() -> moderation.Moderated:
        draft = review.get(session, draft_id)
        return moderation.moderate(
            session, message_id=draft.message_id, action=action, user_id=viewer.user_id
        )

    return _done(request, session, settings, draft_id, q, act, lambda m: SAID[action])
