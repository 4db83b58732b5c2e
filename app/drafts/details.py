"""What the customer already told us: order numbers, e-mail addresses, phone numbers, amounts and
dates read from a message and the earlier messages of its conversation, so that a reply never asks
for them again.

Precision over recall: a wrong order number in a reply is worse than a question. An order number
needs a cue ("commande", "n°", "#", "order", "dossier"...) or the shape of a retailer's reference
(6+ digits and capital letters, "1710302151R6ADF"); prices, dates, years and phone numbers are
never taken for one. Values are kept as the customer wrote them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache

NAMES = ("order_number", "email", "phone", "amount", "date")


@dataclass(frozen=True, slots=True)
class Details:
    order_number: str = ""
    email: str = ""
    phone: str = ""
    amount: str = ""
    date: str = ""

    def as_variables(self) -> dict[str, str]:
        """The template variables, "" for what the customer did not say."""
        return {n: getattr(self, n) for n in NAMES}

    def merged(self, other: Details) -> Details:
        """These details, completed with `other`'s where these have none."""
        if other == NONE:
            return self
        if self == NONE:
            return other
        return replace(self, **{n: getattr(other, n) for n in NAMES if not getattr(self, n)})


NONE = Details()

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}(?![\w-])", re.IGNORECASE)
# one separator throughout ("06 12 34 56 78", "06.12.34.56.78"): "01.24-17.01.24" is two dates
_PHONE_FR = re.compile(
    r"(?<![\w+])(?:(?:\+|00)33[ .\-\u00a0]?(?:\(0\)[ .\-\u00a0]?)?[1-9]|0[1-9])"
    r"(?P<sep>[ .\-\u00a0]?)\d{2}(?:(?P=sep)\d{2}){3}(?![\w])"
)
_PHONE_INTL = re.compile(r"(?<![\w+])\+(?!33)[1-9]\d{0,2}(?:[ .\-\u00a0]?\(?\d{1,4}\)?){2,6}(?![\w])")

_NUMBER = r"\d{1,3}(?:[ \u00a0\u202f.]\d{3})+(?:,\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_CURRENCY_AFTER = r"(?:€|eur(?:os?)?\b|\$|usd\b|dollars?\b)"
_AMOUNT = re.compile(
    rf"(?<![\w.,])(?:(?:€|\$|eur\b|usd\b)[ \u00a0]?(?:{_NUMBER})"
    rf"|(?:{_NUMBER})[ \u00a0\u202f]?{_CURRENCY_AFTER})",
    re.IGNORECASE,
)

_MONTHS_FR = (
    r"janv(?:ier)?|f[ée]vr?(?:ier)?|mars|avr(?:il)?|mai|juin|juil(?:let)?|ao[ûu]t|sept(?:embre)?|"
    r"oct(?:obre)?|nov(?:embre)?|d[ée]c(?:embre)?"
)
_MONTHS_EN = (
    r"january|february|march|april|may|june|july|august|september|october|november|december|"
    r"jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec"
)
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MONTH = r"(?:0?[1-9]|1[0-2])"
_DATE = re.compile(
    r"(?<![\w/.-])(?:"
    rf"(?:{_DAY}[/.-]{_MONTH}[/.-](?:\d{{4}}|\d{{2}}))"  # 21/04/2022, 21.04.22
    rf"|(?:\d{{4}}-{_MONTH}-{_DAY})"  # 2022-04-21
    r"|(?:(?:0[1-9]|[12]\d|3[01])/(?:0[1-9]|1[0-2]))"  # 21/04 (two digits each: not 1/2)
    rf"|(?:{_DAY}(?:er)?\.?\s+(?:{_MONTHS_FR})\.?(?:\s+\d{{4}})?)"  # 3 mars 2022, 1er avril
    rf"|(?:(?:{_MONTHS_EN})\.?\s+{_DAY}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?)"  # March 3rd, 2022
    rf"|(?:{_DAY}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTHS_EN})\.?(?:\s+\d{{4}})?)"  # 3rd of March
    r")(?![\w/])",
    re.IGNORECASE,
)

# An order (or case) number: after a cue, a reference with at least 4 digits.
_CUE = (
    r"(?:commandes?|command[ée]e?s?|cdes?|cmde?|order|dossiers?|r[ée]f[ée]rences?|r[ée]f|ticket|"
    r"colis|suivi|tracking|case|facture|invoice|contrat|bon)"
)
_MARK = r"(?:n\s?°|nº|n\s?o\.|num[ée]ro|num\.?|number|no\.?|#)"
_REF = r"((?-i:[0-9A-Z][0-9A-Z-]*[0-9A-Z]|[0-9]{4,}))"  # capitals: a glued word is cut off
_ORDER_CUED = re.compile(
    rf"(?<![\w])(?:{_CUE}(?:\s+\S+){{0,3}}?\s*{_MARK}|{_CUE}\s*(?:{_MARK})?)"
    r"(?:\s*(?:[:=]|\b(?:is|est|was|c'est|le)\b))*\s*\(?"
    rf"{_REF}",
    re.IGNORECASE,
)
_ORDER_MARKED = re.compile(rf"(?:(?<![@\w])(?:n\s?°|nº)|(?<![\w&])#)\s*{_REF}", re.IGNORECASE)
# A retailer's reference needs no cue: 8+ digits and 2+ capitals in one word ("1710302151R6ADF");
# product models ("WW90K4437YW", "LC32HG3342E") have fewer digits.
_ORDER_SHAPED = re.compile(r"(?<![@\w-])(?=(?:[A-Z]*\d){8})(?=(?:\d*[A-Z]){2})[0-9A-Z]{8,24}")
_NOT_ORDER_BEFORE = re.compile(r"(?:ordonnance|loi|article|d[ée]cret|art\.)\s*$", re.IGNORECASE)
_UNIT_AFTER = re.compile(
    r"[ \u00a0]?(?:€|\$|%|(?:eur|euros?|dollars?|ans?|km|kg|g|ml|cl|l|go|mo|h|mn|min)\b)", re.IGNORECASE
)
_YEAR = re.compile(r"(?:19|20)\d\d")


# What each kind needs, looked for before its regular expression runs (most messages lack it).
_DIGIT_OR_AT = re.compile(r"[\d@]")
_DIGIT = re.compile(r"\d")
_ORDER_PIECES = ("comm", "cde", "cmd", "order", "dossier", "réf", "ref", "factur", "invoice", "ticket",
                 "colis", "suivi", "track", "case", "contrat", "bon", "n°", "nº", "no", "num",
                 "#")  # fmt: skip
_AMOUNT_PIECES = ("€", "$", "eur", "usd", "dollar")


def _digits(s: str) -> int:
    return sum(c.isdigit() for c in s)


def _clean_reference(text: str, start: int, ref: str, *, digits: int = 4) -> str | None:
    """The reference found at `start`, cut where a glued word begins ("1908221550QDJPXMoi"), or
    None when it is no order number (a price, a date, a year, a phone number, a law)."""
    end = start + len(ref)
    if end < len(text) and text[end].islower() and ref[-1:].isupper():
        ref, end = ref[:-1], end - 1  # the capital starts the next word
    elif end < len(text) and text[end].isalpha() and not ref.isdigit():
        return None  # part of a longer word: a product code, not a reference we can trust
    ref = ref.strip("-")
    if _digits(ref) < digits or len(ref) > 30:
        return None
    after = text[end : end + 8]
    if _UNIT_AFTER.match(after):
        return None
    if re.match(r"[/.,]\d", after) or re.match(r"[ \u00a0.]\d{2}[ \u00a0.]\d{2}", after):
        return None  # a date (21/04/2022), a decimal, or the rest of a phone number
    if _DATE.fullmatch(ref):
        return None
    if ref.isdigit() and (_YEAR.fullmatch(ref) or re.fullmatch(r"0[1-9]\d{8}", ref)):
        return None
    if _NOT_ORDER_BEFORE.search(text[max(0, start - 20) : start].rstrip(" n°º")):
        return None
    return ref


def _order_number(text: str) -> str:
    # a bare "n° 8305" is as often a model as an order: five digits at least without a cue
    for pattern, digits in ((_ORDER_CUED, 4), (_ORDER_MARKED, 5)):
        for m in pattern.finditer(text):
            ref = _clean_reference(text, m.start(1), m.group(1), digits=digits)
            if ref is not None:
                return ref
    for m in _ORDER_SHAPED.finditer(text):
        ref = _clean_reference(text, m.start(), m.group(0))
        if ref is not None:
            return ref
    return ""


def _first(pattern: re.Pattern[str], text: str) -> str:
    m = pattern.search(text)
    return re.sub(r"\s+", " ", m.group(0)).strip() if m else ""


def _phone(text: str) -> str:
    for pattern in (_PHONE_FR, _PHONE_INTL):
        for m in pattern.finditer(text):
            if 8 <= _digits(m.group(0)) <= 15:
                return m.group(0).strip()
    return ""


@lru_cache(maxsize=4096)  # intake reads a message's details twice: to draft, to mark it
def extract(text: str) -> Details:
    """The details one message gives (the first of each kind)."""
    if not text or _DIGIT_OR_AT.search(text) is None:
        return NONE  # most messages: no digit, no address
    email = ""
    if "@" in text:
        email = _first(_EMAIL, text)
        text = _EMAIL.sub(" ", text)  # "jean.dupont75@..." holds no order number
    digits = len(_DIGIT.findall(text))
    if digits == 0:
        return Details(email=email)
    low = text.lower()
    return Details(
        order_number=_order_number(text)
        if digits >= 8 or (digits >= 4 and any(c in low for c in _ORDER_PIECES))
        else "",
        email=email,
        phone=_phone(text) if digits >= 8 else "",
        amount=_first(_AMOUNT, text) if any(c in low for c in _AMOUNT_PIECES) else "",
        date=_first(_DATE, text),
    )


def gather(texts: Iterable[str]) -> Details:
    """The details of a conversation, the first text first (the message being answered, then the
    earlier ones, newest first): each kind from the first text that gives it."""
    found = NONE
    for text in texts:
        found = found.merged(extract(text))
        if all(getattr(found, n) for n in NAMES):
            break
    return found
