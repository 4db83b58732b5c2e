"""What goes into the intake and what comes out, and the interface of its two backends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from app.platforms.types import Parsed
from app.triage import Triage


class DatabaseUnavailable(Exception):
    """The delivery could not be made durable: answer 503 so the platform retries."""


@dataclass(slots=True)
class Delivery:
    """One authentic delivery, parsed once by the webhook endpoint."""

    platform: str
    digest: str  # sha256 of the raw body: the journal's key
    delivery_id: str | None
    headers: dict[str, str]  # the platform's journal headers
    body: bytes
    parsed: Parsed


@dataclass(frozen=True, slots=True)
class Proposal:
    """The triage of one message and the draft (text, template id, source) it rendered, computed ahead
    of the batch that writes it (by the web process, beside the intake process)."""

    triage: Triage
    draft: tuple[str, int | None, tuple[str, int, float] | None] | None = None  # None: the batch renders it


@dataclass(slots=True)
class IngestResult:
    stored: int = 0
    duplicates: int = 0
    ignored: int = 0
    duplicate_delivery: bool = False
    message_ids: list[int] = field(default_factory=list)


class Intake(Protocol):
    """Takes deliveries and answers once each is committed: `ThreadIntake` in this process,
    `ProcessIntake` in an intake process of its own."""

    # time.monotonic() of the latest delivery submitted (0.0 before any): the refine pass of this
    # process waits for a quiet moment (app/drafts/context.py)
    last_submit: float

    async def start(self) -> None:
        """Start taking deliveries."""
        ...

    async def stop(self) -> None:
        """Commit or refuse (`DatabaseUnavailable`) what is held, then stop."""
        ...

    async def submit(self, delivery: Delivery) -> IngestResult:
        """Return once the delivery is committed; raise `DatabaseUnavailable` if it cannot be."""
        ...
