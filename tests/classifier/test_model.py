import numpy as np
import pytest

from classifier import CATEGORIES, Prediction, TriageModel


@pytest.mark.parametrize(
    "text", ["", "   ", "😡😡😡", "🙏", "?", "x" * 20_000, "mot " * 3_000, "\n", "\x00weird\x00"]
)
def test_predict_handles_odd_text(small_model: TriageModel, text: str) -> None:
    [prediction] = small_model.predict([text])
    assert prediction.category in CATEGORIES
    assert sum(prediction.scores.values()) == pytest.approx(1.0, abs=1e-4)


def test_scores_sum_to_one_and_confidence_is_the_max(small_model: TriageModel) -> None:
    texts = [
        "Vous livrez le dimanche ?",
        "My order never arrived!!",
        "Ce serait top d'avoir un mode sombre",
        "merci",
    ]
    predictions = small_model.predict(texts)
    assert len(predictions) == len(texts)
    for p in predictions:
        assert isinstance(p, Prediction)
        assert list(p.scores) == list(CATEGORIES)
        assert sum(p.scores.values()) == pytest.approx(1.0, abs=1e-4)
        assert p.confidence == max(p.scores.values())
        assert p.category == max(p.scores, key=p.scores.__getitem__)
        assert p.model_version == small_model.version


def test_batch_equals_one_by_one(small_model: TriageModel) -> None:
    texts = ["Vous livrez le dimanche ?", "", "My order never arrived!!", "😡"]
    batch = small_model.predict(texts)
    single = [small_model.predict([t])[0] for t in texts]
    assert batch == single
    assert small_model.predict([]) == []


def test_predict_proba_columns_follow_categories(small_model: TriageModel) -> None:
    proba = small_model.predict_proba(["merci beaucoup"])
    assert proba.shape == (1, len(CATEGORIES))
    assert np.allclose(proba.sum(axis=1), 1.0)


def test_explanation_terms_come_from_the_text(small_model: TriageModel) -> None:
    text = "Ma commande n'est toujours pas arrivée, remboursez-moi"
    terms = small_model.explain(text, top=5)
    assert 0 < len(terms) <= 5
    weights = [w for _, w in terms]
    assert weights == sorted(weights, reverse=True)
    normalised = "ma commande n'est toujours pas arrivee, remboursez-moi"
    for term, _ in terms:
        if term.startswith("cue:"):
            continue
        pieces = term.strip("'").split(" ")
        assert all(piece.strip() in f" {normalised} " for piece in pieces), term


def test_metadata_and_version(small_model: TriageModel) -> None:
    assert small_model.metadata["labels"] == list(CATEGORIES)
    assert small_model.version == small_model.metadata["version"]


def test_fast_path_equals_the_pipeline(small_model: TriageModel) -> None:
    texts = ["Vous livrez le dimanche ?", "", "My order never arrived!!", "😡", "Ce serait top"]
    ours = small_model.predict_proba(texts)
    theirs = small_model.pipeline.predict_proba(texts)
    order = [list(small_model.pipeline.classes_).index(c) for c in CATEGORIES]
    assert np.allclose(ours, theirs[:, order], rtol=0, atol=1e-12)


def test_compiled_scores_equal_the_feature_matrix(small_model: TriageModel) -> None:
    # classifier._scoring hashes, weighs and multiplies in C; features() builds the sparse matrix
    # with NumPy and scipy (the training path). Same numbers, on texts that stress the hashing:
    # repeated n-grams, a NUL, astral and non-Latin characters, a lone surrogate, empty, long.
    texts = [
        "Vous livrez le dimanche ?",
        "",
        "My order never arrived!! never never never arrived",
        "😡😡 pas content",
        "a\x00b",
        "\ud83d seul",
        "日本語のテキスト",
        "Ça marche ? NON ! " * 300,
        "x",
    ]
    texts = texts * 3 + [f"commande {n} en retard, livraison {n % 7}" for n in range(600)]
    ours = small_model.decision_scores(texts)
    clf = small_model.pipeline.named_steps["clf"]
    theirs = np.asarray(small_model.features(texts) @ clf.coef_.T) + clf.intercept_
    assert ours.shape == (len(texts), len(CATEGORIES))
    assert np.allclose(ours, theirs, rtol=0, atol=1e-12)
    # one at a time or all together: each message's scores are its own
    assert np.allclose(small_model.decision_scores(texts[:9]), ours[:9], rtol=0, atol=1e-12)
    assert not np.allclose(ours[0], ours[2])
