"""Text normalisation, the first step of the pipeline.

It makes "probleme", "problème" and "PROBLÈME" one token so that French typed without
accents (common on phones) matches; it also folds URLs, @mentions and numbers onto placeholders so
that the model learns "there is an amount" rather than "42.17".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from sklearn.base import BaseEstimator, TransformerMixin

_URL = re.compile(r"(?:https?://|www\.)\S+")
_MENTION = re.compile(r"@\w+")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_REPEAT = re.compile(r"(.)\1{2,}")
_SPACE = re.compile(r" {2,}|[^\S\n ][^\S\n]*")
_COMBINING = re.compile(r"[\u0300-\u036f]+")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x1c\x1d\x1e\x85]")


def _fold_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {c: None for c in range(0x0300, 0x0370)}  # combining accents
    for code in range(0x00C0, 0x0250):
        decomposed = unicodedata.normalize("NFD", chr(code))
        base = "".join(ch for ch in decomposed if not 0x0300 <= ord(ch) < 0x0370)
        if base != chr(code) and base:
            table[code] = base
    table.update({ord("œ"): "oe", ord("Œ"): "oe", ord("æ"): "ae", ord("Æ"): "ae", ord("ß"): "ss"})
    table.update({ord(k): "'" for k in "\u2019\u2018\u02bc`\u00b4"})
    return table


# Latin letters with diacritics -> base letters; other scripts and emoji are left alone.
_FOLD = _fold_table()
_REPLACEMENTS = (
    ("œ", "oe"),
    ("æ", "ae"),
    ("ß", "ss"),
    ("\u2019", "'"),
    ("\u2018", "'"),
    ("\u02bc", "'"),
    ("`", "'"),
    ("\u00b4", "'"),
)


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFC", _COMBINING.sub("", unicodedata.normalize("NFD", text)))
    for source, target in _REPLACEMENTS:
        text = text.replace(source, target)
    return text


def strip_accents(text: str) -> str:
    """Remove Latin diacritics only; other scripts and emoji stay as they are."""
    return text.translate(_FOLD)


def one_line_each(texts: Iterable[object]) -> list[str]:
    """Texts with line breaks turned into spaces (non-strings become ""), so that a batch can be
    joined with "\\n" and split back."""
    return [(t if t.isprintable() else _LINE_BREAKS.sub(" ", t)) if isinstance(t, str) else "" for t in texts]


# Appended to a shouted message by `normalize_batch(..., mark_shouting=True)`: lowercasing loses the
# capitals, and "VOUS ÊTES LES PIRES" is not "vous êtes les pires". A private-use character, which
# no real message holds, so that it is a feature of its own (the cue `shouting` of cue set 2).
SHOUT_MARK = "\ue000"
_CAPS_WORD = re.compile(r"\b[^\W\d_a-zà-ÿ]{3,}\b")
_LETTER = re.compile(r"[^\W\d_]")


def is_shouting(text: str) -> bool:
    """Written in capitals: at least 8 letters, 60 % of them capitals, or 3 words in capitals."""
    if text.islower() or not any(c.isupper() for c in text):
        return False
    letters = _LETTER.findall(text)
    upper = sum(c.isupper() for c in letters)
    if len(letters) >= 8 and upper >= 0.6 * len(letters):
        return True
    return len(_CAPS_WORD.findall(text)) >= 3


def normalize_batch(texts: Iterable[str], *, mark_shouting: bool = False) -> list[str]:
    """`normalize_text` over many texts, run as one pass of each regex over the joined batch; with
    `mark_shouting`, a message in capitals ends with `SHOUT_MARK`."""
    cleaned = one_line_each(texts)
    if not cleaned:
        return []
    if mark_shouting:
        cleaned = [f"{t} {SHOUT_MARK}" if is_shouting(t) else t for t in cleaned]
    text = "\n".join(cleaned).lower()
    if not text.isascii():
        text = _fold(text)
    text = _URL.sub(" httpurl ", text)
    text = _MENTION.sub(" @user ", text)
    text = _NUMBER.sub("0", text)
    text = _REPEAT.sub(r"\1\1", text)
    text = _SPACE.sub(" ", text)
    return [line.strip() for line in text.split("\n")]


def normalize_text(text: str) -> str:
    """Lowercase, fold accents, apostrophes, URLs, mentions, numbers and letter repeats."""
    return normalize_batch([text])[0]


class TextNormalizer(TransformerMixin, BaseEstimator):
    """Pipeline step applying `normalize_text` to every message (`mark_shouting`: see
    `normalize_batch`)."""

    def __init__(self, mark_shouting: bool = False) -> None:
        self.mark_shouting = mark_shouting

    def fit(self, X: Iterable[str], y: object = None) -> TextNormalizer:
        return self

    def transform(self, X: Iterable[str]) -> list[str]:
        # artifacts saved before the parameter existed do not mark
        return normalize_batch(X, mark_shouting=getattr(self, "mark_shouting", False))
