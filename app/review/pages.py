"""The review pages: the queue (`/`), one message (`/drafts/{id}`) and its decisions, over
`app.review.service` like the JSON API. A decision redirects (303) to the next draft of the queue;
a conflict becomes a flash message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from app import i18n
from app.answers import service as answers
from app.deps import DrafterDep, HolderDep, ReadSessionDep, RowInt, SessionDep, SettingsDep, SimilarDep
from app.errors import BadRequest, Invalid, RelaisError
from app.i18n import N_, Reason
from app.models import CATEGORIES, Draft, Message, utcnow
from app.moderation import service as moderation
from app.outbox import service as outbox
from app.reply_templates import rendering
from app.reply_templates import service as reply_templates
from app.review import conversation, team
from app.review import service as review
from app.users import service as users
from app.web import format as fmt
from app.web.flash import flash
from app.web.pages import friendly, page, page_router, redirect
from app.web.security import FormViewer, PageViewer

router = page_router()
MAX_TEXT = 10_000


# -- queue filters, carried from the queue to each draft and back ----------------------------------

FILTER_KEYS = ("status", "category", "platform", "language", "to_sort", "assignee", "spam", "hidden")


def parse_filter(
    params: dict[str, str], viewer_id: int | None = None
) -> tuple[review.QueueFilter, dict[str, str]]:
    """A QueueFilter from query or form values, and the clean values to carry on in links
    (`assignee=me` is the viewer)."""
    clean = {k: params[k].strip() for k in FILTER_KEYS if params.get(k, "").strip()}
    status = clean.get("status", "pending")
    if status not in review.STATUSES:
        clean.pop("status", None)
        status = "pending"
    category = clean.get("category")
    if category is not None and category not in CATEGORIES:
        clean.pop("category")
        category = None
    to_sort = {"yes": True, "no": False}.get(clean.get("to_sort", ""))
    if to_sort is None:
        clean.pop("to_sort", None)
    spam = {"yes": True, "no": False}.get(clean.get("spam", ""))
    if spam is None:
        clean.pop("spam", None)
    hidden = {"yes": True, "no": False}.get(clean.get("hidden", ""))
    if hidden is None:
        clean.pop("hidden", None)
    platform = clean.get("platform", "")[:16] or None
    language = clean.get("language", "")[:8] or None
    filt = review.QueueFilter(
        status=status,
        category=category,
        platform=platform,
        language=language,
        to_sort=to_sort,
        assignee=team.assignee_filter(clean, viewer_id),
        spam=spam,
        hidden=hidden,
    )
    return filt, clean


def with_query(path: str, query: dict[str, str]) -> str:
    return path + ("?" + urlencode(query) if query else "")


def filter_from_form(q: str, viewer_id: int | None = None) -> tuple[review.QueueFilter, dict[str, str]]:
    return parse_filter(dict(parse_qsl(q[:1000])), viewer_id)


def after_decision(session: Session, draft: Draft, q: str) -> str:
    """Where to go once a draft is decided: the next pending draft of the same view, else the queue."""
    filt, clean = filter_from_form(q, draft.decided_by)  # the viewer's "mine" stays hers
    filt = review.QueueFilter(
        status="pending",
        category=filt.category,
        platform=filt.platform,
        language=filt.language,
        to_sort=filt.to_sort,
        assignee=filt.assignee,
        spam=filt.spam,
        hidden=filt.hidden,
    )
    clean.pop("status", None)
    nxt = review.next_in_queue(session, filt=filt, after=draft) or review.next_in_queue(
        session, filt=filt, after=None
    )
    return with_query(f"/drafts/{nxt}", clean) if nxt is not None else with_query("/", clean)


# -- the queue -------------------------------------------------------------------------------------


@router.get("/")
def queue(
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    viewer: PageViewer,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The queue: complaints first then oldest first, with filters and counts per category."""
    filt, clean = parse_filter(dict(request.query_params), viewer.user_id)
    try:
        rows, next_cursor = review.list_drafts(session, filt=filt, limit=50, cursor=cursor)
    except BadRequest:
        rows, next_cursor = review.list_drafts(session, filt=filt, limit=50)
    now = utcnow()
    hidden = outbox.hidden_among(session, [d.id for d, _ in rows])
    items = [
        {
            "draft": d,
            "message": m,
            "hidden": d.id in hidden,
            "waiting_s": (now - m.received_at).total_seconds(),
            "confidence": fmt.confidence_text(m.confidence, settings.confidence_threshold),
        }
        for d, m in rows
    ]
    counts = review.queue_counts(session, status=filt.status or "pending")
    return page(
        request,
        "queue.html",
        {
            "viewer": viewer,
            "items": items,
            "counts": counts,
            "total": sum(counts.values()),
            "to_sort": review.to_sort_count(session),
            "filters": clean,
            "filt": filt,
            "options": review.filter_options(session),
            "statuses": review.STATUSES,
            "next_url": with_query("/", {**clean, "cursor": next_cursor}) if next_cursor else None,
            "query": urlencode(clean),
            **team.queue_context(session, viewer.user_id, filt),
        },
        session=session,
    )


# -- one message -----------------------------------------------------------------------------------


@router.get("/drafts/{draft_id:int}")
def draft_page(
    draft_id: RowInt,
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    viewer: PageViewer,
    holder: HolderDep,
    similar: SimilarDep,
    drafter: DrafterDep,
) -> Response:
    """One message with its context, the draft in an editor, and every decision."""
    draft = review.get(session, draft_id)
    message = session.get(Message, draft.message_id)
    assert message is not None
    filt, clean = parse_filter(dict(request.query_params), viewer.user_id)
    neighbours_filt = review.QueueFilter(
        status=draft.status if filt.status == draft.status else "pending",
        category=filt.category,
        platform=filt.platform,
        language=filt.language,
        to_sort=filt.to_sort,
        assignee=filt.assignee,
        spam=filt.spam,
        hidden=filt.hidden,
    )
    history = review.history(session, draft.id)
    names = users.names(session, {e.actor_id for e in history} | {draft.claimed_by, draft.decided_by})
    item = outbox.reply_of(session, draft.id)
    query = urlencode(clean)
    prev_id = review.previous_in_queue(session, filt=neighbours_filt, before=draft)
    next_id = review.next_in_queue(session, filt=neighbours_filt, after=draft)
    claimed_by_other = (
        draft.claimed_by not in (None, viewer.user_id)
        and draft.claimed_until is not None
        and draft.claimed_until > utcnow()
    )
    timeline = conversation.timeline(session, message)
    return page(
        request,
        "draft.html",
        {
            "viewer": viewer,
            "draft": draft,
            "message": message,
            "history": history,
            "names": names,
            "waiting_s": (utcnow() - message.received_at).total_seconds(),
            "confidence": fmt.confidence_text(message.confidence, settings.confidence_threshold),
            "explanation": holder.explain(message.text),
            "similar": similar.find(
                session,
                text=message.text,
                language=message.language,
                exclude_message_id=message.id,
                top=settings.similar_replies,
            ),
            "timeline": timeline,
            "template_options": reply_templates.options_for(
                session,
                settings,
                message,
                conversation=conversation.context_of(timeline.before(message.id)),
            ),
            "answer_options": drafter.answer_options(
                session, message, conversation=conversation.context_of(timeline.before(message.id))
            )
            if draft.status == "pending"
            else [],
            "source": answers.source_of(session, draft),
            "outbox": item,
            "moderation": moderation.state(session, draft),
            "limit": rendering.length_limit(message.channel),
            "query": query,
            "prev_url": with_query(f"/drafts/{prev_id}", clean) if prev_id else None,
            "next_url": with_query(f"/drafts/{next_id}", clean) if next_id else None,
            "back_url": with_query("/", clean),
            "claimed_by_other": claimed_by_other,
            "link": fmt.safe_url(
                (message.extra or {}).get("permalink") or (message.extra or {}).get("reply_url")
            ),
            "threshold": settings.confidence_threshold,
            **team.draft_context(session, draft, message),
        },
        session=session,
    )


def _decided(
    request: Request,
    session: Session,
    settings: Any,
    draft_id: int,
    q: str,
    action: Callable[[], Draft],
    done: str,
) -> Response:
    """Run one decision; on success go to the next draft, on a conflict or refusal stay with a flash."""
    try:
        draft = action()
    except RelaisError as e:
        session.rollback()
        if e.status_code == 404:
            raise
        return flash(
            redirect(with_query(f"/drafts/{draft_id}", filter_from_form(q)[1])),
            settings,
            "error",
            friendly(request, e),
        )
    return flash(redirect(after_decision(session, draft, q)), settings, "ok", done)


@router.post("/drafts/{draft_id:int}/approve")
def approve(
    draft_id: RowInt,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: FormViewer,
    drafter: DrafterDep,
    version: Annotated[int, Form()],
    text: Annotated[str | None, Form(max_length=MAX_TEXT)] = None,
    answer_id: Annotated[str, Form(max_length=20)] = "",
    q: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Approve the draft as shown in the editor (edited or not; `answer_id`: the saved answer
    picked in the editor, if any); the reply is queued for sending."""

    def decide() -> Draft:
        chosen = None
        if answer_id.strip():
            if not answer_id.strip().isdigit():
                raise Invalid(Reason(N_("answer_id is a saved answer's id")))
            chosen = review.chosen_answer(session, drafter, draft_id=draft_id, answer_id=int(answer_id))
        return review.approve(
            session, draft_id=draft_id, version=version, user_id=viewer.user_id, text=text, chosen=chosen
        )

    return _decided(
        request,
        session,
        settings,
        draft_id,
        q,
        decide,
        i18n.t(i18n.language_of(request), "Draft #%(id)s approved: the reply is on its way.", id=draft_id),
    )


@router.post("/drafts/{draft_id:int}/reject")
def reject(
    draft_id: RowInt,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: FormViewer,
    version: Annotated[int, Form()],
    reason: Annotated[str, Form(max_length=2000)] = "",
    q: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Reject with a reason; nothing is sent."""
    return _decided(
        request,
        session,
        settings,
        draft_id,
        q,
        lambda: review.reject(
            session, draft_id=draft_id, version=version, user_id=viewer.user_id, reason=reason
        ),
        i18n.t(i18n.language_of(request), "Draft #%(id)s rejected.", id=draft_id),
    )


@router.post("/drafts/{draft_id:int}/category")
def relabel(
    draft_id: RowInt,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: FormViewer,
    drafter: DrafterDep,
    category: Annotated[str, Form(max_length=16)],
    q: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Change the category (a training label); a pending draft is re-suggested, and stays on screen."""
    draft = review.get(session, draft_id)
    back = with_query(f"/drafts/{draft_id}", filter_from_form(q)[1])
    try:
        review.relabel(
            session,
            drafter,
            message_id=draft.message_id,
            category=category,
            user_id=viewer.user_id,
        )
    except RelaisError as e:
        session.rollback()
        return flash(redirect(back), settings, "error", friendly(request, e))
    language = i18n.language_of(request)
    text = i18n.t(
        language, "Category changed to %(label)s.", label=i18n.label(language, "category", category)
    )
    return flash(redirect(back), settings, "ok", text)
