"""The replies' character n-gram vectors (`app.drafts.ngrams`): the geometry of scikit-learn's
`HashingVectorizer(analyzer="char", ngram_range=(1, 6))`, which they replace for speed, and the
mean cosine drafting picks a reply by."""

from __future__ import annotations

import threading

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.preprocessing import normalize

from app.drafts import ngrams

REPLIES = [
    "Bonjour Camille, nous sommes désolés du retard de votre commande. Damien",
    "Bonjour Camille,\n\nnous sommes  désolés du retard de livraison ! Damien",
    "Bonjour, le paiement en 4 fois est proposé dès 100 € d'achat. Léa",
    "Merci pour votre avis 😊 À bientôt sur Cdiscount ! Damien",
    "Hello Sam, your refund is on its way.",
    "",
    "a",
]


def test_the_vectors_have_the_cosines_of_scikit_learns_hashing() -> None:
    reference = normalize(
        HashingVectorizer(
            analyzer="char", ngram_range=(1, 6), lowercase=False, alternate_sign=False, n_features=2**20
        ).transform(REPLIES)
    )
    ours = ngrams.vectors(REPLIES)
    assert ours.shape == (len(REPLIES), ngrams.N_FEATURES)
    np.testing.assert_allclose((ours @ ours.T).toarray(), (reference @ reference.T).toarray(), atol=0.01)
    norms = np.sqrt(np.asarray(ours.multiply(ours).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms, [1, 1, 1, 1, 1, 0, 1])  # the empty text is the zero row


def test_an_ngram_does_not_run_from_one_text_into_the_next() -> None:
    together = ngrams.vectors(["ab", "cd"])
    apart = [ngrams.vectors([t]) for t in ("ab", "cd")]
    for row, alone in enumerate(apart):
        assert (together[row] != alone).nnz == 0


def test_the_mean_cosine_is_the_mean_of_the_products_and_leaves_no_trace() -> None:
    rows, others = ngrams.vectors(REPLIES[:4]), ngrams.vectors(REPLIES[2:6])
    expected = np.asarray((rows @ others.T).mean(axis=1)).ravel()
    np.testing.assert_allclose(ngrams.mean_cosines(rows, others), expected)
    np.testing.assert_allclose(ngrams.mean_cosines(rows, others), expected)  # the scratch was zeroed
    found: list[np.ndarray] = []
    thread = threading.Thread(target=lambda: found.append(ngrams.mean_cosines(rows, others)))
    thread.start()
    thread.join()
    np.testing.assert_allclose(found[0], expected)


def test_split_then_stack_gives_the_matrix_back() -> None:
    matrix = ngrams.vectors(REPLIES)
    again = ngrams.stack(ngrams.split(matrix))
    assert (again != matrix).nnz == 0 and ngrams.stack([]).shape == (0, ngrams.N_FEATURES)
