"""The frames between the web process and the intake process give back the records sent."""

from __future__ import annotations

import datetime as dt

from app.intake import wire
from app.intake.types import Delivery
from app.platforms.types import InboundMessage, OwnMessage, Parsed


def test_a_delivery_crosses_the_wire_with_its_echoes_thread_and_time() -> None:
    when = dt.datetime(2026, 12, 2, 14, 2, tzinfo=dt.UTC)
    parsed = Parsed(
        messages=[InboundMessage("meta", "messenger", "P", "m1", "dm", "Bonjour", "U", created_at=when)],
        own=[
            OwnMessage("meta", "P", "m2", "U", "Bonjour !", conversation_id="U", created_at=when),
            OwnMessage("meta", "P", "m3", "U"),
        ],
    )
    frame = wire.encode_delivery(7, Delivery("meta", "d" * 64, None, {}, b"{}", parsed), None)
    ident, delivery, proposals = wire.decode_delivery(frame[wire.LENGTH.size :])
    assert ident == 7 and proposals is None
    assert delivery.parsed.own == parsed.own
    assert delivery.parsed.messages == parsed.messages
