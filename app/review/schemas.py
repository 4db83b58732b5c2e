"""API types of the review queue."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Category = Literal["question", "complaint", "suggestion", "other"]


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


class ApproveBody(BaseModel):
    version: int
    text: str | None = Field(default=None, max_length=10_000)


class RejectBody(BaseModel):
    version: int
    reason: str = Field(min_length=1, max_length=2000)


class EditBody(BaseModel):
    version: int
    text: str = Field(max_length=10_000)


class RelabelBody(BaseModel):
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
    pass


class TemplateUpdate(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str | None = Field(default=None, min_length=1, max_length=100)
    category: Category | None = None
    language: str | None = None
    channel_kind: Literal["public", "private", "any"] | None = None
    register_: Literal["tu", "vous", "any"] | None = Field(default=None, alias="register")
    body: str | None = Field(default=None, min_length=1, max_length=5000)
    enabled: bool | None = None


class TemplateRead(TemplateBase):
    id: int
    version: int
    updated_at: dt.datetime


class PreviewBody(BaseModel):
    body: str = Field(max_length=5000)
    message_id: int | None = None


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
