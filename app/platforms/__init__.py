"""The platforms Relais talks to, registered in this one place: `app/platforms/<name>.py` holds all
that Relais knows about one of them (see `base.Platform`)."""

from __future__ import annotations

from app.platforms import generic, meta, slack, telegram, x
from app.platforms.base import Platform


class PlatformSettings(
    meta.MetaSettings, x.XSettings, telegram.TelegramSettings, slack.SlackSettings, generic.GenericSettings
):
    """Every platform's settings, mixed into `app.config.Settings`."""


REGISTRY: dict[str, Platform] = {
    p.name: p for p in (meta.META, x.X, telegram.TELEGRAM, slack.SLACK, generic.GENERIC)
}


def get(name: str) -> Platform | None:
    """The platform called `name`, or None."""
    return REGISTRY.get(name)


def all() -> list[Platform]:  # noqa: A001 - the registry's own namespace
    """Every registered platform."""
    return list(REGISTRY.values())
