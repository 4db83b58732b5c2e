"""Sentence vectors for matching short texts by meaning, from the shipped static token vectors.

    .venv/bin/python -m classifier.sentence build     # -> classifier/vectors/sentence.npz

A text's vector is the sum of its tokens' vectors (`classifier/vectors/`, already weighted by
word frequency), minus the background mean, whitened (PCA whitening with a floor on the
variances) and scaled to unit length: the directions every sentence shares (greetings, the
language, "I", "my") stop dominating the cosine, so two ways of asking the same thing come
closer than two questions sharing only their function words.

The statistics (`sentence.npz`: `mean`, `whiten`) are computed by `build` from the shippable
training rows of `data/` except banking77 (the set the knowledge-base matching is measured on):
licence-clean text, read deterministically; the file is written with fixed zip timestamps, so the
same inputs give the same bytes.
"""

from __future__ import annotations

import argparse
import functools
import io
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from classifier.embedding import TOKEN, VECTORS_DIR, load_shipped_vectors
from classifier.text import normalize_batch

STATS_FILE = VECTORS_DIR / "sentence.npz"
EXCLUDED_SOURCES = frozenset({"banking77"})
# Added to every variance before whitening, as a share of the largest: without it the noisiest
# rare directions would weigh as much as the ones sentences differ along.
VARIANCE_FLOOR = 0.02


class TokenSums:
    """Texts -> the unit-length sum of their known tokens' vectors (int8 codes kept as shipped)."""

    def __init__(self, vectors_dir: Path | None = None) -> None:
        tokens, self.codes, self.scales = load_shipped_vectors(vectors_dir)
        self.index = {str(t): i for i, t in enumerate(tokens.tolist())}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.codes.shape[1]), dtype=np.float32)
        for row, text in enumerate(normalize_batch(texts)):
            ids = [i for i in map(self.index.get, TOKEN.findall(text)) if i is not None]
            if ids:
                out[row] = self.codes[ids].sum(axis=0, dtype=np.int32) * self.scales
        return _unit(out)


class SentenceEncoder:
    """Texts -> unit-length whitened sentence vectors (float32); a text with no known token is
    the zero vector."""

    def __init__(self, stats_file: Path | None = None) -> None:
        self.tokens = TokenSums()
        with np.load(stats_file or STATS_FILE, allow_pickle=False) as stats:
            self.mean = stats["mean"].astype(np.float32)
            self.whiten = stats["whiten"].astype(np.float32)

    @property
    def width(self) -> int:
        return int(self.whiten.shape[1])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The sentence vector of each text (rows of unit length, zero for no known token)."""
        raw = self.tokens(texts)
        known = np.any(raw != 0.0, axis=1)
        out = np.zeros((len(texts), self.width), dtype=np.float32)
        out[known] = _unit((raw[known] - self.mean) @ self.whiten)
        return out


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0.0] = 1.0
    out: np.ndarray = matrix / norms
    return out


@functools.cache
def shipped() -> SentenceEncoder:
    """The encoder over the shipped vectors and statistics, loaded once per process."""
    return SentenceEncoder()


def statistics(texts: Sequence[str], floor: float = VARIANCE_FLOOR) -> tuple[np.ndarray, np.ndarray]:
    """(mean, whitening matrix) of the texts' raw sentence vectors."""
    raw = TokenSums()(texts).astype(np.float64)
    raw = raw[np.any(raw != 0.0, axis=1)]
    mean = raw.mean(axis=0)
    variances, axes = np.linalg.eigh(np.cov((raw - mean).T))
    variances = np.maximum(variances, 0.0)
    whiten = axes / np.sqrt(variances + floor * variances.max())
    return mean.astype(np.float32), whiten.astype(np.float32)


def write_stats(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An .npz (readable by `np.load`) whose bytes depend only on the arrays."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in sorted(arrays.items()):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())


def background_texts(data_dir: Path) -> list[str]:
    """The shippable training texts the statistics are computed from (never banking77)."""
    from classifier.data import load_training_rows

    return [r.text for r in load_training_rows(data_dir) if r.source not in EXCLUDED_SOURCES]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("step", choices=["build"])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / "data")
    parser.add_argument("--floor", type=float, default=VARIANCE_FLOOR)
    parser.add_argument("--out", type=Path, default=STATS_FILE)
    args = parser.parse_args()
    texts = background_texts(args.data)
    mean, whiten = statistics(texts, args.floor)
    write_stats(args.out, {"mean": mean, "whiten": whiten})
    print(f"{args.out}: statistics of {len(texts)} texts, {whiten.shape[0]} dimensions", file=sys.stderr)


if __name__ == "__main__":
    main()
