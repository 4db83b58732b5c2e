"""Character n-gram vectors of replies (1 to 6 characters, whitespace runs as one space, hashed
into 2^20 columns, L2-normalised): what drafting compares the team's replies by.

The same vectors as scikit-learn's `HashingVectorizer(analyzer="char", ngram_range=(1, 6))` up
to the hash function (cosines within 0.004 on the retailer's replies), computed in numpy for a
whole batch at once: rolling polynomial hashes over the texts' code points, one sort for the
counts. About ten times faster on replies of a few hundred characters, which is what keeps the
adapted past-reply draft inside the intake's budget (docs/experiments/replies.md).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.preprocessing import normalize

N_FEATURES = 2**20
MAX_N = 6
_WHITE = re.compile(r"\s\s+")
_BASE = np.uint64(1_000_003)  # the rolling hash's base (a prime); arithmetic wraps modulo 2^64
_MIX = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: its top bits spread the keys evenly
_SHIFT = np.uint64(64 - 20)


def vectors(texts: Sequence[str]) -> csr_matrix:
    """One L2-normalised row of character n-gram counts per text (a text with no character is
    the zero row)."""
    cleaned = [_WHITE.sub(" ", t) for t in texts]
    lengths = np.array([len(t) for t in cleaned], dtype=np.int64)
    points = np.frombuffer("".join(cleaned).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    total = len(points)
    row_of = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    end_of = np.repeat(np.cumsum(lengths), lengths)  # where each character's text ends
    start = np.arange(total, dtype=np.int64)
    keys = []
    rolling = np.zeros(total, dtype=np.uint64)
    for n in range(1, MAX_N + 1):
        count = total - n + 1
        if count <= 0:
            break
        rolling = rolling[:count] * _BASE + points[n - 1 :]
        inside = start[:count] + n <= end_of[:count]  # the n-gram does not run into the next text
        column = (((rolling[inside] + np.uint64(n)) * _MIX) >> _SHIFT).astype(np.int64)
        keys.append(row_of[:count][inside] * N_FEATURES + column)
    found = np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)
    unique, counts = np.unique(found, return_counts=True)
    rows = unique // N_FEATURES
    matrix = csr_matrix(
        (
            counts.astype(np.float64),
            (unique % N_FEATURES).astype(np.int32),
            np.searchsorted(rows, np.arange(len(texts) + 1)),
        ),
        shape=(len(texts), N_FEATURES),
    )
    normalized: csr_matrix = normalize(matrix)
    return normalized


def stack(rows: Sequence[tuple[np.ndarray, np.ndarray]]) -> csr_matrix:
    """The rows (each its column indices and values, as `split` gives them) as one matrix."""
    lengths = [len(indices) for indices, _ in rows]
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    indices = np.concatenate([i for i, _ in rows]) if rows else np.zeros(0, dtype=np.int32)
    data = np.concatenate([d for _, d in rows]) if rows else np.zeros(0)
    return csr_matrix((data, indices, indptr), shape=(len(rows), N_FEATURES))


def split(matrix: csr_matrix) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each row's column indices and values (copies, to be kept apart from the matrix)."""
    bounds = matrix.indptr
    return [
        (matrix.indices[bounds[r] : bounds[r + 1]].copy(), matrix.data[bounds[r] : bounds[r + 1]].copy())
        for r in range(matrix.shape[0])
    ]


_scratch = threading.local()


def mean_cosines(rows: csr_matrix, others: csr_matrix) -> np.ndarray:
    """Each row's mean cosine to the rows of `others` (all L2-normalised): its dot product with
    their mean, gathered from a dense scratch row (a product with `others.T` would first build a
    2^20-row index). The scratch is this thread's, zeroed again after use."""
    dense = getattr(_scratch, "row", None)
    if dense is None:
        dense = _scratch.row = np.zeros(N_FEATURES)
    np.add.at(dense, others.indices, others.data)
    products = rows.data * dense[rows.indices]
    dense[others.indices] = 0.0
    owner = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
    sums: np.ndarray = np.bincount(owner, weights=products, minlength=rows.shape[0])
    means: np.ndarray = sums / max(others.shape[0], 1)
    return means
