"""The "why" of a category in the customer's words: every shown phrase is a piece of the message."""

from __future__ import annotations

import pytest

from classifier import evidence
from classifier.model import TriageModel


@pytest.mark.parametrize(
    ("term", "shown"),
    [
        ("toujours pas", ["Toujours pas"]),  # a word bigram, back to the original case
        ("'ours '", ["Toujours"]),  # a character n-gram: the word it lies in
        ("'s pa'", ["Toujours pas"]),  # across a word edge
        ("rembourse", ["remboursé"]),  # a normalised word: the accent comes back
        ("remboursement", []),  # not a word of the text
        ("cue:problem", ["Toujours pas", "remboursé"]),  # what the cue's pattern matched
        ("cue:short", []),  # no words behind it
    ],
)
def test_a_term_is_found_in_the_original_words(term: str, shown: list[str]) -> None:
    text = "Toujours pas remboursé, 3 semaines après"
    tokens = [text[m.start() : m.end()] for m in evidence.WORD_TOKEN.finditer(text)]
    spans = evidence.spans_of(text, term)
    assert [" ".join(tokens[a:b]) for a, b in spans] == shown


def test_words_of_one_expression_add_up_and_noise_is_left_out() -> None:
    text = "Toujours pas de remboursement"
    terms = [("cue:problem", 1.0), ("toujours", 0.5), ("de", 0.01), ("'ement '", 0.4), ("httpurl", 2.0)]
    shown = evidence.in_words(text, terms)
    # the cue matched two phrases (half each); "toujours" went into "Toujours pas"; "de" weighed
    # under a tenth of the strongest; the URL placeholder is not in the text
    assert shown == [("Toujours pas", 1.0), ("remboursement", 0.9)]


def test_the_model_explains_in_the_customers_words(small_model: TriageModel) -> None:
    text = "Ma commande n'est toujours pas arrivée, remboursez-moi"
    shown = small_model.explain_in_words(text, top=5)
    assert 0 < len(shown) <= 5
    assert [w for _, w in shown] == sorted((w for _, w in shown), reverse=True)
    for phrase, _ in shown:
        assert phrase in text and not phrase.startswith(("cue:", "'")), phrase
