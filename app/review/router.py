"""The review queue API, under /api. Every route checks the role it needs."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.deps import (
    MAX_ROW_INT,
    AdminDep,
    DrafterDep,
    HolderDep,
    ReadSessionDep,
    ReviewerDep,
    RowInt,
    SessionDep,
    SettingsDep,
    SimilarDep,
)
from app.drafts.similar import SimilarReplies
from app.errors import Invalid, NotFound, responses
from app.i18n import N_, Reason
from app.models import Channel, Draft, Message, OutboxItem, ReplyTemplate, User, utcnow
from app.moderation import service as moderation
from app.outbox import service as outbox
from app.reply_templates import service as reply_templates
from app.review import conversation, team
from app.review import schemas as s
from app.review import service as review
from app.triage import ModelHolder

router = APIRouter(prefix="/api", tags=["review"], responses=responses(401, 503))

AssigneeQuery = Annotated[
    str | None,
    Query(
        pattern=r"^(me|none|[1-9][0-9]{0,15})$",
        description="'me', 'none' (nobody's) or a user id: the drafts of conversations assigned so",
    ),
]


def assignee_of(value: str | None, user: User) -> int | None:
    """The queue filter's assignee from the query: 'me' is the caller, 'none' nobody."""
    if value is None:
        return None
    if value == "me":
        return user.id
    if value == "none":
        return review.UNASSIGNED
    if int(value) > MAX_ROW_INT:
        raise Invalid(f"assignee: a user id is at most {MAX_ROW_INT}")
    return int(value)


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
        assignee_id=d.assignee_id,
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
    spam: Annotated[bool | None, Query(description="spam and abuse (no reply text) only, or none")] = None,
    hidden: Annotated[
        bool | None, Query(description="comments hidden on the platform only, or none of them")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=review.MAX_PAGE)] = 50,
    cursor: str | None = None,
    with_counts: bool = False,
    assignee: AssigneeQuery = None,
) -> s.DraftPage:
    """The queue: complaints first, then oldest first; keyset pagination with `cursor`."""
    filt = review.QueueFilter(
        status=None if status == "all" else status,
        category=category,
        platform=platform,
        language=language,
        to_sort=to_sort,
        assignee=assignee_of(assignee, user),
        spam=spam,
        hidden=hidden,
    )
    rows, next_cursor = review.list_drafts(session, filt=filt, limit=limit, cursor=cursor)
    counts, per_assignee = {}, {}
    if with_counts and status != "all":
        counts = review.queue_counts(session, status=status or "pending")
        per_assignee = {
            "none" if k is None else str(k): n
            for k, n in team.assignee_counts(session, status=status or "pending").items()
        }
    return s.DraftPage(
        items=[draft_read(d, m) for d, m in rows],
        next_cursor=next_cursor,
        counts=counts,
        assignee_counts=per_assignee,
    )


@router.get("/drafts/news", response_model=s.News, responses=responses(400, 422))
def news(
    session: ReadSessionDep,
    user: ReviewerDep,
    after: Annotated[int, Query(ge=0, le=MAX_ROW_INT, description="the newest draft id already seen")],
    status: s.DraftStatus = "pending",
    category: s.Category | None = None,
    platform: str | None = None,
    language: str | None = None,
    to_sort: bool | None = None,
    assignee: AssigneeQuery = None,
) -> s.News:
    """How many drafts matching the filters arrived after draft `after`: what a queue open in a
    browser polls to say "3 new messages" without a reload."""
    filt = review.QueueFilter(
        status=status,
        category=category,
        platform=platform,
        language=language,
        to_sort=to_sort,
        assignee=assignee_of(assignee, user),
    )
    count, newest = team.news(session, filt=filt, after=after)
    return s.News(count=count, newest=newest)


def moderation_read(m: moderation.Moderated) -> s.ModerationRead:
    state = m.moderation
    return s.ModerationRead(
        hidden=state.hidden,
        deleted=state.deleted,
        pending=state.pending,
        failed=state.failed,
        error=state.error,
        allowed=[a for a in get_args(s.Action) if a in m.allowed],
    )


def _detail(
    session: Session, draft: Draft, similar_replies: SimilarReplies, holder: ModelHolder
) -> s.DraftDetail:
    message = session.get_one(Message, draft.message_id)
    base = draft_read(draft, message)
    similar = similar_replies.find(
        session, text=message.text, language=message.language, exclude_message_id=message.id
    )
    item = outbox.reply_of(session, draft.id)
    return s.DraftDetail(
        **base.model_dump(),
        history=[
            s.HistoryEvent(action=e.action, actor_id=e.actor_id, at=e.at, data=e.data or {})
            for e in review.history(session, draft.id)
        ],
        similar=[s.SimilarReply(**x) for x in similar],
        explanation=holder.explain(message.text),
        outbox=None
        if item is None
        else s.OutboxRead.model_validate(item, from_attributes=True).model_dump(mode="json"),
        moderation=moderation_read(moderation.state(session, draft)),
    )


@router.get("/drafts/{draft_id:int}", response_model=s.DraftDetail, responses=responses(404, 422))
def get_draft(
    draft_id: RowInt, session: ReadSessionDep, user: ReviewerDep, similar: SimilarDep, holder: HolderDep
) -> s.DraftDetail:
    """One draft with its message, history, the team's similar past replies and why it was sorted so."""
    return _detail(session, review.get(session, draft_id), similar, holder)


@router.post("/drafts/{draft_id:int}/approve", response_model=s.DraftRead, responses=responses(404, 409, 422))
def approve(
    draft_id: RowInt, body: s.ApproveBody, session: SessionDep, user: ReviewerDep, drafter: DrafterDep
) -> s.DraftRead:
    """Approve, optionally with an edited text and the saved answer it was drafted from; the reply
    is queued for sending in the same transaction."""
    chosen = (
        review.chosen_answer(session, drafter, draft_id=draft_id, answer_id=body.answer_id)
        if body.answer_id is not None
        else None
    )
    d = review.approve(
        session, draft_id=draft_id, version=body.version, user_id=user.id, text=body.text, chosen=chosen
    )
    return draft_read(d, session.get(Message, d.message_id))  # type: ignore[arg-type]


@router.post("/drafts/{draft_id:int}/reject", response_model=s.DraftRead, responses=responses(404, 409, 422))
def reject(draft_id: RowInt, body: s.RejectBody, session: SessionDep, user: ReviewerDep) -> s.DraftRead:
    """Reject with a reason; nothing is sent."""
    d = review.reject(session, draft_id=draft_id, version=body.version, user_id=user.id, reason=body.reason)
    return draft_read(d, session.get(Message, d.message_id))  # type: ignore[arg-type]


@router.patch("/drafts/{draft_id:int}", response_model=s.DraftRead, responses=responses(404, 409, 422))
def edit(draft_id: RowInt, body: s.EditBody, session: SessionDep, user: ReviewerDep) -> s.DraftRead:
    """Save an edited reply without deciding yet."""
    d = review.edit(session, draft_id=draft_id, version=body.version, user_id=user.id, text=body.text)
    return draft_read(d, session.get(Message, d.message_id))  # type: ignore[arg-type]


@router.post("/drafts/{draft_id:int}/claim", response_model=s.DraftRead, responses=responses(404, 409, 422))
def claim(draft_id: RowInt, session: SessionDep, user: ReviewerDep, settings: SettingsDep) -> s.DraftRead:
    """Hold the draft for a few minutes (RELAIS_CLAIM_TTL_S) so nobody else works on it."""
    d = review.claim(session, draft_id=draft_id, user_id=user.id, ttl_s=settings.claim_ttl_s)
    return draft_read(d, session.get(Message, d.message_id))  # type: ignore[arg-type]


@router.delete("/drafts/{draft_id:int}/claim", response_model=s.DraftRead, responses=responses(404, 409, 422))
def release(draft_id: RowInt, session: SessionDep, user: ReviewerDep) -> s.DraftRead:
    """Give a claimed draft back."""
    d = review.release(session, draft_id=draft_id, user_id=user.id)
    return draft_read(d, session.get(Message, d.message_id))  # type: ignore[arg-type]


@router.get("/messages/{message_id:int}", response_model=s.MessageRead, responses=responses(404, 422))
def get_message(message_id: RowInt, session: ReadSessionDep, user: ReviewerDep) -> s.MessageRead:
    """One message."""
    m = session.get(Message, message_id)
    if m is None:
        raise NotFound(Reason(N_("message %(id)s not found"), {"id": message_id}))
    return message_read(m)


@router.get(
    "/messages/{message_id:int}/conversation",
    response_model=s.ConversationRead,
    responses=responses(404, 422),
)
def get_conversation(message_id: RowInt, session: ReadSessionDep, user: ReviewerDep) -> s.ConversationRead:
    """The message's whole conversation, oldest first: the customer's messages (same author on the
    same account, across threads) and the brand's replies (sent from Relais or typed on the platform)."""
    m = session.get(Message, message_id)
    if m is None:
        raise NotFound(Reason(N_("message %(id)s not found"), {"id": message_id}))
    timeline = conversation.timeline(session, m)
    before = conversation.context_of(timeline.before(m.id))
    return s.ConversationRead(
        message_id=m.id,
        entries=[
            s.CustomerEntryRead.model_validate(e, from_attributes=True)
            if isinstance(e, conversation.CustomerEntry)
            else s.BrandEntryRead.model_validate(e, from_attributes=True)
            for e in timeline.entries
        ],
        earlier_left_out=timeline.earlier_left_out,
        already_replied=before.already_replied,
        last_brand_reply=before.last_brand_reply or None,
    )


@router.patch("/messages/{message_id:int}", response_model=s.MessageRead, responses=responses(404, 422))
def relabel(
    message_id: RowInt, body: s.RelabelBody, session: SessionDep, user: ReviewerDep, drafter: DrafterDep
) -> s.MessageRead:
    """Correct the category: stored as a training label, and a pending draft is re-suggested."""
    m = review.relabel(session, drafter, message_id=message_id, category=body.category, user_id=user.id)
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
        raise NotFound(Reason(N_("message %(id)s not found"), {"id": body.message_id}))
    return reply_templates.preview(
        settings,
        body.body,
        message,
        category=body.category,
        language=body.language,
        channel_kind=body.channel_kind,
    )


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


# -- team work: assignment, notes, saved filters ---------------------------------------------------


def user_ref(u: User) -> s.UserRef:
    return s.UserRef(id=u.id, name=u.name, role=u.role)


def note_read(n: team.NoteRow) -> s.NoteRead:
    return s.NoteRead(
        id=n.id,
        text=n.text,
        author_id=n.author_id,
        author_name=n.author_name,
        created_at=n.created_at,
        draft_id=n.draft_id,
    )


@router.get("/users", response_model=list[s.UserRef])
def list_users(session: ReadSessionDep, user: ReviewerDep) -> list[s.UserRef]:
    """Who a conversation can be assigned to: every active user."""
    return [user_ref(u) for u in team.assignable(session)]


@router.post("/drafts/{draft_id:int}/assign", response_model=s.AssignResult, responses=responses(404, 422))
def assign(draft_id: RowInt, body: s.AssignBody, session: SessionDep, user: ReviewerDep) -> s.AssignResult:
    """Give the draft's conversation to a reviewer (`"me"`, a user id, or null for nobody): the
    draft and every pending draft of the conversation follow, and so do its new messages."""
    target = user.id if body.user_id == "me" else body.user_id
    done = team.assign(session, draft_id=draft_id, user_id=target, actor_id=user.id)
    return s.AssignResult(
        draft=draft_read(done.draft, done.message),
        assignee=None if done.assignee is None else user_ref(done.assignee),
        drafts=done.drafts,
    )


@router.get("/drafts/{draft_id:int}/notes", response_model=list[s.NoteRead], responses=responses(404, 422))
def list_notes(draft_id: RowInt, session: ReadSessionDep, user: ReviewerDep) -> list[s.NoteRead]:
    """The team's internal notes on the draft's conversation, oldest first (never sent)."""
    return [note_read(n) for n in team.notes(session, draft_id=draft_id)]


@router.post(
    "/drafts/{draft_id:int}/notes", response_model=s.NoteRead, status_code=201, responses=responses(404, 422)
)
def add_note(draft_id: RowInt, body: s.NoteBody, session: SessionDep, user: ReviewerDep) -> s.NoteRead:
    """Write an internal note on the draft's conversation: for the team, never sent."""
    return note_read(team.add_note(session, draft_id=draft_id, author_id=user.id, text=body.text))


@router.get("/saved-filters", response_model=list[s.SavedFilterRead])
def list_saved_filters(session: ReadSessionDep, user: ReviewerDep) -> list[s.SavedFilterRead]:
    """The caller's saved queue filters, by name."""
    return [
        s.SavedFilterRead.model_validate(f, from_attributes=True)
        for f in team.saved_filters(session, user_id=user.id)
    ]


@router.post("/saved-filters", response_model=s.SavedFilterRead, responses=responses(422))
def save_filter(body: s.SavedFilterBody, session: SessionDep, user: ReviewerDep) -> s.SavedFilterRead:
    """Save a queue query string under a name (the caller's own; the same name replaces it)."""
    row = team.save_filter(session, user_id=user.id, name=body.name, query=body.query)
    return s.SavedFilterRead.model_validate(row, from_attributes=True)


@router.delete("/saved-filters/{filter_id:int}", status_code=204, responses=responses(404, 422))
def delete_saved_filter(filter_id: RowInt, session: SessionDep, user: ReviewerDep) -> None:
    """Delete one of the caller's saved filters."""
    team.delete_filter(session, user_id=user.id, filter_id=filter_id)
