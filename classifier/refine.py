"""The refining head: a second opinion on a message's category from the contextual encoder.

At intake the fast pipeline (n-grams, cues) sorts a message in microseconds. The refine pass
then reads it with the encoder (`classifier.encoder`) and asks this head, a multinomial logistic
regression over the 384-dimensional embedding trained on the same rows and weights as the
pipeline; the two opinions are pooled in log space,

    log p = FAST_WEIGHT * log p_fast + (1 - FAST_WEIGHT) * log p_head  (+ the complaint bias)

renormalised. The encoder transfers to traffic unlike the training sources far better than the
n-grams (docs/experiments/triage.md), and pooling keeps what the pipeline learnt from the
reviewers' corrections (the head is trained on the shipped rows only: `HEAD_LEARNS_CORRECTIONS`).

The head is saved beside the pipeline as `<version>/refine.npz` (arrays only, no pickle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from classifier.data import CATEGORIES
from classifier.encoder import EmbeddingCache, Encoder

if TYPE_CHECKING:
    from classifier.model import Prediction, TriageModel

HEAD_FILE = "refine.npz"
# Chosen on the shipped held-out rows and the leave-one-source-out runs (docs/experiments/triage.md).
HEAD_C = 4.0
FAST_WEIGHT = 0.6
HEAD_TEMPERATURE = 1.5
HEAD_COMPLAINT_BIAS = 0.35
# Whether the head trains on the reviewers' corrections too. It has no domain gate: with them (at
# their weight of 250 shipped rows) it moved the shipped held-out rows by -0.012 to -0.018 and the
# gate refused every candidate of the learning curve (docs/experiments/learning.md).
HEAD_LEARNS_CORRECTIONS = False


@dataclass(frozen=True, slots=True)
class RefineHead:
    coef: np.ndarray  # (classes, dimensions), classes in CATEGORIES order
    intercept: np.ndarray  # (classes,)
    fast_weight: float = FAST_WEIGHT
    temperature: float = HEAD_TEMPERATURE
    complaint_bias: float = HEAD_COMPLAINT_BIAS

    def head_log_proba(self, embeddings: np.ndarray) -> np.ndarray:
        z = (embeddings @ self.coef.T + self.intercept) / self.temperature
        return _log_softmax(z)

    def proba(self, fast_proba: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
        """Pooled probabilities (n, classes) from the pipeline's and the embeddings'."""
        z = self.fast_weight * np.log(np.clip(fast_proba, 1e-12, 1.0)) + (
            1.0 - self.fast_weight
        ) * self.head_log_proba(embeddings)
        z[:, CATEGORIES.index("complaint")] += self.complaint_bias
        return np.asarray(np.exp(_log_softmax(z)))

    def save(self, directory: Path) -> None:
        np.savez(
            directory / HEAD_FILE,
            coef=self.coef.astype(np.float32),
            intercept=self.intercept.astype(np.float32),
            params=np.asarray([self.fast_weight, self.temperature, self.complaint_bias], dtype=np.float64),
        )

    @classmethod
    def load(cls, directory: Path) -> RefineHead | None:
        path = directory / HEAD_FILE
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as f:
            coef, intercept, params = f["coef"], f["intercept"], f["params"]
        if coef.shape[0] != len(CATEGORIES) or intercept.shape != (len(CATEGORIES),) or params.shape != (3,):
            raise ValueError(f"{path}: not a refining head for {CATEGORIES}")
        return cls(coef, intercept, float(params[0]), float(params[1]), float(params[2]))


def fit_head(
    embeddings: np.ndarray, labels: Sequence[str], weights: np.ndarray, *, C: float = HEAD_C
) -> RefineHead:
    """A head fitted on the rows' embeddings with the pipeline's sample weights."""
    clf = LogisticRegression(C=C, max_iter=2000)
    clf.fit(embeddings, list(labels), sample_weight=weights)
    order = [list(clf.classes_).index(c) for c in CATEGORIES]
    return RefineHead(
        np.asarray(clf.coef_, dtype=np.float32)[order], np.asarray(clf.intercept_, dtype=np.float32)[order]
    )


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return np.asarray(z - np.log(np.exp(z).sum(axis=1, keepdims=True)))


class Refined:
    """A model read the way the refine pass reads it: `predict_proba` and `predict` pool the
    pipeline with the head on the texts' embeddings (from `cache`, encoding what it lacks).
    What evaluation, the promotion gate and `relais classify` measure when a model has a head."""

    def __init__(self, model: TriageModel, cache: EmbeddingCache, encoder: Encoder | None = None) -> None:
        if model.head is None:
            raise ValueError(f"model {model.version} has no refining head")
        self.model = model
        self.cache = cache
        self.encoder = encoder

    @property
    def version(self) -> str:
        return self.model.version

    @property
    def metadata(self) -> dict[str, Any]:
        return self.model.metadata

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        clean = [t if isinstance(t, str) else "" for t in texts]
        return self.model.refined_proba(clean, self.cache.embeddings(clean, self.encoder))

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        clean = [t if isinstance(t, str) else "" for t in texts]
        return self.model.predict(clean, self.cache.embeddings(clean, self.encoder))


def reading(model: TriageModel, cache: EmbeddingCache | None) -> TriageModel | Refined:
    """The model as reviewers end up seeing it: refined when it has a head and a cache is given."""
    return Refined(model, cache) if model.head is not None and cache is not None else model
