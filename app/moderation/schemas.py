"""API types of moderation: the comment's state on the platform, closing, bulk actions."""

from __future__ import annotations

from typing import Literal

from pydantic import MISSING, BaseModel, Field, model_validator

from app.deps import RowInt
from app.errors import ErrorInfo
from app.review.schemas import DraftRead, ModerationRead, RequestBody

BulkAction = Literal["hide", "unhide", "spam", "no_reply", "reopen", "approve", "assign"]
MAX_BULK = 200


class MessageModerated(BaseModel):
    message_id: int
    draft_id: int
    draft_status: str
    moderation: ModerationRead


class DraftModerated(DraftRead):
    moderation: ModerationRead


class CloseBody(RequestBody):
    version: RowInt
    reason: Literal["no_reply", "spam"]


class ReopenBody(RequestBody):
    version: RowInt


class DeleteBody(RequestBody):
    confirm: Literal[True] = Field(description="true: deleting a comment cannot be undone")


class BulkBody(RequestBody):
    action: BulkAction
    ids: list[RowInt] = Field(min_length=1, max_length=MAX_BULK, description="draft ids")
    user_id: RowInt | Literal["me"] | None | MISSING = Field(
        default=MISSING, description="assign only, and required there: a user id, 'me', or null for nobody"
    )

    @model_validator(mode="after")
    def _assignee_with_assign(self) -> BulkBody:
        if (self.action == "assign") == (self.user_id is MISSING):
            raise ValueError("user_id goes with the action assign, and only with it")
        return self


class BulkItem(BaseModel):
    id: int
    ok: bool
    status: int = Field(description="what the single route would have answered")
    error: ErrorInfo | None = None
    draft: DraftModerated | None = None


class BulkResult(BaseModel):
    results: list[BulkItem]
