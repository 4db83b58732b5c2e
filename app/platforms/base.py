"""What one platform module provides: `Platform` is the interface every `app/platforms/<name>.py`
implements and the rest of Relais calls, so that nothing outside `app/platforms/` branches on a
platform's name.

Inbound: `inbound_secret` (unset: the channel refuses its webhooks), `verify` over the raw bytes,
`parse` into plain records (`app.platforms.types`), and an optional GET `handshake` endpoint.
Outbound: `send` posts one approved reply and classifies the answer (`app.platforms.sending`);
`moderations` says which of hide, unhide and delete a message of a channel and kind allows, and
`moderate` makes one of them. Look-ups (`lookup_profile`) are declared for the features to come;
`PlatformBase` has no moderation and knows no profile until a platform says otherwise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from fastapi import Depends, Request
from fastapi.responses import Response
from pydantic import SecretStr

from app import metrics
from app.errors import Forbidden
from app.platforms.sending import Outgoing, SendResult, dead
from app.platforms.types import AdapterContext, Parsed

if TYPE_CHECKING:
    import httpx

    from app.config import Settings


def handshake_settings(request: Request) -> Settings:
    """The running app's settings, for a handshake endpoint: `app.deps.get_settings`, imported when
    called because `app.config` builds the settings class from the platforms' own."""
    from app import deps

    return deps.get_settings(request)


HandshakeSettingsDep = Annotated["Settings", Depends(handshake_settings)]


@dataclass(frozen=True, slots=True)
class Handshake:
    """A platform's subscription check: a FastAPI endpoint for GET /webhooks/<name>."""

    endpoint: Callable[..., Any]
    response_class: type[Response]


@dataclass(frozen=True, slots=True)
class Profile:
    """What a platform tells about one of its users (for the features to come)."""

    author_id: str
    name: str | None = None
    handle: str | None = None
    url: str | None = None


class Platform(Protocol):
    """One platform: how it signs, handshakes, delivers events and takes replies."""

    @property
    def name(self) -> str:
        """The path segment of POST /webhooks/<name> and the `platform` column."""
        ...

    @property
    def description(self) -> str:
        """One line, shown on its webhook route."""
        ...

    @property
    def secret_setting(self) -> str:
        """The `Settings` field of the secret its deliveries are verified with."""
        ...

    @property
    def journal_headers(self) -> tuple[str, ...]:
        """Request headers worth keeping with the raw body."""
        ...

    @property
    def handshake(self) -> Handshake | None:
        """Its GET /webhooks/<name>, if it has one."""
        ...

    def verify(self, settings: Settings, secret: bytes, body: bytes, headers: Mapping[str, str]) -> None:
        """Raise `InvalidSignature(reason)` unless `body` was signed with `secret`."""
        ...

    def parse(self, headers: Mapping[str, str], payload: Any, ctx: AdapterContext) -> Parsed:
        """The messages, echoes and deletions of one verified delivery (pure, no database)."""
        ...

    def send(self, client: httpx.Client, settings: Settings, out: Outgoing, now: dt.datetime) -> SendResult:
        """Post one reply once; raise `sending.Final` or return the classified outcome."""
        ...

    def outbound_tokens(self, settings: Settings) -> list[str]:
        """Every credential it sends with, scrubbed from error texts."""
        ...

    def moderations(self, channel: str, kind: str) -> frozenset[str]:
        """What can be done to a customer's message of this channel and kind: some of hide,
        unhide, delete (empty: no moderation)."""
        ...

    def moderate(
        self, client: httpx.Client, settings: Settings, out: Outgoing, now: dt.datetime
    ) -> SendResult:
        """Make `out.action` (hide, unhide or delete) once; raise `sending.Final` or return the outcome."""
        ...

    def lookup_profile(
        self, client: httpx.Client, settings: Settings, *, account_id: str, author_id: str, channel: str
    ) -> Profile | None:
        """The public profile of one of the platform's users; None when unknown or on any failure
        (it never raises)."""
        ...


class PlatformBase:
    """Defaults for the optional parts of `Platform`."""

    name: str
    description: str
    secret_setting: str
    journal_headers: tuple[str, ...] = ("content-type", "user-agent")
    handshake: Handshake | None = None

    def moderations(self, channel: str, kind: str) -> frozenset[str]:
        return frozenset()

    def moderate(
        self, client: httpx.Client, settings: Settings, out: Outgoing, now: dt.datetime
    ) -> SendResult:
        return dead(f"{out.action} is not supported on {out.channel}")

    def lookup_profile(
        self, client: httpx.Client, settings: Settings, *, account_id: str, author_id: str, channel: str
    ) -> Profile | None:
        return None


def inbound_secret(platform: Platform, settings: Settings) -> bytes:
    """The platform's inbound secret; `Forbidden` (and counted) when the channel has none."""
    value: SecretStr | None = getattr(settings, platform.secret_setting)
    if value is None:
        metrics.WEBHOOKS_REJECTED.labels(platform.name, "not_configured").inc()
        raise Forbidden(f"the {platform.name} channel is not configured (its secret is not set)")
    return value.get_secret_value().encode()


def unset_if_empty(cls: type, v: object) -> object:
    """Settings validator: an empty secret in the environment is an unset one."""
    return None if v == "" else v
