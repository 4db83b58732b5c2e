"""Static token vectors distilled from a multilingual sentence encoder, as a pipeline step.

A message's vector is the weighted mean of its tokens' vectors, scaled to unit length: the
vectors come from multilingual-e5-small (each token embedded alone, PCA-reduced, weighted by
word frequency: `classifier.distil`), so "coupure", "panne" and "outage" are neighbours
although no training row says so. That is what lets a complaint in French be recognised from
complaints written in English, and a customer's word the training data never used still count.

The vectors ship in `classifier/vectors/` (`tokens.txt`, `vectors.npy` int8 and `scales.npy`,
one float per dimension, loaded without pickle) and are copied into each fitted model, so an artifact
is self-contained. Looking a message up costs microseconds; the encoder is never run here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

VECTORS_DIR = Path(__file__).resolve().parent / "vectors"
TOKENS_FILE = "tokens.txt"
VECTORS_FILE = "vectors.npy"
SCALES_FILE = "scales.npy"
# The tokens the vectors are keyed by, in normalised text (`classifier.text`): words, and single
# symbols (emoji, "?", "!") that the encoder reads as meaning.
TOKEN = re.compile(r"\w+|[^\w\s]")


def load_shipped_vectors(directory: Path | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tokens as a unicode array, int8 codes, float32 scale per dimension) from the shipped
    files; no pickle. A token's vector is codes[i] * scales."""
    directory = directory or VECTORS_DIR
    tokens = (directory / TOKENS_FILE).read_text(encoding="utf-8").split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    codes = np.load(directory / VECTORS_FILE, allow_pickle=False)
    scales = np.load(directory / SCALES_FILE, allow_pickle=False)
    if codes.dtype != np.int8 or codes.shape[0] != len(tokens) or scales.shape != (codes.shape[1],):
        raise ValueError(f"{directory}: {len(tokens)} tokens, vectors {codes.shape}, scales {scales.shape}")
    return np.asarray(tokens), codes, scales.astype(np.float32)


class StaticEmbedding(TransformerMixin, BaseEstimator):
    """Normalised text -> the unit-length mean of its known tokens' vectors, times `weight`.

    `fit` copies the shipped vectors (`classifier/vectors/`, int8 codes and scales) into the step
    (`tokens_`, `codes_`, `scales_`), so a saved model does not depend on the files it was trained
    with. The token index and the float32 vectors are rebuilt on first use and never saved. A
    message with no known token is the zero vector.
    """

    def __init__(self, weight: float = 1.0) -> None:
        self.weight = weight

    def fit(self, X: Iterable[str], y: object = None) -> StaticEmbedding:
        self.tokens_, self.codes_, self.scales_ = load_shipped_vectors()
        return self

    def _tables(self) -> tuple[dict[str, int], np.ndarray]:
        tables: tuple[dict[str, int], np.ndarray] | None = getattr(self, "_cache", None)
        if tables is None:
            index = {str(token): i for i, token in enumerate(self.tokens_.tolist())}
            tables = (index, self.codes_.astype(np.float32) * self.scales_)
            self._cache = tables
        return tables

    def __getstate__(self) -> dict[str, object]:
        state: dict[str, object] = dict(super().__getstate__())
        state.pop("_cache", None)
        return state

    @property
    def width(self) -> int:
        return int(self.codes_.shape[1])

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray([f"emb:{i}" for i in range(self.width)], dtype=object)

    def token_ids(self, X: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """(vector row of every known token, in order; number of known tokens per message)."""
        index = self._tables()[0]
        ids: list[int] = []
        counts: list[int] = []
        for text in X:
            before = len(ids)
            ids.extend(i for i in map(index.get, TOKEN.findall(text)) if i is not None)
            counts.append(len(ids) - before)
        return np.asarray(ids, dtype=np.int64), np.asarray(counts, dtype=np.int64)

    def dense(self, X: Iterable[str]) -> np.ndarray:
        """The embedding of each normalised text, as a dense (messages x width) float64 array."""
        ids, counts = self.token_ids(X)
        out = np.zeros((counts.shape[0], self.width), dtype=np.float64)
        if ids.shape[0]:
            has = counts > 0
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[has]
            out[has] = np.add.reduceat(self._tables()[1][ids], starts, axis=0)
            norms = np.linalg.norm(out, axis=1)
            norms[norms == 0.0] = 1.0
            out /= norms[:, None]
        out *= self.weight
        return out

    def transform(self, X: Iterable[str]) -> sp.csr_matrix:
        return sp.csr_matrix(self.dense(X))

    def contributions(self, text: str, direction: np.ndarray) -> dict[str, float]:
        """How much each known token of one normalised text moves `direction` (a vector of the
        embedding's width): its share of the unit-length mean, dotted with `direction`."""
        index, vectors = self._tables()
        tokens = [t for t in TOKEN.findall(text) if t in index]
        if not tokens:
            return {}
        rows = vectors[[index[t] for t in tokens]].astype(np.float64)
        norm = float(np.linalg.norm(rows.sum(axis=0))) or 1.0
        out: dict[str, float] = {}
        for token, share in zip(tokens, (rows @ direction) * (self.weight / norm), strict=True):
            out[token] = out.get(token, 0.0) + float(share)
        return out
