"""API types of the review queue. Request bodies are strict: `"enabled": 0` is not a boolean and
`"version": "3"` not an integer, as the OpenAPI document says."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    MISSING,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from app.deps import MAX_ROW_INT, RowInt
from app.reply_templates.rendering import BODY_LIMIT

Category = Literal["question", "complaint", "suggestion", "other"]
DraftStatus = Literal["pending", "approved", "rejected", "sent", "failed", "withdrawn", "closed"]
Action = Literal["hide", "unhide", "delete"]
OutboxStatus = Literal["queued", "sending", "retry", "sent", "dead", "unknown"]


class RequestBody(BaseModel):
    model_config = ConfigDict(strict=True)


class MessageRead(BaseModel):
    id: int
    platform: str
    channel: str
    kind: str
    external_id: str
    account_id: str
    conversation_id: str | None
    author_name: str | None
    author_handle: str | None
    text: str
    category: str | None
    predicted_category: str | None
    confidence: float | None
    scores: dict[str, float] | None
    language: str | None
    to_sort: bool
    spam: bool = False
    model_version: str | None
    created_at: dt.datetime | None
    received_at: dt.datetime


class SourceRead(BaseModel):
    """Where a draft's text came from: a knowledge-base answer (its id), the approved reply of a
    past draft (that draft's id) or a template (its id); `score` is the similarity, 0..1."""

    kind: Literal["answer", "past_reply", "template"]
    id: int
    score: float


class DraftRead(BaseModel):
    id: int
    version: int
    status: str
    text: str
    final_text: str | None
    edited: bool
    reason: str | None
    claimed_by: int | None
    claimed_until: dt.datetime | None
    assignee_id: int | None = Field(default=None, description="who the conversation is assigned to")
    waiting_s: float
    source: SourceRead | None
    message: MessageRead


class DraftPage(BaseModel):
    items: list[DraftRead]
    next_cursor: str | None
    counts: dict[str, int] = Field(default_factory=dict)
    assignee_counts: dict[str, int] = Field(
        default_factory=dict, description="with_counts: drafts per assignee's user id, 'none' for nobody's"
    )


class SimilarReply(BaseModel):
    message_text: str
    reply: str
    similarity: float
    draft_id: int


class HistoryEvent(BaseModel):
    action: str
    actor_id: int | None
    at: dt.datetime
    data: dict[str, Any]


class ModerationRead(BaseModel):
    """Where the comment stands, as far as Relais moderated it."""

    hidden: bool
    deleted: bool
    pending: Action | None = Field(description="the action being made (queued, sending, to retry)")
    failed: Action | None = Field(description="the last action, when it ended as a dead letter")
    error: str | None
    allowed: list[Action] = Field(description="what the platform can do to this message")


class DraftDetail(DraftRead):
    history: list[HistoryEvent]
    similar: list[SimilarReply]
    explanation: list[tuple[str, float]]
    outbox: dict[str, Any] | None
    moderation: ModerationRead


class ApproveBody(RequestBody):
    version: RowInt
    text: str | None = Field(default=None, max_length=10_000)
    answer_id: RowInt | None = Field(
        default=None,
        description="the saved answer the reply was drafted from (the editor's picker): the draft's "
        "source, and the message becomes one of its examples when the reply stays close to it",
    )


class RejectBody(RequestBody):
    version: RowInt
    reason: str = Field(min_length=1, max_length=2000, pattern=r"\S")  # not only blanks


class EditBody(RequestBody):
    version: RowInt
    text: str = Field(max_length=10_000)


class RelabelBody(RequestBody):
    category: Category


class TemplateBase(BaseModel):
    # "register" would shadow a pydantic method: the field is `register_`, spelled "register" in JSON
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True, from_attributes=True)

    name: str = Field(min_length=1, max_length=100)
    category: Category
    language: str = Field(min_length=2, max_length=8)
    channel_kind: Literal["public", "private", "any"] = "any"
    register_: Literal["tu", "vous", "any"] = Field(default="any", alias="register")
    body: str = Field(min_length=1, max_length=BODY_LIMIT)
    enabled: bool = True


class TemplateCreate(TemplateBase):
    model_config = ConfigDict(strict=True)


class TemplateUpdate(RequestBody):
    """Only the fields sent change; none can be null (`MISSING`: absent, not None)."""

    model_config = ConfigDict(populate_by_name=True)

    name: str | MISSING = Field(default=MISSING, min_length=1, max_length=100)
    category: Category | MISSING = MISSING
    language: str | MISSING = Field(default=MISSING, min_length=2, max_length=8)
    channel_kind: Literal["public", "private", "any"] | MISSING = MISSING
    register_: Literal["tu", "vous", "any"] | MISSING = Field(default=MISSING, alias="register")
    body: str | MISSING = Field(default=MISSING, min_length=1, max_length=BODY_LIMIT)
    enabled: bool | MISSING = MISSING


class TemplateRead(TemplateBase):
    id: int
    version: int
    updated_at: dt.datetime


class PreviewBody(RequestBody):
    """A body to render for a real message (`message_id`), else for a sample message of this
    category, language and channel kind."""

    body: str = Field(max_length=BODY_LIMIT)
    message_id: RowInt | None = None
    category: Literal["question", "complaint", "suggestion", "other"] | None = None
    language: str | None = Field(default=None, min_length=2, max_length=8)
    channel_kind: Literal["public", "private", "any"] | None = None


class OutboxRead(BaseModel):
    id: int
    draft_id: int
    action: Literal["reply", "hide", "unhide", "delete"]
    platform: str
    channel: str
    status: str
    attempts: int
    last_error: str | None
    text: str
    resent: int
    created_at: dt.datetime
    updated_at: dt.datetime


class CustomerEntryRead(BaseModel):
    """One of the customer's messages in the conversation."""

    side: Literal["customer"]
    at: dt.datetime
    message_id: int
    draft_id: int | None
    channel: str
    kind: str
    author_name: str | None
    text: str
    deleted: bool
    current: bool


class BrandEntryRead(BaseModel):
    """One of the brand's replies: `source` "relais" (the outbox: approved by whom and when, its
    sending state) or "platform" (seen only through the platform's webhook: typed there)."""

    side: Literal["brand"]
    at: dt.datetime
    source: Literal["relais", "platform"]
    text: str | None
    status: Literal["queued", "sending", "retry", "sent", "dead", "unknown", "published"]
    in_reply_to_message_id: int | None
    draft_id: int | None
    approved_by: str | None
    approved_at: dt.datetime | None
    sent_at: dt.datetime | None
    error: str | None
    seen_on_platform: bool


class ConversationRead(BaseModel):
    """A message's whole conversation, oldest first, and what a draft takes from it."""

    message_id: int
    entries: list[Annotated[CustomerEntryRead | BrandEntryRead, Field(discriminator="side")]]
    earlier_left_out: int
    already_replied: bool
    last_brand_reply: str | None


# -- team work -------------------------------------------------------------------------------------


class UserRef(BaseModel):
    id: int
    name: str
    role: str


class AssignBody(RequestBody):
    user_id: RowInt | Literal["me"] | None = Field(
        description="the user who takes the conversation, 'me', or null for nobody"
    )

    @field_validator("user_id", mode="wrap")
    @classmethod
    def _one_reason(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """One reason instead of one per member of the union."""
        try:
            return handler(value)
        except ValidationError:
            raise ValueError(f'a user id from 1 to {MAX_ROW_INT}, "me" or null') from None


class AssignResult(BaseModel):
    draft: DraftRead
    assignee: UserRef | None
    drafts: list[int] = Field(description="the conversation's drafts whose assignee changed")


class NoteBody(RequestBody):
    text: str = Field(min_length=1, max_length=4000)


class NoteRead(BaseModel):
    id: int
    text: str
    author_id: int | None
    author_name: str | None
    created_at: dt.datetime
    draft_id: int | None


class SavedFilterBody(RequestBody):
    name: str = Field(min_length=1, max_length=100)
    query: str = Field(
        max_length=1000, description="the queue's query string, e.g. category=complaint&assignee=me"
    )


class SavedFilterRead(BaseModel):
    id: int
    name: str
    query: str
    created_at: dt.datetime


class News(BaseModel):
    count: int = Field(description="drafts after `after` that match the filters (at most 1000)")
    newest: int = Field(description="the newest draft id: the next `after`")
