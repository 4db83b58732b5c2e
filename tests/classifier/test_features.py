import random
from pathlib import Path

import numpy as np
import pytest

from classifier.data import load_training_rows
from classifier.features import (
    CUE_PATTERNS,
    SMALL_BATCH,
    CharNgramHasher,
    CueFeatures,
    WordNgramHasher,
    char_ngrams,
    ngram_index,
    word_terms,
)
from classifier.text import SHOUT_MARK, is_shouting, normalize_batch, normalize_text

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("PROBLÈME  avec   ma commande", "probleme avec ma commande"),
        ("J’ai payé 42,17 €", "j'ai paye 0 €"),
        ("@SwiftRail sooooo late https://x.co/abc", "@user soo late httpurl"),
        ("Привет", "привет"),
    ],
)
def test_normalize_text(raw: str, normalised: str) -> None:
    assert normalize_text(raw) == normalised


def test_char_hasher_matches_ngram_index() -> None:
    hasher = CharNgramHasher(ngram_min=2, ngram_max=5, n_features=2**16)
    texts = ["hello world ca va ?", "", "a", "emoji 😡 ok", "je n'arrive pas"]
    matrix = hasher.transform(texts)
    assert matrix.shape == (5, 2**16)
    for i, text in enumerate(texts):
        expected: dict[int, float] = {}
        for gram in char_ngrams(text, 2, 5):
            column = ngram_index(gram, 2**16)
            expected[column] = expected.get(column, 0.0) + 1.0
        row = matrix.getrow(i)
        assert dict(zip(row.indices.tolist(), row.data.tolist(), strict=True)) == expected


def test_char_hasher_rows_do_not_leak_into_each_other() -> None:
    hasher = CharNgramHasher(ngram_min=2, ngram_max=5, n_features=2**16)
    together = hasher.transform(["abc", "xyz"]).toarray()
    alone = np.vstack([hasher.transform(["abc"]).toarray(), hasher.transform(["xyz"]).toarray()])
    assert np.array_equal(together, alone)


def test_cue_features_fire_on_their_patterns() -> None:
    cues = CueFeatures(weight=1.0)
    names = [n.removeprefix("cue:") for n in cues.get_feature_names_out()]
    texts = [
        normalize_text(t) for t in ["Vous livrez le dimanche ?", "Ce serait top d'avoir un mode sombre", "ok"]
    ]
    matrix = cues.transform(texts).toarray()
    assert matrix[0, names.index("question_mark")] == 1.0
    assert matrix[1, names.index("suggestion_modal")] == 1.0
    assert matrix[1, names.index("question_mark")] == 0.0
    assert matrix[2, names.index("greeting_only")] == 1.0
    assert matrix[2, names.index("short")] == 1.0


def test_word_hasher_matches_word_terms() -> None:
    hasher = WordNgramHasher(ngram_max=2, n_features=2**16)
    texts = ["ma commande est en retard ?", "", "!!", "j'ai un souci avec l'appli", "a a a"]
    matrix = hasher.transform(texts)
    for i, text in enumerate(texts):
        expected: dict[int, float] = {}
        for _, column in word_terms(text, 2, 2**16):
            expected[column] = expected.get(column, 0.0) + 1.0
        row = matrix.getrow(i)
        assert dict(zip(row.indices.tolist(), row.data.tolist(), strict=True)) == expected
    terms = [t for t, _ in word_terms("j'ai un souci", 2, 2**16)]
    assert terms == ["j", "ai", "un", "souci", "j ai", "ai un", "un souci"]


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("Ask for a room on the top floor, the view is worth it.", "tip_advice"),
        ("Don't forget to try the breakfast!", "tip_advice"),
        ("If you're arriving late, book the airport shuttle ahead.", "advice_imperative"),
        ("It would help a lot to have reminders every two weeks", "suggestion_modal"),
        ("Please add an option to export as PDF", "suggestion_modal"),
        ("Il faudrait ajouter un mode sombre", "suggestion_modal"),
        ("Vous devriez proposer la livraison le dimanche", "suggestion_modal"),
        ("App keeps crashing since the update, still not fixed", "problem"),
        ("ça ne marche plus et toujours pas de remboursement", "problem"),
        ("C'est inadmissible", "problem"),
        ("Is there a way to export my data", "info_request"),
        ("Est-il possible de changer mon adresse", "info_request"),
    ],
)
def test_cue_lexicons_cover_suggestion_complaint_and_question_phrasing(text: str, cue: str) -> None:
    cues = CueFeatures(weight=1.0)
    names = [n.removeprefix("cue:") for n in cues.get_feature_names_out()]
    assert cues.transform([normalize_text(text)]).toarray()[0, names.index(cue)] == 1.0


def test_cue_lexicons_stay_quiet_on_neutral_text() -> None:
    cues = CueFeatures(weight=1.0)
    names = [n.removeprefix("cue:") for n in cues.get_feature_names_out()]
    row = cues.transform([normalize_text("We stayed four nights in October with our kids.")]).toarray()[0]
    for cue in ("tip_advice", "suggestion_modal", "problem", "info_request", "advice_imperative"):
        assert row[names.index(cue)] == 0.0


@pytest.mark.parametrize("cue_set", [1, 2])
def test_cue_features_batch_equals_one_by_one(cue_set: int) -> None:
    """A batch is scanned as one text, a few messages one by one (`SMALL_BATCH`): the same
    columns either way, on the shipped training texts and on line-break edge cases."""
    cues = CueFeatures(weight=1.0, cue_set=cue_set)
    edge = [
        "Try the pastries.",
        "",
        "still not working?",
        "Ce serait top !",
        "hi",
        "!!!",
        "hello\n\n",
        "?!\nbonjour",
        "ok\nhow do I pay?",
        "merci\n!\nadd a vegan option, please",
        "bonjour, pourquoi ?\n...",
        " ",
    ]
    rows = load_training_rows(REPO / "data")
    texts = normalize_batch(
        edge
        + ["VOUS ÊTES LES PIRES", "toujours rien 🤬"]
        + [r.text for r in random.Random(5).sample(rows, 3000)],
        mark_shouting=cue_set == 2,
    )
    together = cues.dense(texts)
    assert len(texts) > SMALL_BATCH
    alone = np.vstack([cues.dense([t]) for t in texts])
    assert np.array_equal(together, alone)
    assert together.sum() > len(texts)  # the cues do fire
    in_small_batches = np.vstack(
        [cues.dense(texts[i : i + SMALL_BATCH]) for i in range(0, len(texts), SMALL_BATCH)]
    )
    assert np.array_equal(together, in_small_batches)
    assert cues.dense([]).shape == (0, together.shape[1])


def test_cue_set_1_keeps_its_columns_and_set_2_adds_the_french_ones() -> None:
    first = [str(n) for n in CueFeatures().get_feature_names_out()]
    assert first == [f"cue:{name}" for name in CUE_PATTERNS] + ["cue:short"]
    second = [str(n) for n in CueFeatures(cue_set=2).get_feature_names_out()]
    assert second[: len(first) - 1] == first[:-1] and second[-1] == "cue:short"
    with pytest.raises(ValueError, match="unknown cue set"):
        CueFeatures(cue_set=9).fit([])


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("VOUS ÊTES LES PIRES", "shouting"),
        ("VOUS ÊTES LES PIRES", "anger_fr"),
        ("bande d'incompétents", "anger_fr"),
        ("c'est une arnaque", "anger_fr"),
        ("Toujours pas de réponse", "waiting_fr"),
        ("coupé depuis 3 jours", "waiting_fr"),
        ("personne ne répond au téléphone", "waiting_fr"),
        ("aidez moi svp", "distress_fr"),
        ("ça saute tout le temps", "outage_fr"),
        ("plus de chauffage", "outage_fr"),
        ("j'attends mon remboursement", "money_fr"),
        ("prélevé deux fois", "money_fr"),
        ("nul !!!", "exclamations"),
        ("merci pour rien 😡", "angry_emoji"),
        ("est-ce que vous livrez le dimanche", "question_fr"),
        ("comment faire pour changer d'adresse", "question_fr"),
        ("je voulais savoir si c'est compris", "question_fr"),
        ("possible de payer en 3 fois", "question_fr"),
        ("livrez-vous en Belgique", "inversion_fr"),
    ],
)
def test_cue_set_2_fires_on_french_complaints_and_questions(text: str, cue: str) -> None:
    cues = CueFeatures(cue_set=2)
    names = [n.removeprefix("cue:") for n in cues.get_feature_names_out()]
    row = cues.transform(normalize_batch([text], mark_shouting=True)).toarray()[0]
    assert row[names.index(cue)] == 1.0


def test_cue_set_2_stays_quiet_on_a_calm_thank_you() -> None:
    cues = CueFeatures(cue_set=2)
    names = [n.removeprefix("cue:") for n in cues.get_feature_names_out()]
    row = cues.transform(
        normalize_batch(["Merci beaucoup, livraison rapide 🙂"], mark_shouting=True)
    ).toarray()[0]
    for cue in ("anger_fr", "waiting_fr", "distress_fr", "outage_fr", "money_fr", "shouting", "question_fr"):
        assert row[names.index(cue)] == 0.0


@pytest.mark.parametrize(
    ("text", "shouting"),
    [
        ("VOUS ÊTES LES PIRES !!", True),
        ("Toujours RIEN, NUL, HONTE", True),
        ("Mon compteur EDF est HS", False),
        ("Bonjour, ma commande SVP", False),
        ("tout en minuscules", False),
        ("OK", False),
    ],
)
def test_shouting_is_marked_only_when_asked(text: str, shouting: bool) -> None:
    assert is_shouting(text) is shouting
    assert normalize_batch([text], mark_shouting=True)[0].endswith(SHOUT_MARK) is shouting
    assert SHOUT_MARK not in normalize_batch([text])[0]
