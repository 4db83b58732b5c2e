"""The shipped static token vectors and the pipeline step that looks messages up in them."""

from pathlib import Path

import numpy as np
import pytest

from classifier import CATEGORIES, TriageModel, load_version
from classifier.artifacts import save_model
from classifier.data import Row
from classifier.embedding import StaticEmbedding, load_shipped_vectors
from classifier.text import normalize_batch
from classifier.train import apply_decision_rule, train_model


@pytest.fixture(scope="module")
def embedding() -> StaticEmbedding:
    return StaticEmbedding(weight=1.0).fit([])


def _embed(embedding: StaticEmbedding, texts: list[str]) -> np.ndarray:
    return embedding.dense(normalize_batch(texts))


def test_shipped_vectors_load_without_pickle_and_agree() -> None:
    tokens, codes, scales = load_shipped_vectors()
    assert codes.dtype == np.int8 and codes.shape[0] == len(tokens) > 10_000
    assert scales.shape == (codes.shape[1],)
    assert len(set(tokens.tolist())) == len(tokens)
    # keys are tokens of normalised text: lowercase, accents folded
    assert "probleme" in set(tokens.tolist()) and "problème" not in set(tokens.tolist())


def test_messages_are_unit_vectors_and_unknown_text_is_zero(embedding: StaticEmbedding) -> None:
    vectors = _embed(embedding, ["Ma commande est en retard", "", "qsdfqsdf zxwvq"])
    assert np.isclose(np.linalg.norm(vectors[0]), 1.0)
    assert not vectors[1].any() and not vectors[2].any()
    assert np.allclose(
        StaticEmbedding(weight=3.0).fit([]).dense(normalize_batch(["retard"])),
        3 * _embed(embedding, ["retard"]),
    )


def test_a_batch_gives_each_message_its_own_vector(embedding: StaticEmbedding) -> None:
    texts = ["panne de courant", "", "merci beaucoup !", "😡😡", "power outage again"]
    together = _embed(embedding, texts)
    one_by_one = np.vstack([_embed(embedding, [t]) for t in texts])
    assert np.allclose(together, one_by_one, atol=1e-12)


def test_neighbours_cross_languages(embedding: StaticEmbedding) -> None:
    outage, english, thanks = _embed(embedding, ["coupure de courant", "power outage", "merci beaucoup"])
    assert outage @ english > outage @ thanks


def test_token_contributions_add_up_to_the_product(embedding: StaticEmbedding) -> None:
    direction = np.random.default_rng(0).normal(size=embedding.width)
    text = normalize_batch(["toujours pas de remboursement, c'est honteux"])[0]
    shares = embedding.contributions(text, direction)
    assert "remboursement" in shares
    assert np.isclose(sum(shares.values()), float(embedding.dense([text])[0] @ direction))


@pytest.fixture(scope="module")
def embedded_model(small_rows: list[Row], small_hyperparameters: dict[str, int]) -> TriageModel:
    """The small model with the static vectors as a fourth feature block."""
    rows = small_rows[:1500]
    hyperparameters = {**small_hyperparameters, "embedding_weight": 2.0}
    model, _ = train_model(rows, hyperparameters=hyperparameters, progress=False)
    return model


def test_a_model_with_the_vectors_saves_loads_and_scores_like_its_pipeline(
    tmp_path: Path, embedded_model: TriageModel
) -> None:
    assert "embedding" in embedded_model.pipeline.named_steps["features"].named_transformers
    texts = ["Vous livrez le dimanche ?", "", "coupure de courant depuis ce matin 😡", "merci !"]
    order = [list(embedded_model.pipeline.classes_).index(c) for c in CATEGORIES]
    expected = embedded_model.pipeline.predict_proba(texts)[:, order]
    assert np.allclose(embedded_model.predict_proba(texts), expected, rtol=0, atol=1e-12)
    save_model(tmp_path, embedded_model.pipeline, embedded_model.metadata)  # the allow-list suffices
    loaded = load_version(tmp_path, embedded_model.version)
    assert np.allclose(loaded.predict_proba(texts), expected, rtol=0, atol=1e-12)
    assert loaded.explain("toujours pas de remboursement, c'est honteux")


def test_the_decision_rule_is_folded_into_the_classifier() -> None:
    from sklearn.linear_model import LogisticRegression

    X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]] * 5)
    y = np.array(["complaint", "other", "question", "suggestion"] * 5)
    clf = LogisticRegression(C=10.0).fit(X, y)
    before = clf.decision_function(X)
    apply_decision_rule(clf, temperature=2.0, complaint_bias=0.7)
    after = clf.decision_function(X)
    complaint = list(clf.classes_).index("complaint")
    shift = np.zeros(4)
    shift[complaint] = 0.7
    assert np.allclose(after, before / 2.0 + shift)
