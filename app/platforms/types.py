"""What adapters produce: plain records, no database. Adapters are pure functions
`parse(headers, body, context) -> Parsed`, so intake can batch many deliveries in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.config import Settings


class MalformedPayload(ValueError):
    """Authentic but unusable delivery: answered 400 with this reason, nothing stored."""


@dataclass(frozen=True, slots=True)
class InboundMessage:
    platform: str  # meta, x, telegram, slack, generic
    channel: str  # facebook, messenger, instagram, whatsapp, x, telegram, slack, or the generic source
    account_id: str  # page, IG account, phone number id, X user, bot, workspace, source
    external_id: str
    kind: str  # comment, dm, mention, message, review, email
    text: str
    conversation_id: str | None = None
    reply_to_id: str | None = None
    parent_id: str | None = None
    author_id: str | None = None
    author_name: str | None = None
    author_handle: str | None = None
    created_at: dt.datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.platform, self.account_id, self.external_id)


@dataclass(frozen=True, slots=True)
class OwnMessage:
    """Something we (the brand) posted, seen coming back: never a new message; confirms a send."""

    platform: str
    account_id: str
    external_id: str
    in_reply_to: str | None = None  # the message or conversation it answers
    text: str | None = None
    # the thread it was posted in, as the customer's messages there carry it (their
    # `conversation_id`), and when the platform says it was posted: the conversation page uses both
    conversation_id: str | None = None
    created_at: dt.datetime | None = None


@dataclass(slots=True)
class Parsed:
    messages: list[InboundMessage] = field(default_factory=list)
    own: list[OwnMessage] = field(default_factory=list)
    deletions: list[tuple[str, str, str]] = field(default_factory=list)  # (platform, account, external id)
    ignored: int = 0  # items that are authentic but not inbound messages
    delivery_id: str | None = None
    response: Any = None  # a handshake answer to send back instead of storing anything


@dataclass(frozen=True, slots=True)
class AdapterContext:
    telegram_bot_id: str = "bot"

    @classmethod
    def from_settings(cls, settings: Settings) -> AdapterContext:
        """What the platform adapters need to know about this deployment."""
        token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
        return cls(telegram_bot_id=token.split(":", 1)[0] if ":" in token else "bot")


def epoch(value: Any) -> dt.datetime | None:
    """Seconds or milliseconds since the epoch (int, float or numeric string), or ISO 8601, in UTC;
    `MalformedPayload` when unreadable or beyond what a datetime holds (1e30, -1e20, ...)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            try:
                parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError as e:
                raise MalformedPayload(f"unreadable timestamp {value[:40]!r}") from e
            return utc(parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC))
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedPayload(f"unreadable timestamp {value!r}")
    if value > 1e11:  # milliseconds
        value = value / 1000
    try:
        return dt.datetime.fromtimestamp(value, dt.UTC)
    except (OverflowError, OSError, ValueError) as e:
        raise MalformedPayload(f"timestamp out of range: {str(value)[:40]}") from e


def posted_at(value: Any, read: Callable[[Any], dt.datetime | None] = epoch) -> dt.datetime | None:
    """When one of our own posts was made, read with `read`; None when unreadable (an echo is
    worth keeping without its time)."""
    try:
        return read(value)
    except MalformedPayload:
        return None


def utc(value: dt.datetime) -> dt.datetime:
    """An aware datetime in UTC; `MalformedPayload` when UTC cannot hold it (year 1 or 9999)."""
    try:
        return value.astimezone(dt.UTC)
    except (OverflowError, ValueError) as e:
        raise MalformedPayload(f"timestamp out of range: {value.isoformat()[:40]}") from e


def obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedPayload(f"{where} must be an object")
    return value


def arr(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedPayload(f"{where} must be an array")
    return value


def sub(d: dict[str, Any], key: str) -> dict[str, Any]:
    """`d[key]` when it is an object, else an empty one (optional parts of a payload)."""
    value = d.get(key)
    return value if isinstance(value, dict) else {}


def req_str(d: dict[str, Any], key: str, where: str) -> str:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, str | int) or v == "":
        raise MalformedPayload(f"{where}.{key} is missing")
    return str(v)


def opt_str(v: Any) -> str | None:
    if v is None or isinstance(v, dict | list | bool):
        return None
    return str(v)
