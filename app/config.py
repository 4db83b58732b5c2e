"""Settings: one typed object, read from `RELAIS_*` environment variables (and an optional `.env`).

Secrets are `SecretStr`: they print as `**********` and are never logged. A channel whose secret is
unset refuses its webhooks; there is no "skip verification when unset".
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app import platforms
from app.platforms.base import unset_if_empty

ROOT = Path(__file__).resolve().parent.parent

PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "xxx", "todo", "placeholder"}


class Settings(platforms.PlatformSettings, BaseSettings):
    """Every knob of Relais, named `RELAIS_<FIELD>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="RELAIS_", env_file=".env", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    database_url: str = Field(default_factory=lambda: f"sqlite:///{ROOT / 'var' / 'relais.db'}")
    models_dir: Path = ROOT / "models"
    # SQLite durability: FULL fsyncs every (group) commit; NORMAL is faster and survives app
    # crashes but not power loss.
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    sqlite_busy_timeout_ms: int = 10_000
    db_pool_size: int = 10

    # Inbound webhooks (each platform's secrets and URLs: its `<Platform>Settings`, app/platforms/)
    max_body_bytes: int = 4 * 1024 * 1024  # Meta's largest deliveries are about 3 MB
    timestamp_tolerance_s: int = 300

    # Intake: draft and commit in a child process of its own (a core of its own), the web process
    # classifying each loop turn's deliveries (with --workers N the child classifies too); off,
    # the web process does it all on a thread.
    intake_process: bool = True
    # Set by `relais serve --workers N` for its workers: the Unix socket of the one intake process
    # they share (unset: each server process starts its own).
    intake_socket: str | None = None
    # Intake batching: a batch closes after this many deliveries or this many milliseconds.
    ingest_batch_max: int = 256
    ingest_batch_wait_ms: float = 2.0

    # Triage
    confidence_threshold: float = 0.55  # below it, a message goes to "to sort"
    model_reload_interval_s: float = 2.0

    # Replies: outbound platforms
    # Per-account credentials, JSON: {"meta:<page id>": "<page token>", "telegram:<bot id>": "..."};
    # an account without one uses the platform's token above.
    account_tokens: dict[str, SecretStr] = Field(default_factory=dict)
    send_timeout_s: float = 10.0
    outbox_in_process: bool = True
    outbox_poll_interval_s: float = 0.5
    outbox_lease_s: float = 60.0
    outbox_max_attempts: int = 8
    outbox_backoff_base_s: float = 1.0
    outbox_backoff_max_s: float = 300.0
    # after a send whose outcome is unknown, wait this long for the platform's echo before resending
    outbox_echo_wait_s: float = 30.0

    # Drafts
    brand_name: str = "Relais"
    agent_signature: str = ""
    default_register: Literal["tu", "vous"] = "vous"
    similar_replies: int = 3
    # The language of a message too short to tell ("Ok", "Premier ! 😎"), per account, JSON:
    # {"meta:<page id>": "fr"}; an account without one: the pages' language (RELAIS_LANGUAGE) until
    # its conversation or its author's earlier messages say otherwise (app/language.py).
    account_languages: dict[str, str] = Field(default_factory=dict)
    # After intake, in the background (app/drafts/context.py): the sender's name from the platform
    # (Messenger, Instagram DMs), within this time or not at all, remembered this long.
    profile_lookup_timeout_s: float = 2.0
    profile_cache_s: float = 3600.0
    context_poll_interval_s: float = 0.5
    # The refine pass (same place): each new message read again with the contextual encoder
    # (classifier/encoder.py, tens of ms a message, at the lowest CPU priority) and its category
    # pooled with the intake's; a changed category re-suggests its untouched draft. `relais
    # classify`, `evaluate` and `train` measure the refined model too. false: the intake's alone.
    refine: bool = True

    # The interface: a user's own choice wins (users.language, users.timezone), then the browser's
    # Accept-Language for the language.
    language: Literal["fr", "en"] = "fr"
    timezone: str = "Europe/Paris"

    # Review
    claim_ttl_s: int = 300
    session_secret: SecretStr | None = None
    session_max_age_s: int = 12 * 3600
    cookie_secure: bool = False
    login_max_failures: int = 5  # per username from one client address
    login_max_failures_per_address: int = 20  # any usernames from one client address
    login_lockout_s: int = 300  # the longest wait, and the window in which failures count

    session_secret_empty_is_unset = field_validator("session_secret", mode="before")(unset_if_empty)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Paris)") from None
        return value

    def check_production(self) -> None:
        """Refuse to start outside development with a placeholder secret."""
        if self.environment != "production":
            return
        for name in [p.secret_setting for p in platforms.all()] + ["session_secret"]:
            value: SecretStr | None = getattr(self, name)
            if value is not None and value.get_secret_value().lower() in PLACEHOLDER_SECRETS:
                raise ValueError(f"RELAIS_{name.upper()} is a placeholder; set a real secret")
        if self.session_secret is None:
            raise ValueError("RELAIS_SESSION_SECRET must be set in production")

    @cached_property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
