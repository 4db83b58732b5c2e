"""Reply templates: user-editable Jinja2, rendered in a `SandboxedEnvironment`.

Templates are chosen by category, language, channel kind (public comment vs private message) and
register (tu/vous, mirroring how the customer writes). Rendering never raises for a customer's
message: a broken template gives an empty draft and the error is reported to the admin preview.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from jinja2 import ChainableUndefined, TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment

from app.config import Settings
from app.drafts import details as customer_details

# The longest body a template or a saved answer may have (the API, the pages, the services).
BODY_LIMIT = 5000
PUBLIC_KINDS = {"comment", "mention", "review"}
# Longest reply each channel accepts (characters); the check runs on every draft and approval.
LENGTH_LIMITS = {
    "x": 280,
    "instagram": 2200,
    "facebook": 8000,
    "messenger": 2000,
    "whatsapp": 4096,
    "telegram": 4096,
    "slack": 4000,
}
DEFAULT_LIMIT = 10_000
TEMPLATE_LANGUAGES = ("fr", "en")

_TU = re.compile(r"\b(tu|t'|toi|ton|ta|tes|te)\b", re.IGNORECASE)
_VOUS = re.compile(r"\b(vous|votre|vos)\b", re.IGNORECASE)
_BLANKS = re.compile(r"[ \t]{2,}|\t")
_BLANK_LINES = re.compile(r"\n{3,}")
# Typography. A variable that renders empty leaves "Bonjour ,": no space before , or . in a
# reply. French puts one no-break space before ? ! : ; (it never wraps onto the next line): the
# template's own text gets it when compiled; the customer's words quoted in it keep theirs.
# Smileys (":)") and runs ("?!") are left as they are.
_BEFORE_COMMA = re.compile(r"[ \t\u00a0\u202f]+(?=[,.](?:\s|$))")
_BEFORE_NBSP = re.compile(r"[ \t]+(?=\u00a0)")
_FRENCH_MARK = re.compile(r"(?:(?<=[^\s?!])|^)[ \t\u202f]*([?!:;])(?=[\s?!»]|$)")
_TAGS = re.compile(r"(\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\})", re.DOTALL)


def channel_kind(kind: str) -> str:
    return "public" if kind in PUBLIC_KINDS else "private"


def length_limit(channel: str) -> int:
    return LENGTH_LIMITS.get(channel, DEFAULT_LIMIT)


def register_of(text: str, default: str) -> str:
    """'tu' when the customer writes with tu and never vous; else the brand's default."""
    if _TU.search(text) and not _VOUS.search(text):
        return "tu"
    return default


def register_for(text: str, language: str | None, default: str) -> str:
    """The register of a reply: the customer's tu or vous in French, "any" in other languages."""
    return register_of(text, default) if language == "fr" else "any"


def first_name(author_name: str | None) -> str:
    if not author_name:
        return ""
    word = author_name.strip().split()[0]
    return word if word[:1].isalpha() else ""


class _Env(SandboxedEnvironment):
    pass


_env = _Env(undefined=ChainableUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True)
_cache: dict[tuple[int, int, str, bool], Any] = {}


def variables_read(source: str) -> set[str]:
    """The names a template reads from its context (not those it sets itself); raises
    `TemplateSyntaxError` when it does not parse."""
    return meta.find_undeclared_variables(_env.parse(source)) - set(_env.globals)


def french_text(source: str) -> str:
    """The template's own text (not its tags) with a no-break space before ? ! : ;."""
    parts = _TAGS.split(source)
    parts[::2] = [_FRENCH_MARK.sub("\u00a0\\1", p) for p in parts[::2]]
    return "".join(parts)


def compile_template(source: str, *, french: bool = False) -> Any:
    return _env.from_string(french_text(source) if french else source)


def render(source: str, variables: dict[str, Any], *, cache_key: tuple[int, int] | None = None) -> str:
    """Render one template in the sandbox; whitespace and punctuation are tidied, errors
    propagate (TemplateError)."""
    french = variables.get("language") == "fr"
    if cache_key is not None:
        key = (cache_key[0], cache_key[1], source, french)
        tpl = _cache.get(key)
        if tpl is None:
            if len(_cache) > 1000:
                _cache.clear()
            tpl = _cache[key] = compile_template(source, french=french)
    else:
        tpl = compile_template(source, french=french)
    return tidy(tpl.render(**variables))


# what each tidying rule needs to find, checked first: a search of the text costs far less
# than running the expression over it, and most replies need none of them (drafting is on the
# intake path)
_SPACE_BEFORE = tuple(c + p for c in " \t\u00a0\u202f" for p in ",.")


def tidy(text: str) -> str:
    """Runs of blanks made one, no space before a comma or a full stop (a variable that renders
    empty leaves "Bonjour ,"), none before a no-break space, at most one blank line."""
    if "\t" in text or "  " in text:
        text = _BLANKS.sub(" ", text)
    if any(s in text for s in _SPACE_BEFORE):
        text = _BEFORE_COMMA.sub("", text)
    if "\u00a0" in text:
        text = _BEFORE_NBSP.sub("", text)
    if "\n\n\n" in text:
        text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def safe_render(source: str, variables: dict[str, Any], cache_key: tuple[int, int] | None = None) -> str:
    try:
        return render(source, variables, cache_key=cache_key)
    except (TemplateError, Exception):  # a sandbox violation or bad template: no draft, never a crash
        return ""


@dataclass(frozen=True, slots=True)
class TemplateRow:
    id: int
    version: int
    name: str
    category: str
    language: str
    channel_kind: str
    register: str
    body: str


def choose(
    templates: Iterable[TemplateRow], *, category: str | None, language: str | None, kind: str, register: str
) -> TemplateRow | None:
    """The most specific enabled template for this message, or None (then the draft is empty)."""
    if category is None:
        return None
    lang = language if language in TEMPLATE_LANGUAGES else "en"
    ck = channel_kind(kind)
    best: tuple[int, TemplateRow] | None = None
    for t in templates:
        if t.category != category or t.language != lang:
            continue
        if t.channel_kind not in (ck, "any") or t.register not in (register, "any"):
            continue
        score = (t.channel_kind == ck) * 2 + (t.register == register)
        if best is None or score > best[0] or (score == best[0] and t.id < best[1].id):
            best = (score, t)
    return best[1] if best else None


@dataclass(frozen=True, slots=True)
class Conversation:
    """What the template variables take from the conversation before the message
    (`app.review.conversation` gathers it)."""

    already_replied: bool = False  # the brand answered in it already (sent, on its way, or posted)
    earlier_customer_text: str = ""  # the customer's message before this one
    last_brand_reply: str = ""
    earlier_customer_texts: tuple[str, ...] = ()  # all the customer's earlier ones, newest first


NO_CONVERSATION = Conversation()


def _quoted(text: str, limit: int = 200) -> str:
    flat = text.strip().replace("\n", " ")
    return flat[:limit] + ("…" if len(flat) > limit else "")


def variables(
    *,
    author_name: str | None,
    text: str,
    brand: str,
    signature: str,
    category: str | None,
    channel: str,
    register: str,
    language: str | None,
    details: customer_details.Details = customer_details.NONE,
    conversation: Conversation = NO_CONVERSATION,
) -> dict[str, Any]:
    """Every variable a template reads; the customer's details ("order_number", ...) are ""
    when not given, for `{% if order_number %}`."""
    quoted = text.strip().replace("\n", " ")
    return {
        "first_name": first_name(author_name),
        "author_name": author_name or "",
        "brand": brand,
        "signature": signature,
        "customer_text": quoted[:200] + ("…" if len(quoted) > 200 else ""),
        "category": category or "",
        "channel": channel,
        "register": register,
        "language": language or "",
        **details.as_variables(),
        "already_replied": conversation.already_replied,
        "earlier_customer_text": _quoted(conversation.earlier_customer_text),
        "last_brand_reply": _quoted(conversation.last_brand_reply, 500),
    }


def variables_for(
    settings: Settings,
    *,
    author_name: str | None,
    text: str,
    category: str | None,
    channel: str,
    language: str | None,
    register: str | None = None,
    conversation: Conversation = NO_CONVERSATION,
) -> dict[str, Any]:
    """`variables` for one message in the brand's voice; its register is read from the text
    unless the caller has already read it (drafting does, to choose the template); what the
    conversation before it says, when the caller knows (`already_replied`, ...). The details the
    customer gave come from `text`, then from their earlier messages in the conversation."""
    return variables(
        author_name=author_name,
        text=text,
        brand=settings.brand_name,
        signature=settings.agent_signature,
        category=category,
        channel=channel,
        register=register
        if register is not None
        else register_for(text, language, settings.default_register),
        language=language,
        details=customer_details.gather([text, *conversation.earlier_customer_texts]),
        conversation=conversation,
    )


class StoredMessage(Protocol):
    """What `message_variables` reads of a stored message (`app.models.Message`)."""

    text: str
    language: str | None
    category: str | None
    channel: str
    author_name: str | None


def message_variables(
    settings: Settings, message: StoredMessage, conversation: Conversation = NO_CONVERSATION
) -> dict[str, Any]:
    """`variables_for` a stored message: the editor's template and answer options are rendered
    with what its draft was."""
    return variables_for(
        settings,
        author_name=message.author_name,
        text=message.text,
        category=message.category,
        channel=message.channel,
        language=message.language,
        conversation=conversation,
    )


def render_reply(source: str, variables: dict[str, Any], *, channel: str, cache_key: tuple[int, int]) -> str:
    """A template's reply for a message: rendered safely, cut to the channel's length."""
    return safe_render(source, variables, cache_key=cache_key)[: length_limit(channel)]
