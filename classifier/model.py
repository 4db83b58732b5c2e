"""`TriageModel`: a fitted pipeline plus its metadata, with the prediction API the app uses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp
from sklearn.pipeline import Pipeline

from classifier import evidence
from classifier._scoring import add_char_scores, add_word_scores
from classifier.data import CATEGORIES
from classifier.embedding import StaticEmbedding
from classifier.features import (
    CharNgramHasher,
    CueFeatures,
    SublinearTfidf,
    WordNgramHasher,
    char_ngrams,
    ngram_index,
    word_terms,
)
from classifier.language import detect_languages
from classifier.refine import RefineHead


@dataclass(frozen=True, slots=True)
class Prediction:
    category: str
    confidence: float
    scores: dict[str, float]
    language: str
    model_version: str


class Scorer(Protocol):
    """What evaluation reads of a model: a `TriageModel`, or one refined (`classifier.refine.Refined`)."""

    @property
    def version(self) -> str: ...

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...


class TriageModel:
    """A fitted triage pipeline and its metadata, with the refining head when it has one
    (`classifier.refine`: the second opinion the refine pass asks with the encoder's embeddings)."""

    def __init__(self, pipeline: Pipeline, metadata: dict[str, Any], head: RefineHead | None = None) -> None:
        classes = tuple(str(c) for c in pipeline.classes_)
        if sorted(classes) != sorted(CATEGORIES):
            raise ValueError(f"model classes {classes} are not {CATEGORIES}")
        self.pipeline = pipeline
        self.metadata = metadata
        self.head = head
        clf = pipeline.steps[-1][1]
        if hasattr(clf, "coef_"):
            # decision_function computes X @ coef_.T; with coef_ in Fortran order the transpose is
            # C-contiguous and scipy does not copy the whole coefficient matrix on every call
            # (0.8 ms per single-message prediction otherwise).
            clf.coef_ = np.asfortranarray(clf.coef_)
        # Column order of predict_proba, reordered to CATEGORIES once.
        self._order = np.asarray([classes.index(c) for c in CATEGORIES])
        # A model trained on corrections has an "adapt" step (classifier.adapt): its classifier
        # sees [x, scale * g(x) * x[columns_]]. The fast path computes x @ shared + scale * g(x) *
        # (x @ own), own being the copy's weights put back at their features' columns, instead of
        # building the augmented matrix (same arithmetic: tests compare it with the pipeline).
        self._adapt = pipeline.named_steps.get("adapt")
        self._weights_matrix = self._weights() if hasattr(clf, "coef_") else None
        self._blocks = self._scoring_blocks()

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "unversioned"))

    def features(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The pipeline's feature matrix, computed step by step.

        Same arithmetic as the Pipeline's own transform, without scikit-learn's per-call
        validation and joblib set-up (about 0.5 ms, half the single-message budget).
        """
        normalised = self.pipeline.named_steps["normalize"].transform(texts)
        blocks = []
        for _, transformer in self.pipeline.named_steps["features"].transformer_list:
            block = normalised
            for _, step in getattr(transformer, "steps", [("", transformer)]):
                block = step.transform(block)
            blocks.append(block)
        return sp.hstack(blocks, format="csr")

    def _weights(self) -> np.ndarray:
        """(features, outputs): coef_.T; with the corrections' copy (`adapt`), the shared weights,
        the copy's weights and the gate's, side by side, so one pass over a message's features
        computes all three products."""
        coef = np.asarray(self.pipeline.named_steps["clf"].coef_)
        if self._adapt is None:
            return np.ascontiguousarray(coef.T)
        n = self._adapt.n_features_in_
        weights = np.zeros((n, 2 * coef.shape[0] + 1), dtype=np.float64)
        weights[:, : coef.shape[0]] = coef[:, :n].T  # shared
        weights[self._adapt.columns_, coef.shape[0] : -1] = coef[:, n:].T  # the copy, at its columns
        weights[:, -1] = self._adapt.gate_coef_
        return weights

    def _scoring_blocks(self) -> list[tuple[Any, Any, np.ndarray]] | None:
        """(hasher, tfidf, its rows of `_weights()`) per hashed block and (cues, None, rows) for
        the cues, when the pipeline has the shape `build_pipeline` gives; else None (then scoring
        goes through `features()`)."""
        steps = self.pipeline.named_steps
        union = steps.get("features")
        if self._weights_matrix is None or not hasattr(union, "transformer_list"):
            return None
        weights = self._weights_matrix
        blocks: list[tuple[Any, Any, np.ndarray]] = []
        offset = 0
        for _, transformer in union.transformer_list:
            if isinstance(transformer, CueFeatures | StaticEmbedding):
                width = len(transformer.get_feature_names_out())
                blocks.append((transformer, None, weights[offset : offset + width]))
            else:
                named = getattr(transformer, "named_steps", {})
                hasher, tfidf = named.get("hash"), named.get("tfidf")
                if (
                    not isinstance(hasher, WordNgramHasher | CharNgramHasher)
                    or not isinstance(tfidf, SublinearTfidf)
                    or len(named) != 2
                ):
                    return None
                width = hasher.n_features
                blocks.append((hasher, tfidf, weights[offset : offset + width]))
            offset += width
        return blocks if offset == weights.shape[0] else None

    def decision_scores(self, texts: Sequence[str]) -> np.ndarray:
        """The classifier's decision scores (X @ coef_.T + intercept_, with the corrections' copy
        and its gate when the model has one), block by block without building the feature matrix.

        The same arithmetic as `features(texts) @ coef_.T`: each hashed block is hashed, weighted
        (TF-IDF) and multiplied message by message in C (`classifier._scoring`); the cues are a
        small dense product. Building and stacking the sparse matrices cost about 0.4 ms per call,
        and the NumPy version of the block path about 0.3 ms, paid by every batch of deliveries
        under a burst. `features()` remains the path for training and for pipelines of another
        shape.
        """
        return self._scores_and_gate(texts)[0]

    def _scores_and_gate(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """`decision_scores` and the domain gate g(x) of each text (None without corrections)."""
        clf = self.pipeline.named_steps["clf"]
        if self._blocks is None:
            raw = np.asarray(self.features(texts) @ self._weights_matrix)
        else:
            raw = self._block_products(texts)
        if self._adapt is None:
            return np.asarray(raw + clf.intercept_), None
        # x @ shared + scale * g(x) * (x @ own), g(x) = sigmoid(x @ gate + b) ** power: classifier.adapt
        k = len(CATEGORIES)
        gate = self._adapt.sharpen(1.0 / (1.0 + np.exp(-(raw[:, 2 * k] + self._adapt.gate_intercept_))))
        domain = self._adapt.scale * gate
        return np.asarray(raw[:, :k] + domain[:, None] * raw[:, k : 2 * k] + clf.intercept_), gate

    def _block_products(self, texts: Sequence[str]) -> np.ndarray:
        """features(texts) @ _weights(), block by block, without building the feature matrix: the
        hashed blocks in C (`classifier._scoring`), the cues as a small dense product."""
        assert self._blocks is not None
        normalised = self.pipeline.named_steps["normalize"].transform(texts)
        scores = np.zeros((len(normalised), self._blocks[0][2].shape[1]), dtype=np.float64)
        for extractor, tfidf, weights in self._blocks:
            if tfidf is None:
                scores += extractor.dense(normalised) @ weights
            elif isinstance(extractor, CharNgramHasher):
                add_char_scores(
                    normalised,
                    extractor.ngram_min,
                    extractor.ngram_max,
                    extractor.n_features,
                    tfidf.idf_,
                    weights,
                    scores,
                )
            else:
                tokens, _ = extractor.token_hashes(normalised)
                add_word_scores(
                    tokens, extractor.ngram_max, extractor.n_features, tfidf.idf_, weights, scores
                )
        return scores

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, columns in `CATEGORIES` order."""
        return self._proba_and_gate(texts)[0]

    def _proba_and_gate(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
        clean = [t if isinstance(t, str) else "" for t in texts]
        if not clean:
            return np.zeros((0, len(CATEGORIES))), None
        scores, gate = self._scores_and_gate(clean)
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        return np.asarray(scores)[:, self._order], gate

    def refined_proba(self, texts: Sequence[str], embeddings: np.ndarray) -> np.ndarray:
        """The pipeline's probabilities pooled with the head's on the texts' embeddings; the
        head's corrections weights count by the pipeline's domain gate."""
        if self.head is None:
            raise ValueError(f"model {self.version} has no refining head")
        proba, gate = self._proba_and_gate(texts)
        return self.head.proba(proba, embeddings, gate)

    def predict(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> list[Prediction]:
        """One prediction per text, in order; batched. With the texts' `embeddings`
        (`classifier.encoder`) and a head, the refined prediction."""
        texts = list(texts)
        proba = self.predict_proba(texts) if embeddings is None else self.refined_proba(texts, embeddings)
        languages = detect_languages([t if isinstance(t, str) else "" for t in texts])
        best = proba.argmax(axis=1)
        version = self.version
        rounded = np.round(proba, 6).tolist()
        out = []
        for row, index, language in zip(rounded, best.tolist(), languages, strict=True):
            scores = dict(zip(CATEGORIES, row, strict=True))
            out.append(Prediction(CATEGORIES[index], row[index], scores, language, version))
        return out

    def explain(self, text: str, top: int = 5) -> list[tuple[str, float]]:
        """Terms of `text` that weighed most for its predicted class, strongest positive first.

        Each contribution is feature value x (class coefficient - mean coefficient over classes),
        so it says how much the term pushed this class above the others. Hashed columns are
        mapped back by re-analysing the text; a column hit by several n-grams of the text is
        shown as its longest n-gram.
        """
        normalizer = self.pipeline.named_steps["normalize"]
        union = self.pipeline.named_steps["features"]
        clf = self.pipeline.named_steps["clf"]
        normalised = normalizer.transform([text])
        features = union.transform(normalised).tocsr()
        width = features.shape[1]
        if self._adapt is not None:
            features = self._adapt.transform(features)
        proba = clf.predict_proba(features)[0]
        target = int(np.argmax(proba))
        coef = np.asarray(clf.coef_)
        relative = coef[target] - coef.mean(axis=0) if coef.shape[0] > 1 else coef[0]
        names = self._feature_names(normalised[0])
        contributions: dict[str, float] = {}
        row = features.getrow(0)
        for column, value in zip(row.indices.tolist(), row.data.tolist(), strict=True):
            # the corrections' own copy of a feature counts for the same term
            if column >= width:
                column = int(self._adapt.columns_[column - width])
            name = names.get(column)
            if name is None:
                continue
            contributions[name] = contributions.get(name, 0.0) + value * float(relative[column])
        offset = 0
        for _, transformer in union.transformer_list:  # the static vectors, token by token
            block_width = self._block_width(transformer)
            if isinstance(transformer, StaticEmbedding):
                direction = relative[offset : offset + block_width]
                for token, share in transformer.contributions(normalised[0], direction).items():
                    contributions[token] = contributions.get(token, 0.0) + share
            offset += block_width
        ranked = sorted(contributions.items(), key=lambda item: item[1], reverse=True)
        return [(name, round(weight, 4)) for name, weight in ranked[:top]]

    def explain_in_words(self, text: str, top: int = 5) -> list[tuple[str, float]]:
        """The customer's own words that weighed most for the predicted class (`classifier.evidence`)."""
        return evidence.in_words(text, self.explain(text, top=10_000), top=top)

    @staticmethod
    def _block_width(transformer: Any) -> int:
        if isinstance(transformer, CueFeatures | StaticEmbedding):
            return len(transformer.get_feature_names_out())
        return int(transformer.named_steps["hash"].n_features)

    def _feature_names(self, normalised: str) -> dict[int, str]:
        union = self.pipeline.named_steps["features"]
        offsets: dict[str, int] = {}
        offset = 0
        for name, transformer in union.transformer_list:
            offsets[name] = offset
            offset += self._block_width(transformer)
        names: dict[int, str] = {}
        word_hash = union.named_transformers["word"].named_steps["hash"]
        for term, column in word_terms(normalised, word_hash.ngram_max, word_hash.n_features):
            names.setdefault(offsets["word"] + column, term)
        char_hash = union.named_transformers["char"].named_steps["hash"]
        for gram in sorted(
            set(char_ngrams(normalised, char_hash.ngram_min, char_hash.ngram_max)), key=len, reverse=True
        ):
            column = offsets["char"] + ngram_index(gram, char_hash.n_features)
            names.setdefault(column, f"'{gram}'")
        cue_names = union.named_transformers["cues"].get_feature_names_out()
        for index, cue in enumerate(cue_names):
            names[offsets["cues"] + index] = str(cue)
        return names
