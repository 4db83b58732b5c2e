"""The triage model: one scikit-learn Pipeline, built here and nowhere else.

normalise -> [hashed word 1-2-grams | hashed char n-grams | cue features | static token vectors]
-> logistic regression. The static vectors (`classifier.embedding`, distilled from a multilingual
sentence encoder) carry what transfers across sources and languages; the n-grams, the vocabulary
of the training sources.
Hashing keeps no vocabulary (small artifact, safe to load with skops, no fit-time memory of the
corpus beyond IDF weights). The hashers and the TF-IDF step are our own NumPy ones
(`classifier.features`): scikit-learn's HashingVectorizer and TfidfTransformer cost too much per
call for the 20,000 messages/s and 1 ms budgets. Multinomial logistic regression gives
probabilities close to calibrated (ECE is measured in every evaluation report).
"""

from __future__ import annotations

from typing import Any

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from classifier.embedding import StaticEmbedding
from classifier.features import CharNgramHasher, CueFeatures, SublinearTfidf, WordNgramHasher
from classifier.text import TextNormalizer

DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "word_ngram_max": 2,
    "word_n_features": 2**17,
    "char_ngram_min": 3,
    "char_ngram_max": 5,
    "char_n_features": 2**17,
    "cue_weight": 1.0,
    "cue_set": 1,
    "embedding_weight": 0.0,
    "C": 4.0,
    "max_iter": 300,
    "tol": 1e-4,
    "random_state": 20240611,
}


def build_pipeline(
    *,
    word_ngram_max: int,
    word_n_features: int,
    char_ngram_min: int,
    char_ngram_max: int,
    char_n_features: int,
    cue_weight: float,
    cue_set: int,
    embedding_weight: float,
    C: float,
    max_iter: int,
    tol: float,
    random_state: int,
) -> Pipeline:
    """The unfitted triage pipeline; every hyperparameter is explicit."""
    words = Pipeline(
        [
            (
                "hash",
                WordNgramHasher(ngram_max=word_ngram_max, n_features=word_n_features),
            ),
            ("tfidf", SublinearTfidf()),
        ]
    )
    chars = Pipeline(
        [
            (
                "hash",
                CharNgramHasher(
                    ngram_min=char_ngram_min, ngram_max=char_ngram_max, n_features=char_n_features
                ),
            ),
            ("tfidf", SublinearTfidf()),
        ]
    )
    blocks: list[tuple[str, Any]] = [
        ("word", words),
        ("char", chars),
        ("cues", CueFeatures(weight=cue_weight, cue_set=cue_set)),
    ]
    if embedding_weight > 0:
        blocks.append(("embedding", StaticEmbedding(weight=embedding_weight)))
    features = FeatureUnion(blocks, n_jobs=None)
    classifier = LogisticRegression(
        C=C, solver="lbfgs", max_iter=max_iter, tol=tol, random_state=random_state
    )
    normalize = TextNormalizer(mark_shouting=cue_set >= 2)  # set 2 has a cue for capitals
    return Pipeline([("normalize", normalize), ("features", features), ("clf", classifier)])
