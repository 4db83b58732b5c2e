"""The interface's language and local time, chosen per user.

    language:  the user's setting (users.language) → the browser's Accept-Language → RELAIS_LANGUAGE (fr)
    time zone: the user's setting (users.timezone) → RELAIS_TIMEZONE (Europe/Paris)

Messages are English msgids in standard gettext catalogs, `app/locale/<language>/LC_MESSAGES/
messages.po`, extracted with `pybabel extract -F pyproject.toml` (see the README). The .po files
are read as they are, once per process (a few milliseconds): no compiled .mo to build at install
or to keep in git, so a catalog can never be older than its .po. A fuzzy or empty entry counts as
missing (the msgid shows), which the catalog check in tests/test_i18n.py refuses.

Pages get `_()` / `{% trans %}` (jinja2.ext.i18n, new style: the variables are escaped, autoescape
stays on), dates in the viewer's zone and locale, and the labels of the stored codes (categories,
statuses, ...). Python code translates with `t(language, msgid, **variables)`.
"""

from __future__ import annotations

import datetime as dt
import functools
import gettext as _gettext_module
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from babel import Locale, UnknownLocaleError
from babel.dates import format_skeleton
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations
from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from starlette.requests import Request

if TYPE_CHECKING:
    from app.config import Settings

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
DEFAULT_TIMEZONE = "Europe/Paris"


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


# -- catalogs --------------------------------------------------------------------------------------


@functools.cache
def translations(language: str) -> _gettext_module.NullTranslations:
    """The catalog of `language`, read from its .po (fuzzy entries left out); English msgids else."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if language not in LANGUAGES or not path.is_file():
        return _gettext_module.NullTranslations()
    with path.open("rb") as f:
        catalog = read_po(f, locale=language)
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer)


def t(language: str, message: str, **variables: Any) -> str:
    """`message` in `language`, with `%(name)s` variables filled in."""
    text = translations(language).gettext(message)
    return text % variables if variables else text


def tn(language: str, singular: str, plural: str, n: int, **variables: Any) -> str:
    """The singular or plural form for `n` in `language`; `%(num)s` is `n`."""
    text = translations(language).ngettext(singular, plural, n)
    return text % {"num": n, **variables}


@dataclass(frozen=True, slots=True)
class Reason:
    """A message for a person, kept untranslated until it is shown: a service says why it refused
    (`Reason(N_("The name needs %(min)s to %(max)s characters."), {"min": 1, "max": 100})`), the API
    answers it in English and a page in the viewer's language."""

    msgid: str
    variables: Mapping[str, Any] = field(default_factory=dict)

    def text(self, language: str) -> str:
        """The message in `language`; a variable that is itself a Reason is translated too."""
        variables = {k: v.text(language) if isinstance(v, Reason) else v for k, v in self.variables.items()}
        return t(language, self.msgid, **variables)

    def __str__(self) -> str:
        return self.text("en")


# -- choosing the language and the zone ------------------------------------------------------------


def negotiate(accept_language: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """The first language of an Accept-Language header (by q-value, then order) that Relais speaks."""
    best: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip().replace(" ", "")
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            best.append((-quality, index, primary))
    return min(best)[2] if best else (default if default in LANGUAGES else DEFAULT_LANGUAGE)


def zone(name: str | None, default: str = DEFAULT_TIMEZONE) -> zoneinfo.ZoneInfo:
    """The IANA zone `name`, else `default`, else UTC."""
    for candidate in (name, default):
        if candidate:
            try:
                return zoneinfo.ZoneInfo(candidate)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                continue
    return zoneinfo.ZoneInfo("UTC")


def valid_timezone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


class Preferences(Protocol):
    """What a page's viewer chose: a language and a time zone, None for the defaults."""

    @property
    def language(self) -> str | None: ...

    @property
    def timezone(self) -> str | None: ...


def set_viewer(request: Request, viewer: Preferences) -> None:
    """Remember the logged-in viewer of this request: their language and zone win."""
    request.state.viewer = viewer
    request.state.language = None


def _settings(request: Request) -> Settings:
    """The app's settings, from `app.deps`, imported when called: it loads the whole app (the
    classifier included), and the CLI reads these catalogs alone."""
    from app import deps

    return deps.get_settings(request)


def language_of(request: Request) -> str:
    """The language of this request's pages and messages."""
    chosen: str | None = getattr(request.state, "language", None)
    if chosen:
        return chosen
    viewer = getattr(request.state, "viewer", None)
    own = getattr(viewer, "language", None)
    if own in LANGUAGES:
        chosen = str(own)
    else:
        chosen = negotiate(request.headers.get("accept-language"), _settings(request).language)
    request.state.language = chosen
    return chosen


def zone_of(request: Request) -> zoneinfo.ZoneInfo:
    """The time zone this request's dates are shown in."""
    viewer = getattr(request.state, "viewer", None)
    return zone(getattr(viewer, "timezone", None), _settings(request).timezone)


# -- words for stored codes ------------------------------------------------------------------------

LABELS: dict[str, dict[str, str]] = {
    "category": {
        "complaint": N_("Complaint"),
        "question": N_("Question"),
        "suggestion": N_("Suggestion"),
        "other": N_("Other"),
        "unsorted": N_("To sort"),
    },
    "status": {
        "pending": N_("pending"),
        "approved": N_("approved"),
        "rejected": N_("rejected"),
        "sent": N_("sent"),
        "failed": N_("failed"),
        "withdrawn": N_("withdrawn"),
        "closed": N_("closed"),
    },
    "moderation": {"hide": N_("hiding"), "unhide": N_("showing again"), "delete": N_("deleting")},
    "close_reason": {
        "no_reply": N_("done, no reply needed"),
        "spam": N_("spam"),
        "deleted": N_("comment deleted"),
    },
    "outbox": {
        "queued": N_("queued"),
        "sending": N_("sending"),
        "sent": N_("sent"),
        "failed": N_("failed"),
        "dead": N_("dead letter"),
        "retry": N_("to retry"),
        "unknown": N_("outcome unknown"),
    },
    "token": {"ok": N_("valid"), "expired": N_("expired"), "unknown": N_("not checked yet")},
    "kind": {
        "comment": N_("comment"),
        "dm": N_("private message"),
        "mention": N_("mention"),
        "review": N_("review"),
        "email": N_("e-mail"),
        "message": N_("message"),
    },
    "confidence": {
        "sure": N_("sure"),
        "fairly sure": N_("fairly sure"),
        "unsure": N_("unsure"),
        "no prediction": N_("no prediction"),
    },
    "where": {"any": N_("anywhere"), "public": N_("in public"), "private": N_("in private")},
    "register": {"any": N_("tu or vous"), "vous": N_("vous (formal)"), "tu": N_("tu (familiar)")},
    "action": {
        "proposed": N_("draft proposed"),
        "edited": N_("edited"),
        "approved": N_("approved"),
        "rejected": N_("rejected"),
        "claimed": N_("taken"),
        "released": N_("given back"),
        "relabelled": N_("category changed"),
        "withdrawn": N_("withdrawn"),
        "completed": N_("completed with the name, language or details known"),
        "sent": N_("sent"),
        "failed": N_("send failed"),
        "resent": N_("sent again"),
        "closed": N_("closed"),
        "reopened": N_("reopened"),
        "hide": N_("hiding asked"),
        "hidden": N_("comment hidden"),
        "hide_failed": N_("hiding failed"),
        "unhide": N_("showing again asked"),
        "unhidden": N_("comment shown again"),
        "unhide_failed": N_("showing again failed"),
        "delete": N_("deletion asked"),
        "deleted": N_("comment deleted"),
        "delete_failed": N_("deletion failed"),
        "assigned": N_("assigned"),
        "note": N_("note written"),
    },
    "series": {"median": N_("median"), "p90": N_("90th percentile")},
    # where a draft's suggestion came from (Draft.source_kind), on the queue's cards
    "source": {
        "template": N_("from a template"),
        "answer": N_("from the knowledge base"),
        "past_reply": N_("adapted from a past reply"),
    },
}
# Proper names: the same in every language.
PLATFORM_NAMES = {
    "meta": "Meta",
    "facebook": "Facebook",
    "messenger": "Messenger",
    "instagram": "Instagram",
    "whatsapp": "WhatsApp",
    "x": "X",
    "telegram": "Telegram",
    "slack": "Slack",
    "generic": "Generic",
}


def label_reason(vocabulary: str, code: str) -> Reason | str:
    """The word for a stored code as a Reason's variable: translated where the Reason is shown."""
    message = LABELS.get(vocabulary, {}).get(code)
    return Reason(message) if message else code


def label(language: str, vocabulary: str, code: str | None) -> str:
    """The word for a stored code (a category, a status, ...) in `language`; the code if unknown."""
    if code is None:
        return ""
    if vocabulary == "platform":
        return PLATFORM_NAMES.get(code, code)
    message = LABELS.get(vocabulary, {}).get(code)
    return translations(language).gettext(message) if message else code


def language_name(language: str, code: str | None) -> str:
    """The name of a customer's language in the interface's language ("anglais", "French")."""
    if not code:
        return ""
    try:
        return Locale.parse(code.replace("-", "_")).get_display_name(language) or code
    except (UnknownLocaleError, ValueError, TypeError):
        return code


# -- numbers, dates and durations ------------------------------------------------------------------


def number(language: str, value: float | int | None) -> str:
    return "–" if value is None else format_decimal(value, locale=language)


def percent(language: str, share: float | None) -> str:
    """A share (0..1) as a whole percentage in the locale ("83 %", "83%")."""
    return "–" if share is None else format_percent(share, locale=language)


def local_time(
    language: str, tz: dt.tzinfo, when: dt.datetime | None, *, now: dt.datetime | None = None
) -> str:
    """A timestamp in the viewer's zone: "2 déc. 15:50", with the year when it is not this year's."""
    if when is None:
        return ""
    if when.tzinfo is None:  # SQLite hands back naive UTC
        when = when.replace(tzinfo=dt.UTC)
    local = when.astimezone(tz)
    current = (now or dt.datetime.now(dt.UTC)).astimezone(tz)
    day = format_skeleton("MMMd" if local.year == current.year else "yMMMd", local, locale=language)
    return f"{day} {format_skeleton('Hm', local, locale=language)}"


def short_day(language: str, iso_day: str) -> str:
    """A chart's day label ("02/12", "12/2") from an ISO date."""
    try:
        day = dt.date.fromisoformat(iso_day)
    except ValueError:
        return iso_day
    return format_skeleton("Md", day, locale=language)


def waited(language: str, seconds: float) -> str:
    """A waiting time in plain words: "< 1 min", "42 min", "3 h 12 min", "2 d 4 h" ("2 j 4 h")."""
    minutes = int(max(0.0, seconds) // 60)
    if minutes < 1:
        return t(language, "< 1 min")
    if minutes < 60:
        return t(language, "%(m)s min", m=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        if minutes:
            return t(language, "%(h)s h %(m)02d min", h=hours, m=minutes)
        return t(language, "%(h)s h", h=hours)
    days, hours = divmod(hours, 24)
    if hours:
        return t(language, "%(d)s d %(h)s h", d=days, h=hours)
    return t(language, "%(d)s d", d=days)


# -- the page templates ----------------------------------------------------------------------------


def _context_language(ctx: Context) -> str:
    request = ctx.get("request")
    if isinstance(request, Request):
        return language_of(request)
    chosen = ctx.get("language")
    return chosen if isinstance(chosen, str) and chosen in LANGUAGES else DEFAULT_LANGUAGE


def _context_zone(ctx: Context) -> dt.tzinfo:
    request = ctx.get("request")
    return zone_of(request) if isinstance(request, Request) else zone(None)


@pass_context
def _t(ctx: Context, message: str) -> str:
    return translations(_context_language(ctx)).gettext(message)


@pass_context
def _tn(ctx: Context, singular: str, plural: str, n: int) -> str:
    return translations(_context_language(ctx)).ngettext(singular, plural, n)


@pass_context
def _tp(ctx: Context, context: str, message: str) -> str:
    return translations(_context_language(ctx)).pgettext(context, message)


@pass_context
def _tnp(ctx: Context, context: str, singular: str, plural: str, n: int) -> str:
    return translations(_context_language(ctx)).npgettext(context, singular, plural, n)


@pass_context
def _current_language(ctx: Context) -> str:
    return _context_language(ctx)


@pass_context
def _label(ctx: Context, code: str | None, vocabulary: str) -> str:
    return label(_context_language(ctx), vocabulary, code)


@pass_context
def _language_name(ctx: Context, code: str | None) -> str:
    return language_name(_context_language(ctx), code)


@pass_context
def _local_time(ctx: Context, when: dt.datetime | None) -> str:
    return local_time(_context_language(ctx), _context_zone(ctx), when)


@pass_context
def _local_iso(ctx: Context, when: dt.datetime | None) -> str:
    if when is None:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(_context_zone(ctx)).isoformat(timespec="minutes")


@pass_context
def _zone_name(ctx: Context) -> str:
    return str(_context_zone(ctx))


@pass_context
def _waited(ctx: Context, seconds: float) -> str:
    return waited(_context_language(ctx), seconds)


@pass_context
def _number(ctx: Context, value: float | int | None) -> str:
    return number(_context_language(ctx), value)


@pass_context
def _percent(ctx: Context, share: float | None) -> str:
    return percent(_context_language(ctx), share)


@pass_context
def _short_day(ctx: Context, iso_day: str) -> str:
    return short_day(_context_language(ctx), iso_day)


@pass_context
def _reason(ctx: Context, message: Reason | str) -> str:
    """A `Reason` in the page's language; a plain string as it is."""
    return message.text(_context_language(ctx)) if isinstance(message, Reason) else str(message)


def install(env: Environment) -> None:
    """Give a page environment the catalogs, the labels and the locale's dates and numbers."""
    if "jinja2.ext.InternationalizationExtension" not in env.extensions:
        env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]  # added by the i18n extension
        gettext=_t, ngettext=_tn, newstyle=True, pgettext=_tp, npgettext=_tnp
    )
    filters: Mapping[str, Any] = {
        "label": _label,
        "language_name": _language_name,
        "local_time": _local_time,
        "local_iso": _local_iso,
        "waited": _waited,
        "number": _number,
        "percent": _percent,
        "short_day": _short_day,
        "reason": _reason,
    }
    env.filters.update(filters)
    env.globals.update(current_language=_current_language, zone_name=_zone_name, LANGUAGES=LANGUAGES)
