"""API types of the knowledge base. Bodies are strict (`"enabled": 0` is refused), as elsewhere."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import MISSING, BaseModel, ConfigDict, Field

from app.deps import RowInt
from app.reply_templates.rendering import BODY_LIMIT
from app.review.schemas import Category

MAX_EXAMPLES = 20
Example = Annotated[str, Field(min_length=1, max_length=500)]


class AnswerCreate(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    title: str = Field(min_length=1, max_length=200, pattern=r"\S")
    body: str = Field(min_length=1, max_length=BODY_LIMIT, pattern=r"\S")
    language: str = Field(min_length=2, max_length=8, pattern=r"^[A-Za-z]{2,8}$")
    category: Category | None = None
    examples: list[Example] = Field(default_factory=list, max_length=MAX_EXAMPLES)
    enabled: bool = True


class AnswerUpdate(BaseModel):
    """`version` is the one read; only the other fields sent change, and none can be null except
    `category` (`MISSING`: absent)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    version: RowInt
    title: str | MISSING = Field(default=MISSING, min_length=1, max_length=200, pattern=r"\S")
    body: str | MISSING = Field(default=MISSING, min_length=1, max_length=BODY_LIMIT, pattern=r"\S")
    language: str | MISSING = Field(default=MISSING, min_length=2, max_length=8, pattern=r"^[A-Za-z]{2,8}$")
    category: Category | None | MISSING = MISSING
    examples: list[Example] | MISSING = Field(default=MISSING, max_length=MAX_EXAMPLES)
    enabled: bool | MISSING = MISSING


class AnswerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    version: int
    title: str
    body: str
    language: str
    category: str | None
    examples: list[str]
    enabled: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class AnswersImported(BaseModel):
    """What an import did: answers added, answers changed (the others were already the same)."""

    created: int
    changed: int


class AnswerUseRead(BaseModel):
    """A customer's message the answer learned: an approved reply drafted from it answered it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    draft_id: int | None
    message_text: str
    created_at: dt.datetime


class AnswerUses(BaseModel):
    count: int
    uses: list[AnswerUseRead]
