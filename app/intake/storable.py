"""What of a parsed delivery the database can hold, the same on SQLite and PostgreSQL.

PostgreSQL refuses a NUL character in any text and a string longer than its `varchar(n)`; SQLite
stores both. So, before a delivery reaches the intake: NUL characters are removed from every
string; an id longer than its column is refused (cutting it could make two messages one, or
answer the wrong one), with the reason; a name, a handle or the journal's delivery id is cut to
its column (nothing that identifies the message is lost).
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

from sqlalchemy import String, Table

from app.models import Echo, Event, Message
from app.platforms.types import InboundMessage, MalformedPayload, OwnMessage, Parsed


class Unstorable(MalformedPayload):
    """An authentic delivery the database cannot hold as it is: answered 400 with the reason."""


def _limits(table: Any, names: tuple[str, ...]) -> dict[str, int]:
    columns = cast(Table, table).c
    return {n: t.length for n in names if isinstance(t := columns[n].type, String) and t.length}


# the fields that identify a message or where its reply goes: refused when too long
MESSAGE_IDS = _limits(
    Message.__table__,
    ("platform", "account_id", "external_id", "conversation_id", "reply_to_id", "parent_id", "author_id"),
)
# descriptive fields: cut to their column
MESSAGE_CUT = _limits(Message.__table__, ("kind", "channel", "author_name", "author_handle"))
ECHO_IDS = _limits(
    Echo.__table__, ("platform", "account_id", "external_id", "in_reply_to", "conversation_id")
)
DELIVERY_ID = _limits(Event.__table__, ("delivery_id",))["delivery_id"]
NUL_ESCAPE = b"\\u0000"  # JSON cannot hold a raw NUL: a body without this escape has none


def _no_nul(value: Any) -> Any:
    """`value` with NUL removed from every string in it (nested JSON values too)."""
    if isinstance(value, str):
        return value.replace("\0", "")
    if isinstance(value, dict):
        return {_no_nul(k): _no_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nul(v) for v in value]
    return value


def _check(kind: str, record: Any, ids: dict[str, int], cut: dict[str, int]) -> dict[str, Any]:
    """The changes that make `record` storable; `Unstorable` if an id is too long."""
    changes: dict[str, Any] = {}
    for name, limit in ids.items():
        value = getattr(record, name)
        if value is not None and len(value) > limit:
            raise Unstorable(f"{kind} {name} is {len(value)} characters long; at most {limit} are stored")
    for name, limit in cut.items():
        value = getattr(record, name)
        if value is not None and len(value) > limit:
            changes[name] = value[:limit]
    return changes


def _fits(record: Any, limits: dict[str, int]) -> bool:
    return all((v := getattr(record, n)) is None or len(v) <= limit for n, limit in limits.items())


def storable(parsed: Parsed, body: bytes) -> Parsed:
    """`parsed`, made storable: NUL removed, long descriptive values cut; `Unstorable` when an
    identifying value is longer than its column. Returns `parsed` itself when nothing changes."""
    if NUL_ESCAPE in body:
        parsed = Parsed(
            messages=[InboundMessage(**_no_nul(_fields(m))) for m in parsed.messages],
            own=[OwnMessage(**_no_nul(_fields(o))) for o in parsed.own],
            deletions=[(_no_nul(p), _no_nul(a), _no_nul(e)) for p, a, e in parsed.deletions],
            ignored=parsed.ignored,
            delivery_id=_no_nul(parsed.delivery_id),
            response=parsed.response,
        )
    messages = []
    for m in parsed.messages:
        changes = _check("message", m, MESSAGE_IDS, MESSAGE_CUT)
        messages.append(dataclasses.replace(m, **changes) if changes else m)
    own = [o for o in parsed.own if _fits(o, ECHO_IDS)]
    # an echo whose ids outgrow their columns can match no reply of ours: nothing to keep
    parsed.ignored += len(parsed.own) - len(own)
    parsed.messages, parsed.own = messages, own
    if parsed.delivery_id is not None and len(parsed.delivery_id) > DELIVERY_ID:
        parsed.delivery_id = parsed.delivery_id[:DELIVERY_ID]
    return parsed


def _fields(record: Any) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
