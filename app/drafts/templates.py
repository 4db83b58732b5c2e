"""Reply templates: user-editable Jinja2, rendered in a `SandboxedEnvironment`.

Templates are chosen by category, language, channel kind (public comment vs private message) and
register (tu/vous, mirroring how the customer writes). Rendering never raises for a customer's
message: a broken template gives an empty draft and the error is reported to the admin preview.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jinja2 import ChainableUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

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
_cache: dict[tuple[int, int, str], Any] = {}


def compile_template(source: str) -> Any:
    return _env.from_string(source)


def render(source: str, variables: dict[str, Any], *, cache_key: tuple[int, int] | None = None) -> str:
    """Render one template in the sandbox; whitespace is tidied, errors propagate (TemplateError)."""
    if cache_key is not None:
        key = (cache_key[0], cache_key[1], source)
        tpl = _cache.get(key)
        if tpl is None:
            if len(_cache) > 1000:
                _cache.clear()
            tpl = _cache[key] = compile_template(source)
    else:
        tpl = compile_template(source)
    text = tpl.render(**variables)
    text = _BLANKS.sub(" ", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


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
) -> dict[str, Any]:
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
    }


# name, category, language, channel kind, register, body
DEFAULT_TEMPLATES: list[tuple[str, str, str, str, str, str]] = [
    (
        "complaint-fr-public-vous",
        "complaint",
        "fr",
        "public",
        "vous",
        "Bonjour {{ first_name }}, nous sommes sincèrement désolés pour ce désagrément. Pouvez-vous nous "
        "écrire en message privé avec votre numéro de commande ou de dossier ? Nous regardons cela tout "
        "de suite. {{ signature }}",
    ),
    (
        "complaint-fr-public-tu",
        "complaint",
        "fr",
        "public",
        "tu",
        "Salut {{ first_name }}, désolés pour ce souci ! Écris-nous en privé avec ton numéro de commande "
        "ou de dossier, on regarde ça tout de suite. {{ signature }}",
    ),
    (
        "complaint-fr-private-vous",
        "complaint",
        "fr",
        "private",
        "vous",
        "Bonjour {{ first_name }}, merci de nous avoir écrit et toutes nos excuses pour ce désagrément. "
        "Pouvez-vous nous donner votre numéro de commande ou de dossier ? Nous nous en occupons en "
        "priorité. {{ signature }}",
    ),
    (
        "complaint-fr-private-tu",
        "complaint",
        "fr",
        "private",
        "tu",
        "Salut {{ first_name }}, merci pour ton message et désolés pour ce souci. Tu peux nous donner ton "
        "numéro de commande ou de dossier ? On s'en occupe en priorité. {{ signature }}",
    ),
    (
        "question-fr-public-vous",
        "question",
        "fr",
        "public",
        "vous",
        "Bonjour {{ first_name }}, merci pour votre question ! Nous vous répondons en message privé avec "
        "tous les détails. {{ signature }}",
    ),
    (
        "question-fr-public-tu",
        "question",
        "fr",
        "public",
        "tu",
        "Salut {{ first_name }}, merci pour ta question ! On te répond en message privé avec tous les "
        "détails. {{ signature }}",
    ),
    (
        "question-fr-private-vous",
        "question",
        "fr",
        "private",
        "vous",
        "Bonjour {{ first_name }}, merci pour votre message. {{ signature }}",
    ),
    (
        "question-fr-private-tu",
        "question",
        "fr",
        "private",
        "tu",
        "Salut {{ first_name }}, merci pour ton message. {{ signature }}",
    ),
    (
        "suggestion-fr-any-vous",
        "suggestion",
        "fr",
        "any",
        "vous",
        "Merci {{ first_name }} pour cette idée ! Nous la transmettons à l'équipe concernée. {{ signature }}",
    ),
    (
        "suggestion-fr-any-tu",
        "suggestion",
        "fr",
        "any",
        "tu",
        "Merci {{ first_name }} pour l'idée ! On la transmet à l'équipe. {{ signature }}",
    ),
    ("other-fr-any-vous", "other", "fr", "any", "vous", "Merci beaucoup {{ first_name }} ! {{ signature }}"),
    ("other-fr-any-tu", "other", "fr", "any", "tu", "Merci {{ first_name }} ! {{ signature }}"),
    (
        "complaint-en-public",
        "complaint",
        "en",
        "public",
        "any",
        "Hi {{ first_name }}, we're really sorry about this. Could you send us a private message with "
        "your order or case number? We'll look into it right away. {{ signature }}",
    ),
    (
        "complaint-en-private",
        "complaint",
        "en",
        "private",
        "any",
        "Hi {{ first_name }}, thanks for reaching out, and we're sorry for the trouble. Could you share "
        "your order or case number? We'll make this a priority. {{ signature }}",
    ),
    (
        "question-en-public",
        "question",
        "en",
        "public",
        "any",
        "Hi {{ first_name }}, thanks for your question! We'll reply in a private message with all the "
        "details. {{ signature }}",
    ),
    (
        "question-en-private",
        "question",
        "en",
        "private",
        "any",
        "Hi {{ first_name }}, thanks for your message. {{ signature }}",
    ),
    (
        "suggestion-en-any",
        "suggestion",
        "en",
        "any",
        "any",
        "Thanks {{ first_name }} for the idea! We're passing it on to the team. {{ signature }}",
    ),
    ("other-en-any", "other", "en", "any", "any", "Thank you {{ first_name }}! {{ signature }}"),
]
