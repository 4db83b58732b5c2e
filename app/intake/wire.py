"""The frames between web processes and the intake process: a 4-byte big-endian length and a
payload. A delivery travels parsed (its records as JSON, with the web process's proposals when it
made them), a NUL, then its raw body for the journal: the intake process never parses it again.
Results go back as JSON lists `[id, "ok" | reason, stored, duplicates, ignored]`."""

from __future__ import annotations

import asyncio
import datetime as dt
import struct
from typing import Any

import orjson

from app.intake.types import Delivery, Proposal
from app.platforms.types import InboundMessage, OwnMessage, Parsed
from app.triage import Triage

LENGTH = struct.Struct(">I")


def frame(payload: bytes) -> bytes:
    return LENGTH.pack(len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    (size,) = LENGTH.unpack(await reader.readexactly(LENGTH.size))
    return await reader.readexactly(size)


def encode_delivery(ident: int, d: Delivery, proposals: list[Proposal] | None) -> bytes:
    """One delivery's frame (the records are dataclasses: orjson writes them as objects)."""
    p = d.parsed
    meta = orjson.dumps(
        [
            ident,
            d.platform,
            d.digest,
            d.delivery_id,
            d.headers,
            p.messages,
            p.own,
            p.deletions,
            p.ignored,
            proposals,
        ]
    )
    return frame(meta + b"\0" + d.body)


def _message(fields: dict[str, Any]) -> InboundMessage:
    created = fields["created_at"]
    if created is not None:
        fields["created_at"] = dt.datetime.fromisoformat(created)
    return InboundMessage(**fields)


def _own(fields: dict[str, Any]) -> OwnMessage:
    created = fields.get("created_at")
    if created is not None:
        fields["created_at"] = dt.datetime.fromisoformat(created)
    return OwnMessage(**fields)


def _suggestion(raw: list[Any]) -> tuple[str, int | None, tuple[str, int, float] | None]:
    source = raw[2] if len(raw) > 2 else None
    return raw[0], raw[1], None if source is None else (source[0], source[1], source[2])


def decode_delivery(payload: bytes) -> tuple[int, Delivery, list[Proposal] | None]:
    """What `encode_delivery` wrote: (id, delivery, the web process's proposals or None)."""
    meta, _, body = payload.partition(b"\0")
    ident, platform, digest, delivery_id, headers, messages, own, deletions, ignored, proposed = orjson.loads(
        meta
    )
    parsed = Parsed(
        messages=[_message(m) for m in messages],
        own=[_own(o) for o in own],
        deletions=[(a, b, c) for a, b, c in deletions],
        ignored=ignored,
        delivery_id=delivery_id,
    )
    proposals = None
    if proposed is not None and len(proposed) == len(parsed.messages):
        proposals = [
            Proposal(Triage(**p["triage"]), None if p["draft"] is None else _suggestion(p["draft"]))
            for p in proposed
        ]
    return ident, Delivery(platform, digest, delivery_id, headers, body, parsed), proposals
