"""The model's terms put back into the customer's own words, for the "why" of a category.

`TriageModel.explain` names features: word n-grams of the normalised text ("toujours pas"),
character n-grams ("'rien '"), cue groups ("cue:problem"). A reviewer reads none of those. Each
term is found again in the original message: a word n-gram as the words it came from, a
character n-gram as the word(s) it lies in, a cue as the phrase its pattern matched. The weights
of terms that land on the same words add up; a phrase inside a longer shown phrase gives its
weight to the longer one ("toujours" and "pas" into "toujours pas"). A term that cannot be found
in the text (a URL or @mention placeholder, the "short message" flag) is left out, and so is a
lone function word ("une", "the"), which tells a reader nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from classifier.features import ALL_CUE_PATTERNS, WORD_TOKEN
from classifier.text import normalize_text

# A shown phrase is at most this many words: a cue matching a whole sentence explains nothing.
MAX_WORDS = 4
# Words that weighed less than this share of the strongest are noise.
MIN_SHARE = 0.1
# Alone, these say nothing to a reader ("une", "the"): shown only inside an expression ("ce serait").
FUNCTION_WORDS = frozenset(
    [
        "a",
        "au",
        "aux",
        "ce",
        "ces",
        "cet",
        "cette",
        "d",
        "de",
        "des",
        "du",
        "en",
        "et",
        "il",
        "je",
        "j",
        "l",
        "la",
        "le",
        "les",
        "leur",
        "ma",
        "mes",
        "mon",
        "nous",
        "on",
        "ou",
        "par",
        "pour",
        "qu",
        "que",
        "qui",
        "sa",
        "se",
        "ses",
        "son",
        "sur",
        "ta",
        "te",
        "tes",
        "ton",
        "tu",
        "un",
        "une",
        "vos",
        "votre",
        "vous",
        "y",
        "an",
        "and",
        "are",
        "at",
        "be",
        "for",
        "i",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "the",
        "to",
        "us",
        "we",
        "you",
        "your",
    ]
)
_COMPILED = {name: re.compile(pattern, re.MULTILINE) for name, pattern in ALL_CUE_PATTERNS.items()}
_NON_WORD = re.compile(r"[^\w?!]+")

Span = tuple[int, int]  # token indices, end excluded


def _tokens(text: str) -> list[tuple[str, int, int]]:
    """(normalised token, start, end) of every word of the original text."""
    return [(normalize_text(m.group()), m.start(), m.end()) for m in WORD_TOKEN.finditer(text)]


def _find_sequence(tokens: list[tuple[str, int, int]], words: list[str]) -> Span | None:
    n = len(words)
    if not n:
        return None
    for i in range(len(tokens) - n + 1):
        if all(tokens[i + k][0] == words[k] for k in range(n)):
            return (i, i + n)
    return None


def _find_gram(tokens: list[tuple[str, int, int]], gram: str) -> Span | None:
    """The words a character n-gram lies in; it may run across a word edge ("n pa")."""
    parts = _NON_WORD.split(gram)
    left_edge, right_edge = parts[0] == "", parts[-1] == ""
    words = [p for p in parts if p]
    n = len(words)
    if not n:
        return None
    for i in range(len(tokens) - n + 1):
        for k, part in enumerate(words):
            token = tokens[i + k][0]
            free_left, free_right = k == 0 and not left_edge, k == n - 1 and not right_edge
            if free_left and free_right:
                ok = part in token
            elif free_left:
                ok = token.endswith(part)
            elif free_right:
                ok = token.startswith(part)
            else:
                ok = token == part
            if not ok:
                break
        else:
            return (i, i + n)
    return None


def _cue_spans(tokens: list[tuple[str, int, int]], normalised: str, cue: str) -> list[Span]:
    pattern = _COMPILED.get(cue)
    if pattern is None:
        return []
    spans = []
    for match in pattern.finditer(normalised):
        span = _find_sequence(tokens, WORD_TOKEN.findall(match.group()))
        if span is not None:
            spans.append(span)
    return spans


def spans_of(text: str, term: str) -> list[Span]:
    """Where `term` (a name from `TriageModel.explain`) lies in `text`, as word spans."""
    tokens = _tokens(text)
    if term.startswith("cue:"):
        return _cue_spans(tokens, normalize_text(text), term[4:])
    if len(term) >= 2 and term[0] == term[-1] == "'":
        span = _find_gram(tokens, term[1:-1])
    else:
        span = _find_sequence(tokens, term.split(" "))
    return [span] if span is not None else []


def in_words(text: str, terms: Iterable[tuple[str, float]], top: int = 5) -> list[tuple[str, float]]:
    """The customer's own words behind the weighted `terms`, strongest first, at most `top`.

    A cue's match is shown whole (an expression: "toujours pas"); an n-gram's weight is shared
    among the words it covers, and a word inside a shown expression adds to the expression.
    """
    tokens = _tokens(text)
    weights: dict[Span, float] = {}
    phrases: set[Span] = set()
    for term, weight in terms:
        spans = [s for s in spans_of(text, term) if s[1] - s[0] <= MAX_WORDS]
        for span in spans:
            share = weight / len(spans)
            if term.startswith("cue:"):
                phrases.add(span)
                weights[span] = weights.get(span, 0.0) + share
                continue
            for i in range(span[0], span[1]):
                word = (i, i + 1)
                weights[word] = weights.get(word, 0.0) + share / (span[1] - span[0])
    kept: dict[Span, float] = {}
    for span in sorted(weights, key=lambda s: (s[0] - s[1], s[0])):  # longest first
        outer = next((k for k in kept if k in phrases and k[0] <= span[0] and span[1] <= k[1]), None)
        if outer is not None:
            kept[outer] += weights[span]
        else:
            kept[span] = weights[span]
    strongest = max(kept.values(), default=0.0)
    shown = sorted(
        ((s, w) for s, w in kept.items() if w > 0 and w >= MIN_SHARE * strongest),
        key=lambda item: item[1],
        reverse=True,
    )
    out: list[tuple[str, float]] = []
    seen: set[str] = set()
    for (start, end), weight in shown:
        phrase = " ".join(text[tokens[start][1] : tokens[end - 1][2]].split())
        if phrase.lower() in seen or end - start == 1 and tokens[start][0] in FUNCTION_WORDS:
            continue  # shown once; a lone function word says nothing
        seen.add(phrase.lower())
        out.append((phrase, round(weight, 4)))
        if len(out) == top:
            break
    return out
