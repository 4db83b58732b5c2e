"""Moderation under /api: close and reopen a draft, hide / unhide / delete its comment, in bulk.
Reviewers moderate; deleting (it cannot be undone) needs an admin and `"confirm": true`."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.deps import AdminDep, ReviewerDep, RowInt, SessionDep
from app.errors import ErrorInfo, RelaisError, api_language, responses
from app.moderation import schemas as s
from app.moderation import service as moderation
from app.review.router import draft_read, moderation_read

router = APIRouter(prefix="/api", tags=["moderation"], responses=responses(401, 503))


def draft_moderated(m: moderation.Moderated) -> s.DraftModerated:
    return s.DraftModerated(**draft_read(m.draft, m.message).model_dump(), moderation=moderation_read(m))


def message_moderated(m: moderation.Moderated) -> s.MessageModerated:
    return s.MessageModerated(
        message_id=m.message.id,
        draft_id=m.draft.id,
        draft_status=m.draft.status,
        moderation=moderation_read(m),
    )


@router.post(
    "/drafts/{draft_id:int}/close", response_model=s.DraftModerated, responses=responses(404, 409, 422)
)
def close(draft_id: RowInt, body: s.CloseBody, session: SessionDep, user: ReviewerDep) -> s.DraftModerated:
    """Close without a reply: `no_reply` sends nothing; `spam` also hides the comment where the
    platform can. Undone by reopen."""
    m = moderation.close(
        session, draft_id=draft_id, version=body.version, user_id=user.id, reason=body.reason
    )
    return draft_moderated(m)


@router.post(
    "/drafts/{draft_id:int}/reopen", response_model=s.DraftModerated, responses=responses(404, 409, 422)
)
def reopen(draft_id: RowInt, body: s.ReopenBody, session: SessionDep, user: ReviewerDep) -> s.DraftModerated:
    """Put a closed draft back in the queue; a spam's hidden comment is shown again."""
    return draft_moderated(
        moderation.reopen(session, draft_id=draft_id, version=body.version, user_id=user.id)
    )


@router.post(
    "/messages/{message_id:int}/hide", response_model=s.MessageModerated, responses=responses(404, 409, 422)
)
def hide(message_id: RowInt, session: SessionDep, user: ReviewerDep) -> s.MessageModerated:
    """Hide the comment from the public (its author and friends still see it); undone by unhide.
    422 `not_supported` where the platform cannot hide it."""
    return message_moderated(
        moderation.moderate(session, message_id=message_id, action="hide", user_id=user.id)
    )


@router.post(
    "/messages/{message_id:int}/unhide", response_model=s.MessageModerated, responses=responses(404, 409, 422)
)
def unhide(message_id: RowInt, session: SessionDep, user: ReviewerDep) -> s.MessageModerated:
    """Show a hidden comment again."""
    return message_moderated(
        moderation.moderate(session, message_id=message_id, action="unhide", user_id=user.id)
    )


@router.post(
    "/messages/{message_id:int}/delete",
    response_model=s.MessageModerated,
    responses=responses(403, 404, 409, 422),
)
def delete(message_id: RowInt, body: s.DeleteBody, session: SessionDep, user: AdminDep) -> s.MessageModerated:
    """Delete the comment on the platform (admin, with `"confirm": true`): this cannot be undone;
    a pending draft is closed (reason `deleted`)."""
    return message_moderated(
        moderation.moderate(session, message_id=message_id, action="delete", user_id=user.id)
    )


@router.post("/drafts/bulk", response_model=s.BulkResult, responses=responses(422))
def bulk(body: s.BulkBody, request: Request, session: SessionDep, user: ReviewerDep) -> s.BulkResult:
    """One action on many drafts (hide, unhide, spam, no_reply, reopen, approve as shown, assign
    with `user_id`), each on its own: the answer says, per id, what the single route would have
    (200, 404, 409, 422). Without versions: a close or an approval still only applies to a draft
    that is pending, a reopen to a closed one. Deleting is one comment at a time."""
    language = api_language(request)
    results: list[s.BulkItem] = []
    for draft_id in dict.fromkeys(body.ids):
        try:
            with session.begin_nested():
                assignee = None
                if isinstance(body, s.BulkAssignBody):
                    assignee = user.id if body.user_id == "me" else body.user_id
                m = moderation.act(
                    session, action=body.action, draft_id=draft_id, user_id=user.id, assignee=assignee
                )
                results.append(s.BulkItem(id=draft_id, ok=True, status=200, draft=draft_moderated(m)))
        except RelaisError as e:
            error = ErrorInfo(code=e.code, message=e.api_message(language), detail=e.detail)
            results.append(s.BulkItem(id=draft_id, ok=False, status=e.status_code, error=error))
    return s.BulkResult(results=results)
