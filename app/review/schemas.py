"""API types of the review queue. Request bodies are strict: `"enabled": 0` is not a boolean and
`"version": "3"` not an integer, as the OpenAPI document says."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import MISSING, BaseModel, ConfigDict, Field

from app.deps import RowInt

Category = Literal["question", "complaint", "suggestion", "other"]
DraftStatus = Literal["pending", "approved", "rejected", "sent", "failed", "withdrawn"]
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
    waiting_s: float
    source: SourceRead | None
    message: MessageRead


class DraftPage(BaseModel):
    items: list[DraftRead]
    next_cursor: str | None
    counts: dict[str, int] = Field(default_factory=dict)


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


class DraftDetail(DraftRead):
    history: list[HistoryEvent]
    similar: list[SimilarReply]
    explanation: list[tuple[str, float]]
    outbox: dict[str, Any] | None


class ApproveBody(RequestBody):
    version: RowInt
    text: str | None = Field(default=None, max_length=10_000)


class RejectBody(RequestBody):
    version: RowInt
    reason: str = Field(min_length=1, max_length=2000)


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
    body: str = Field(min_length=1, max_length=5000)
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
    body: str | MISSING = Field(default=MISSING, min_length=1, max_length=5000)
    enabled: bool | MISSING = MISSING


class TemplateRead(TemplateBase):
    id: int
    version: int
    updated_at: dt.datetime


class PreviewBody(RequestBody):
    body: str = Field(max_length=5000)
    message_id: RowInt | None = None


class OutboxRead(BaseModel):
    id: int
    draft_id: int
    platform: str
    channel: str
    status: str
    attempts: int
    last_error: str | None
    text: str
    resent: int
    created_at: dt.datetime
    updated_at: dt.datetime
