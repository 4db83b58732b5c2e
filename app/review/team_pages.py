"""The team's page actions: assign a conversation, write a note, act on several drafts at once,
save a queue filter, and the small JSON the queue polls for new messages. Each form carries the
session's CSRF token (`FormViewer`) and answers with a redirect and a flash in the viewer's
language; a refusal rolls back and says why."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from app import i18n
from app.config import Settings
from app.deps import ReadSessionDep, RowInt, SessionDep, SettingsDep
from app.errors import RelaisError
from app.moderation import service as moderation
from app.review import team
from app.review.pages import filter_from_form, parse_filter, with_query
from app.web.flash import flash
from app.web.pages import page_router, redirect
from app.web.security import FormViewer, PageViewer, Viewer

router = page_router()

Q = Annotated[str, Form(max_length=1000)]


def t(request: Request, message: str, **variables: object) -> str:
    return i18n.t(i18n.language_of(request), message, **variables)


def _why(request: Request, e: RelaisError) -> str:
    return e.text(i18n.language_of(request))


def _target(value: str, viewer: Viewer) -> int | None:
    """The form's assignee: 'me', 'none' or a user id."""
    if value == "me":
        return viewer.user_id
    if value in ("", "none"):
        return None
    return int(value) if value.isdigit() and int(value) <= 2**53 - 1 else -1


def _refused(session: Session, settings: Settings, back: str, text: str) -> Response:
    session.rollback()
    return flash(redirect(back), settings, "error", text)


@router.post("/drafts/{draft_id:int}/assign")
def assign(
    draft_id: RowInt,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: FormViewer,
    user: Annotated[str, Form(max_length=20)] = "me",
    q: Q = "",
) -> Response:
    """Give the draft's conversation to someone (every pending draft of it follows)."""
    back = with_query(f"/drafts/{draft_id}", filter_from_form(q, viewer.user_id)[1])
    try:
        done = team.assign(session, draft_id=draft_id, user_id=_target(user, viewer), actor_id=viewer.user_id)
    except RelaisError as e:
        if e.status_code == 404 and not (isinstance(e.detail, dict) and "user_id" in e.detail):
            raise  # no such draft: the page's 404; an unknown assignee is said on the page
        return _refused(session, settings, back, t(request, "Not assigned: %(why)s", why=_why(request, e)))
    if done.assignee is None:
        text = t(request, "The conversation is assigned to nobody now.")
    else:
        text = i18n.tn(
            i18n.language_of(request),
            "Conversation assigned to %(name)s (%(num)s draft).",
            "Conversation assigned to %(name)s (%(num)s drafts).",
            len(done.drafts),
            name=done.assignee.name,
        )
    return flash(redirect(back), settings, "ok", text)


@router.post("/drafts/{draft_id:int}/notes")
def add_note(
    draft_id: RowInt,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: FormViewer,
    text: Annotated[str, Form(max_length=team.MAX_NOTE + 100)] = "",
    q: Q = "",
) -> Response:
    """Write an internal note on the conversation (never sent)."""
    back = with_query(f"/drafts/{draft_id}", filter_from_form(q, viewer.user_id)[1])
    try:
        team.add_note(session, draft_id=draft_id, author_id=viewer.user_id, text=text)
    except RelaisError as e:
        if e.status_code == 404:
            raise
        return _refused(session, settings, back, t(request, "Note not saved: %(why)s", why=_why(request, e)))
    return flash(redirect(back + "#notes"), settings, "ok", t(request, "Note saved, for the team only."))


PAGE_BULK = ("approve", "assign", "no_reply", "spam", "hide")


@router.post("/queue/bulk")
def bulk(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: FormViewer,
    action: Annotated[str, Form(max_length=16)] = "",
    ids: Annotated[list[int], Form(max_length=200)] = [],  # noqa: B006 (FastAPI copies defaults)
    assignee: Annotated[str, Form(max_length=20)] = "me",
    q: Q = "",
) -> Response:
    """One action on the ticked drafts (approve as shown, assign their conversations, done
    without a reply, spam, hide), as `POST /api/drafts/bulk` does: each on its own; one that
    cannot be done is named in the flash, the others are done."""
    back = with_query("/", filter_from_form(q, viewer.user_id)[1])
    if action not in PAGE_BULK or not ids:
        return flash(redirect(back), settings, "error", t(request, "Select messages, then an action."))
    done, refused = 0, []
    target = _target(assignee, viewer)
    for draft_id in dict.fromkeys(ids):
        try:
            with session.begin_nested():
                moderation.act(
                    session, action=action, draft_id=draft_id, user_id=viewer.user_id, assignee=target
                )
            done += 1
        except RelaisError as e:
            refused.append(f"#{draft_id} ({_why(request, e)})")
    language = i18n.language_of(request)
    texts = {
        "approve": i18n.tn(language, "%(num)s reply approved.", "%(num)s replies approved.", done),
        "assign": i18n.tn(language, "%(num)s message assigned.", "%(num)s messages assigned.", done),
        "no_reply": i18n.tn(
            language,
            "%(num)s message closed without a reply.",
            "%(num)s messages closed without a reply.",
            done,
        ),
        "spam": i18n.tn(
            language, "%(num)s message marked as spam.", "%(num)s messages marked as spam.", done
        ),
        "hide": i18n.tn(
            language, "Hiding asked for %(num)s comment.", "Hiding asked for %(num)s comments.", done
        ),
    }
    text = texts[action]
    if refused:
        text += " " + t(request, "Not done: %(which)s.", which="; ".join(refused))
    return flash(redirect(back), settings, "error" if refused else "ok", text)


@router.get("/queue/news")
def news(
    request: Request,
    session: ReadSessionDep,
    viewer: PageViewer,
    after: Annotated[int, Query(ge=0, le=2**53 - 1)] = 0,
) -> Response:
    """How many messages of this view arrived after draft `after`, said in the viewer's words."""
    params = {k: v for k, v in request.query_params.items() if k != "after"}
    filt, _ = parse_filter(params, viewer.user_id)
    count, newest = team.news(session, filt=filt, after=after)
    text = i18n.tn(i18n.language_of(request), "%(num)s new message", "%(num)s new messages", count)
    return JSONResponse({"count": count, "newest": newest, "text": text})


@router.post("/filters")
def save_filter(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: FormViewer,
    name: Annotated[str, Form(max_length=100)] = "",
    q: Q = "",
) -> Response:
    """Save the queue's current filters under a name (the viewer's own)."""
    _, clean = filter_from_form(q, viewer.user_id)
    try:
        row = team.save_filter(session, user_id=viewer.user_id, name=name, query=q)
    except RelaisError as e:
        return _refused(
            session,
            settings,
            with_query("/", clean),
            t(request, "Filter not saved: %(why)s", why=_why(request, e)),
        )
    return flash(
        redirect(with_query("/", clean)),
        settings,
        "ok",
        t(request, "Filter “%(name)s” saved.", name=row.name),
    )


@router.post("/filters/{filter_id:int}/delete")
def delete_filter(
    filter_id: RowInt, request: Request, session: SessionDep, settings: SettingsDep, viewer: FormViewer
) -> Response:
    """Delete one of the viewer's saved filters."""
    team.delete_filter(session, user_id=viewer.user_id, filter_id=filter_id)
    return flash(redirect("/"), settings, "ok", t(request, "Filter deleted."))
