"""The review queue API, under /api. Every route checks the role it needs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from app.deps import AdminDep, ReadSessionDep, ReviewerDep, RowInt, SessionDep, SettingsDep
from app.drafts import service as drafts
from app.errors import NotFound, responses
from app.models import Channel, Draft, Message, OutboxItem, ReplyTemplate, utcnow
from app.outbox import service as outbox
from app.reply_templates import service as reply_templates
from app.review import schemas as s

router = APIRouter(prefix="/api", tags=["review"], responses=responses(401, 503))


def message_read(m: Message) -> s.MessageRead:
    return s.MessageRead.model_validate(m, from_attributes=True)


def source_read(d: Draft) -> s.SourceRead | None:
    """Where the suggestion came from; None when there is no draft text (or it predates sources)."""
    if not d.text or d.source_kind not in ("answer", "past_reply", "template") or d.source_id is None:
        return None
    return s.SourceRead(kind=d.source_kind, id=d.source_id, score=d.source_score or 0.0)


def draft_read(d: Draft, m: Message) -> s.DraftRead:
    return s.DraftRead(
        id=d.id,
        version=d.version,
        status=d.status,
        text=d.text,
        final_text=d.final_text,
        edited=d.edited,
        reason=d.reason,
        claimed_by=d.claimed_by,
        claimed_until=d.claimed_until,
        waiting_s=max(0.0, (utcnow() - m.received_at).total_seconds()),
        source=source_read(d),
        message=message_read(m),
    )


@router.get("/drafts", response_model=s.DraftPage, responses=responses(400, 422))
def list_drafts(
    session: ReadSessionDep,
    user: ReviewerDep,
    status: Annotated[
        s.DraftStatus | Literal["all"] | None, Query(description="'all' for every status")
    ] = "pending",
    category: s.Category | None = None,
    platform: str | None = None,
    language: str | None = None,
    to_sort: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=drafts.MAX_PAGE)] = 50,
    cursor: str | None = None,
    with_counts: bool = False,
) -> s.DraftPage:
    """The queue: complaints first, then oldest first; keyset pagination with `cursor`."""
    filt = drafts.QueueFilter(
        status=None if status == "all" else status,
        category=category,
        platform=platform,
        language=language,
        to_sort=to_sort,
    )
    rows, next_cursor = drafts.list_drafts(session, filt=filt, limit=limit, cursor=cursor)
    counts = (
        drafts.queue_counts(session, status=status or "pending") if with_counts and status != "all" else {}
    )
    return s.DraftPage(items=[draft_read(d, m) for d, m in rows], next_cursor=next_cursor, counts=counts)


def _detail(request: Request, session: Any, draft: Draft) -> s.DraftDetail:
    message = session.get(Message, draft.message_id)
    base = draft_read(draft, message)
    similar = request.app.state.similar.find(
        session, text=message.text, language=message.language, exclude_message_id=message.id
    )
    item = session.scalar(select(OutboxItem).where(OutboxItem.draft_id == draft.id))
    return s.DraftDetail(
        **base.model_dump(),
        history=[
            s.HistoryEvent(action=e.action, actor_id=e.actor_id, at=e.at, data=e.data or {})
            for e in drafts.history(session, draft.id)
        ],
        similar=[s.SimilarReply(**x) for x in similar],
        explanation=request.app.state.holder.explain(message.text),
        outbox=None
        if item is None
        else s.OutboxRead.model_validate(item, from_attributes=True).model_dump(mode="json"),
    )


@router.get("/drafts/{draft_id:int}", response_model=s.DraftDetail, responses=responses(404, 422))
def get_draft(
    draft_id: RowInt, request: Request, session: ReadSessionDep, user: ReviewerDep
) -> s.DraftDetail:
    """One draft with its message, history, the team's similar past replies and why it was sorted so."""
    return _detail(request, session, drafts.get(session, draft_id))


@router.post("/drafts/{draft_id:int}/approve", response_model=s.DraftRead, responses=responses(404, 409, 422))
def approve(draft_id: RowInt, body: s.ApproveBody, session: SessionDep, user: ReviewerDep) -> s.DraftRead:
    """Approve, optionally with an edited text; the reply is queued for sending in the same transaction."""
    d = drafts.approve(session, draft_id=draft_id, version=body.version, user_id=user.id, text=body.text)
    return draft_read(d, session.get(Message, d.message_id))  # type: ignore[arg-type]


@router.post("/drafts/{draft_id:int}/reject", response_model=s.DraftRead, responses=responses(404, 409, 422))
def reject(draft_id: RowInt, body: s.RejectBody, session: SessionDep, user: ReviewerDep) -> s.DraftRead:
    """Reject with a reason; nothing is sent."""
    d = drafts.reject(session, draft_id=draft_id, version=body.version, user_id=user.id, reason=body.reason)
    return draft_read(d, session.get(Message, d.message_id))  # type: ignore[arg-type]


@router.patch("/drafts/{draft_id:int}", response_model=s.DraftRead, responses=responses(404, 409, 422))
def edit(draft_id: RowInt, body: s.EditBody, session: SessionDep, user: ReviewerDep) -> s.DraftRead:
    """Save an edited reply without deciding yet."""
    d = drafts.edit(session, draft_id=draft_id, version=body.version, user_id=user.id, text=body.text)
    return draft_read(d, session.get(Message, d.message_id))  # type: ignore[arg-type]


@router.post("/drafts/{draft_id:int}/claim", response_model=s.DraftRead, responses=responses(404, 409, 422))
def claim(draft_id: RowInt, session: SessionDep, user: ReviewerDep, settings: SettingsDep) -> s.DraftRead:
    """Hold the draft for a few minutes (RELAIS_CLAIM_TTL_S) so nobody else works on it."""
    d = drafts.claim(session, draft_id=draft_id, user_id=user.id, ttl_s=settings.claim_ttl_s)
    return draft_read(d, session.get(Message, d.message_id))  # type: ignore[arg-type]


@router.delete("/drafts/{draft_id:int}/claim", response_model=s.DraftRead, responses=responses(404, 409, 422))
def release(draft_id: RowInt, session: SessionDep, user: ReviewerDep) -> s.DraftRead:
    """Give a claimed draft back."""
    d = drafts.release(session, draft_id=draft_id, user_id=user.id)
    return draft_read(d, session.get(Message, d.message_id))  # type: ignore[arg-type]


@router.get("/messages/{message_id:int}", response_model=s.MessageRead, responses=responses(404, 422))
def get_message(message_id: RowInt, session: ReadSessionDep, user: ReviewerDep) -> s.MessageRead:
    """One message."""
    m = session.get(Message, message_id)
    if m is None:
        raise NotFound(f"message {message_id} not found")
    return message_read(m)


@router.patch("/messages/{message_id:int}", response_model=s.MessageRead, responses=responses(404, 422))
def relabel(
    message_id: RowInt, body: s.RelabelBody, request: Request, session: SessionDep, user: ReviewerDep
) -> s.MessageRead:
    """Correct the category: stored as a training label, and a pending draft is re-suggested."""
    m = drafts.relabel(
        session, request.app.state.drafter, message_id=message_id, category=body.category, user_id=user.id
    )
    return message_read(m)


# -- templates (admin) ---------------------------------------------------------------------------


@router.get("/templates", response_model=list[s.TemplateRead])
def list_templates(session: ReadSessionDep, user: ReviewerDep) -> list[ReplyTemplate]:
    """Every reply template (reviewers read them to pick one; admins change them)."""
    return reply_templates.list_all(session)


def _columns(values: dict[str, Any]) -> dict[str, Any]:
    if "register_" in values:
        values["register"] = values.pop("register_")
    return values


@router.post("/templates", response_model=s.TemplateRead, status_code=201, responses=responses(403, 409, 422))
def create_template(
    body: s.TemplateCreate, session: SessionDep, settings: SettingsDep, user: AdminDep
) -> ReplyTemplate:
    """Add a template (admin); it must render in the sandbox."""
    return reply_templates.save(
        session, settings, template=None, values=_columns(body.model_dump()), user_id=user.id
    )


@router.patch(
    "/templates/{template_id:int}", response_model=s.TemplateRead, responses=responses(403, 404, 409, 422)
)
def update_template(
    template_id: RowInt, body: s.TemplateUpdate, session: SessionDep, settings: SettingsDep, user: AdminDep
) -> ReplyTemplate:
    """Change a template (admin); its version moves on."""
    return reply_templates.save(
        session,
        settings,
        template=reply_templates.get(session, template_id),
        values=_columns(body.model_dump(exclude_unset=True)),
        user_id=user.id,
    )


@router.delete("/templates/{template_id:int}", status_code=204, responses=responses(403, 404, 422))
def delete_template(template_id: RowInt, session: SessionDep, user: AdminDep) -> None:
    """Remove a template (admin)."""
    session.delete(reply_templates.get(session, template_id))


@router.post("/templates/preview", responses=responses(403, 404, 422))
def preview_template(
    body: s.PreviewBody, session: ReadSessionDep, settings: SettingsDep, user: AdminDep
) -> dict[str, Any]:
    """Render a template body in the sandbox, for a real message or a sample one."""
    message = session.get(Message, body.message_id) if body.message_id else None
    if body.message_id and message is None:
        raise NotFound(f"message {body.message_id} not found")
    return reply_templates.preview(settings, body.body, message)


# -- outbox, dead letters, channels --------------------------------------------------------------


@router.get("/outbox", response_model=list[s.OutboxRead], responses=responses(422))
def list_outbox(
    session: ReadSessionDep,
    user: ReviewerDep,
    status: Annotated[str, Query(description="queued, sending, retry, sent, dead, unknown")] = "dead",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[OutboxItem]:
    """Replies by sending state; `status=dead` lists dead letters with their reason."""
    return list(
        session.scalars(
            select(OutboxItem)
            .where(OutboxItem.status == status)
            .order_by(OutboxItem.updated_at.desc())
            .limit(limit)
        )
    )


@router.post("/outbox/{item_id:int}/resend", response_model=s.OutboxRead, responses=responses(404, 409, 422))
def resend(item_id: RowInt, session: SessionDep, user: ReviewerDep) -> OutboxItem:
    """Send a dead letter once more (once only)."""
    return outbox.resend(session, item_id=item_id, user_id=user.id)


@router.get("/channels")
def channels(session: ReadSessionDep, user: ReviewerDep) -> list[dict[str, Any]]:
    """Per channel: last event received, last reply sent, token state, paused or not."""
    return [
        {
            "platform": c.platform,
            "account_id": c.account_id,
            "last_event_at": c.last_event_at,
            "last_sent_at": c.last_sent_at,
            "paused": c.paused,
            "pause_reason": c.pause_reason,
            "token_state": c.token_state,
        }
        for c in session.scalars(select(Channel).order_by(Channel.platform))
    ]


@router.post("/channels/{platform}/{account_id}/resume", responses=responses(403, 404, 422))
def resume_channel(platform: str, account_id: str, session: SessionDep, user: AdminDep) -> dict[str, Any]:
    """Resume sending on a paused channel (after the token was renewed)."""
    outbox.resume_channel(session, platform=platform, account_id=account_id)
    return {"ok": True}


@router.get("/me")
def me(user: ReviewerDep) -> dict[str, Any]:
    """Who the token belongs to."""
    return {"id": user.id, "name": user.name, "role": user.role}
