"""API types of moderation: the comment's state on the platform, closing, bulk actions."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

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


class BulkActionBody(RequestBody):
    action: Literal["hide", "unhide", "spam", "no_reply", "reopen", "approve"]
    ids: list[RowInt] = Field(min_length=1, max_length=MAX_BULK, description="draft ids")


class BulkAssignBody(RequestBody):
    action: Literal["assign"]
    ids: list[RowInt] = Field(min_length=1, max_length=MAX_BULK, description="draft ids")
    user_id: RowInt | Literal["me"] | None = Field(description="a user id, 'me', or null for nobody")


# `user_id` goes with `assign` (required there), told apart by `action` in the OpenAPI document too
BulkBody = Annotated[BulkActionBody | BulkAssignBody, Field(discriminator="action")]


class BulkItem(BaseModel):
    id: int
    ok: bool
    status: int = Field(description="what the single route would have answered")
    error: ErrorInfo | None = None
    draft: DraftModerated | None = None


class BulkResult(BaseModel):
    results: list[BulkItem]
