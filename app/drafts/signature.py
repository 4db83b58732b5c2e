"""A past reply in the team's voice of today: this customer's greeting, the brand's current signer.

A team's reply reads: a greeting ("Bonjour Jules,"), the sentences to the point, a sign-off made
of a closing formula and the signer ("Bien à vous,\\nLéa", "Cordialement, Léa, service client
Cdiscount"; exports that lost their line breaks glue them: "MerciLéa"). A reused reply keeps its
point and its closing formula; its greeting names this customer, or nobody without a stray comma;
its signer becomes the one the team signs with now: the brand's configured signature when there is
one (`RELAIS_AGENT_SIGNATURE`), else the most frequent signer of the team's recent replies.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

NAME = "\x00"  # where the earlier customer's first name stood in a masked reply
RECENT = 200  # the team's latest replies the current signer is read from

_GREETING = re.compile(r"^(Bonjour|Bonsoir|Salut|Hello|Hi)\s*([,!])", re.IGNORECASE)
_CLOSINGS = (
    "cordialement|bien à vous|bien a vous|à bientôt|a bientôt|a bientot|à très vite|a très vite|"
    "à très bientôt|a très bientôt|merci|bonne journée|belle journée|bonne soirée|bonne fin de journée|"
    "à vous|best|regards|kind regards|thanks|thank you|cheers|take care"
)
_NAME_WORD = r"[A-ZÀ-Ý][a-zà-ÿ'’]+(?:-[A-ZÀ-Ý][a-zà-ÿ'’]+)?"
# A signer: one or two capitalised words, optionally their team ("de l'équipe X", ", service client X").
_SIGNER = (
    rf"(?P<signer>(?!(?i:{_CLOSINGS})\b){_NAME_WORD}(?: {_NAME_WORD})?"
    r"(?:(?:,\s*|\s+)(?:de l['’]équipe|du service|service client|l['’]équipe|team|from)\b"
    r"[^.!?\n;:()]{0,50})?)"
)
# ... after a closing formula and a space; after a line break, a comma, the end of a sentence or
# an emoji; or glued to a lower-case letter (a line break lost).
_SIGN_OFF = re.compile(
    rf"(?:(?i:{_CLOSINGS})[ \t]+|(?<=[\n,.!?:)\u2728\u263a\U0001f300-\U0001faff])\s*|(?<=[a-zà-ÿ]))"
    rf"{_SIGNER}\s*$"
)


def mask(reply: str, first_name: str) -> str:
    """The reply with its customer's first name (`first_name`, may be "") replaced by a marker."""
    if not first_name:
        return reply
    return re.sub(r"\b" + re.escape(first_name) + r"\b", NAME, reply, flags=re.IGNORECASE)


def greet(masked: str, first_name: str) -> str:
    """The masked reply greeting this customer (no name: "Bonjour Jules, oui" -> "Bonjour, oui";
    a reply that greeted nobody by name, "Bonjour, ...", greets this customer by theirs)."""
    if not first_name:
        return re.sub(r"[ \t]*" + NAME, "", masked).strip()
    if first_name.isupper() or first_name.islower():
        first_name = first_name.capitalize()
    if NAME not in masked:
        return _GREETING.sub(lambda m: f"{m.group(1)} {first_name}{m.group(2)}", masked, count=1)
    return masked.replace(NAME, first_name)


def signer(reply: str) -> str | None:
    """Who signed the reply ("Léa", "Léa, service client Cdiscount"), None when nobody did."""
    found = _SIGN_OFF.search(reply.rstrip())
    return found.group("signer") if found else None


def current(replies: Iterable[str], configured: str = "") -> str | None:
    """The signer the team uses now: the configured signature, else the most frequent signer of
    these (the latest) replies, when at least two of them agree."""
    if configured.strip():
        return configured.strip()
    counts = Counter(s for s in map(signer, replies) if s is not None)
    if not counts:
        return None
    name, count = counts.most_common(1)[0]
    return name if count >= 2 else None


def resign(reply: str, signer_now: str | None, *, configured: bool = False) -> str:
    """The reply signed by `signer_now` instead of its own signer; a reply that nobody signed gets
    the brand's signature only when it is configured (the team's own replies sometimes end unsigned)."""
    if not signer_now:
        return reply
    text = reply.rstrip()
    found = _SIGN_OFF.search(text)
    if found is None:
        return f"{text}\n{signer_now}" if configured else reply
    if found.group("signer") == signer_now:
        return reply
    return text[: found.start("signer")] + signer_now


def adapt(masked: str, *, first_name: str, signer_now: str | None, configured: bool = False) -> str:
    """A masked past reply for this customer: their greeting, the current signer."""
    return resign(greet(masked, first_name), signer_now, configured=configured)
