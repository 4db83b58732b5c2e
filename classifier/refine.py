"""The refining head: a second opinion on a message's category from the contextual encoder.

At intake the fast pipeline (n-grams, cues) sorts a message in microseconds. The refine pass
then reads it with the encoder (`classifier.encoder`) and asks this head, a multinomial logistic
regression over the 384-dimensional embedding trained on the same rows and weights as the
pipeline; the two opinions are pooled in log space,

    log p = FAST_WEIGHT * log p_fast + (1 - FAST_WEIGHT) * log p_head  (+ the complaint bias)

renormalised. The encoder transfers to traffic unlike the training sources far better than the
n-grams (docs/experiments/triage.md).

The reviewers' corrections teach the head the way they teach the pipeline (`classifier.adapt`):
the head sees [e, scale * g(x) * (e - m)], with the pipeline's own domain gate g(x) and scale, m
the reviewers' mean embedding, so the corrections train weights of their own that speak only
where traffic looks like theirs.

The head is saved beside the pipeline as `<version>/refine.npz` (arrays only, no pickle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from classifier.adapt import neutralise_absent
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
# Whether the head trains on the reviewers' corrections too, in its own copy of the embedding
# gated like the pipeline's. Without a gate, the corrections (at their weight of 250 shipped rows)
# moved the shipped held-out rows by -0.012 to -0.018 (docs/experiments/learning.md).
HEAD_LEARNS_CORRECTIONS = True


@dataclass(frozen=True, slots=True)
class RefineHead:
    coef: np.ndarray  # (classes, dimensions), classes in CATEGORIES order
    intercept: np.ndarray  # (classes,)
    fast_weight: float = FAST_WEIGHT
    temperature: float = HEAD_TEMPERATURE
    complaint_bias: float = HEAD_COMPLAINT_BIAS
    # The corrections' own weights (classes, dimensions) and intercept (classes,), both or
    # neither, the copy's scale and centring folded in: they add
    # g(x) * (e @ domain_coef.T + domain_intercept) to the scores, g(x) the pipeline's domain gate.
    domain_coef: np.ndarray | None = None
    domain_intercept: np.ndarray | None = None

    def head_log_proba(self, embeddings: np.ndarray, gate: np.ndarray | None = None) -> np.ndarray:
        z = embeddings @ self.coef.T + self.intercept
        if self.domain_coef is not None and self.domain_intercept is not None and gate is not None:
            z = z + gate[:, None] * (embeddings @ self.domain_coef.T + self.domain_intercept)
        return _log_softmax(z / self.temperature)

    def proba(
        self, fast_proba: np.ndarray, embeddings: np.ndarray, gate: np.ndarray | None = None
    ) -> np.ndarray:
        """Pooled probabilities (n, classes) from the pipeline's and the embeddings', the
        corrections' weights counting by the domain gate `gate` (none: not at all)."""
        z = self.fast_weight * np.log(np.clip(fast_proba, 1e-12, 1.0)) + (
            1.0 - self.fast_weight
        ) * self.head_log_proba(embeddings, gate)
        z[:, CATEGORIES.index("complaint")] += self.complaint_bias
        return np.asarray(np.exp(_log_softmax(z)))

    def save(self, directory: Path) -> None:
        arrays = {
            "coef": self.coef.astype(np.float32),
            "intercept": self.intercept.astype(np.float32),
            "params": np.asarray([self.fast_weight, self.temperature, self.complaint_bias], dtype=np.float64),
        }
        if self.domain_coef is not None and self.domain_intercept is not None:
            arrays["domain_coef"] = self.domain_coef.astype(np.float32)
            arrays["domain_intercept"] = self.domain_intercept.astype(np.float32)
        np.savez(directory / HEAD_FILE, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, directory: Path) -> RefineHead | None:
        path = directory / HEAD_FILE
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as f:
            coef, intercept, params = f["coef"], f["intercept"], f["params"]
            domain_coef = f["domain_coef"] if "domain_coef" in f.files else None
            domain_intercept = f["domain_intercept"] if "domain_intercept" in f.files else None
        if coef.shape[0] != len(CATEGORIES) or intercept.shape != (len(CATEGORIES),) or params.shape != (3,):
            raise ValueError(f"{path}: not a refining head for {CATEGORIES}")
        if domain_coef is not None and domain_coef.shape != coef.shape:
            raise ValueError(f"{path}: the corrections' weights do not match the head's")
        if (domain_coef is None) != (domain_intercept is None) or (
            domain_intercept is not None and domain_intercept.shape != intercept.shape
        ):
            raise ValueError(f"{path}: the corrections' intercept does not match the head's")
        fast_weight, temperature, bias = (float(v) for v in params)
        return cls(coef, intercept, fast_weight, temperature, bias, domain_coef, domain_intercept)


def fit_head(
    embeddings: np.ndarray,
    labels: Sequence[str],
    weights: np.ndarray,
    *,
    domain: np.ndarray | None = None,
    scale: float = 1.0,
    C: float = HEAD_C,
) -> RefineHead:
    """A head fitted on the rows' embeddings with the pipeline's sample weights.

    `domain` (per row, 0 for the shipped rows and 1 for the corrections) trains the corrections'
    own copy of the embedding, [e, scale * domain * (e - m)] with m the corrections' mean
    embedding, as `classifier.adapt` does for the pipeline (`neutralise_absent` included); the
    copy's weights come back with the scale and the centring folded in, ready for g(x)."""
    x = np.asarray(embeddings, dtype=np.float32)
    width = x.shape[1]
    d = np.zeros(len(x), dtype=np.float32) if domain is None else np.asarray(domain, dtype=np.float32)
    copy = bool(np.any(d))
    if copy:
        mean = x[d > 0].mean(axis=0)
        x = np.hstack([x, (scale * d)[:, None] * (x - mean)])
    clf = LogisticRegression(C=C, max_iter=2000)
    clf.fit(x, list(labels), sample_weight=weights)
    order = [list(clf.classes_).index(c) for c in CATEGORIES]
    coef = np.asarray(clf.coef_, dtype=np.float32)[order]
    intercept = np.asarray(clf.intercept_, dtype=np.float32)[order]
    if not copy:
        return RefineHead(coef, intercept)
    taught = [label for label, row_d in zip(labels, d, strict=True) if row_d > 0]
    own = scale * neutralise_absent(coef[:, width:], CATEGORIES, taught)
    return RefineHead(coef[:, :width], intercept, domain_coef=own, domain_intercept=-(own @ mean))


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
