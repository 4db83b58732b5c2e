"""The variants of knowledge-base matching tried for issue 18, on banking77 (docs/experiments/replies.md).

    .venv/bin/python bench/answer_matching.py              # the train split (where choices were made)
    .venv/bin/python bench/answer_matching.py --split test
    .venv/bin/python bench/answer_matching.py --encoder --sample 1500   # + the refine pass's encoder
    .venv/bin/python bench/answer_matching.py --split test --received   # adapting to unlabelled traffic

Each line is the top-1 accuracy of the answer with the best score (no threshold) for the team's
knowledge base (`bench/data/banking77_answers.json`) over the split's queries
(`../shared/data/banking77.csv`). The statistics never see a banking77 row: the background is
`classifier.sentence.background_texts` (shipped `data/` without banking77), the within-intent
variant uses clinc150's intents (shipped, `data/clinc150.csv`).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.drafts import similar  # noqa: E402
from classifier import sentence  # noqa: E402
from classifier.embedding import TOKEN  # noqa: E402
from classifier.text import normalize_batch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--split", default="train", choices=["train", "test"])
    parser.add_argument("--encoder", action="store_true", help="also multilingual-e5-small (minutes)")
    parser.add_argument("--sample", type=int, default=0, help="only this many queries (a fixed sample)")
    parser.add_argument(
        "--received",
        action="store_true",
        help="only the variants that adapt to the other split's queries, read as unlabelled received traffic",
    )
    args = parser.parse_args()
    kb = json.loads((ROOT / "bench" / "data" / "banking77_answers.json").read_text(encoding="utf-8"))
    with (DATA / "banking77.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    queries = [r for r in rows if r["split"] == args.split]
    if args.sample:
        queries = [
            queries[i] for i in sorted(np.random.default_rng(0).permutation(len(queries))[: args.sample])
        ]
    intents = [a["intent"] for a in kb]
    gold = np.asarray([intents.index(r["label_orig"]) for r in queries])
    if args.received:
        traffic = [r["text"] for r in rows if r["split"] != args.split]
        adapted_to(kb, [r["text"] for r in queries], gold, traffic)
        return
    points = [t for a in kb for t in [a["title"], *a["examples"]]]
    owners = np.repeat(np.arange(len(kb)), [1 + len(a["examples"]) for a in kb])
    texts = [r["text"] for r in queries]
    background = sentence.background_texts(ROOT / "data")
    sums = sentence.TokenSums()

    def per_answer(scores: np.ndarray) -> np.ndarray:
        out = np.full((scores.shape[0], len(kb)), -1.0)
        np.maximum.at(out.T, owners, scores.T)
        return out

    def accuracy(scores: np.ndarray) -> float:
        return float((scores.argmax(axis=1) == gold).mean())

    words_index = similar.TextIndex()
    for t in points:
        words_index.add(t)
    words = np.zeros((len(texts), len(kb)))
    for k, q in enumerate(texts):
        rows, found = words_index.scores(q)
        np.maximum.at(words[k], owners[rows], np.minimum(found, 1.0))
    print(f"words only (TF-IDF, nearest title or example; the matcher before): {accuracy(words):.3f}")

    def whitened(embed: Callable[[list[str]], np.ndarray], floor: float) -> tuple[np.ndarray, np.ndarray]:
        raw = embed(background).astype(np.float64)
        mean = raw.mean(axis=0)
        variances, axes = np.linalg.eigh(np.cov((raw - mean).T))
        w = axes / np.sqrt(np.maximum(variances, 0.0) + floor * variances.max())
        return normalize((embed(points) - mean) @ w), normalize((embed(texts) - mean) @ w)

    def mixes(p: np.ndarray, q: np.ndarray, label: str) -> None:
        cos = q @ p.T
        nearest = per_answer(cos)
        centroids = np.zeros((len(kb), p.shape[1]))
        np.add.at(centroids, owners, p)
        centre = q @ normalize(centroids).T
        cells = []
        for wc in (0.0, 0.5, 0.7, 1.0):
            for ww in (0.0, 0.2, 0.3):
                meaning = wc * centre + (1 - wc) * nearest
                cells.append(
                    f"c{wc:.1f}/w{ww:.1f} {accuracy((1 - ww) * np.maximum(meaning, 0) + ww * words):.3f}"
                )
        print(f"{label}: " + ", ".join(cells))

    raw_p, raw_q = sums(points), sums(texts)
    if args.encoder:  # the contextual encoder the refine pass reads messages with
        from classifier.encoder import Encoder

        encoder = Encoder(threads=None)
        ep, eq = encoder.embed(points), encoder.embed(texts)
        mixes(ep, eq, "multilingual-e5-small alone")
        sp, sq = whitened(sums, 0.02)
        centroids = np.zeros((len(kb), sp.shape[1]))
        np.add.at(centroids, owners, sp)
        shipped = 0.7 * (sq @ normalize(centroids).T) + 0.3 * per_answer(sq @ sp.T)
        e_centroids = np.zeros((len(kb), ep.shape[1]))
        np.add.at(e_centroids, owners, ep)
        e5 = 0.7 * (eq @ normalize(e_centroids).T) + 0.3 * per_answer(eq @ ep.T)
        for we in (0.3, 0.5, 0.7):
            mixed = 0.8 * ((1 - we) * np.maximum(shipped, 0) + we * np.maximum(e5, 0)) + 0.2 * words
            print(f"shipped score with e5's meaning mixed in at {we}: {accuracy(mixed):.3f}")
    mixes(raw_p, raw_q, "token sum, not centred (c: centroid weight, w: words weight)")
    for floor in (1.0, 0.05, 0.02, 0.005, 0.0):
        p, q = whitened(sums, floor)
        mixes(p, q, f"centred, whitened, variance floor {floor}")

    # IDF over the background on top of the vectors' own frequency weights
    df: dict[str, int] = {}
    for t in normalize_batch(background):
        for token in set(TOKEN.findall(t)):
            df[token] = df.get(token, 0) + 1

    def idf_sums(batch: list[str]) -> np.ndarray:
        out = np.zeros((len(batch), sums.codes.shape[1]), dtype=np.float32)
        for row, t in enumerate(normalize_batch(batch)):
            for token in TOKEN.findall(t):
                i = sums.index.get(token)
                if i is not None:
                    out[row] += (
                        sums.codes[i] * sums.scales * math.log((len(background) + 1) / (df.get(token, 0) + 1))
                    )
        return normalize(out)

    p, q = whitened(idf_sums, 0.02)
    mixes(p, q, "IDF-weighted tokens, floor 0.02")

    # within-intent whitening learnt on clinc150's intents (an LDA-like metric)
    with (ROOT / "data" / "clinc150.csv").open(encoding="utf-8") as f:
        clinc = [r for r in csv.DictReader(f) if r["label_orig"] != "oos"]
    x = sums([r["text"] for r in clinc]).astype(np.float64)
    _, labels = np.unique([r["label_orig"] for r in clinc], return_inverse=True)
    mean = x.mean(axis=0)
    centred = x - mean
    means = np.zeros((labels.max() + 1, x.shape[1]))
    np.add.at(means, labels, centred)
    means /= np.bincount(labels)[:, None]
    within = (centred - means[labels]).T @ (centred - means[labels]) / len(x)
    for shrink in (0.05, 0.3):
        s = (1 - shrink) * within + shrink * np.trace(within) / within.shape[0] * np.eye(within.shape[0])
        e, u = np.linalg.eigh(s)
        w = u / np.sqrt(e)
        mixes(
            normalize((raw_p - mean) @ w),
            normalize((raw_q - mean) @ w),
            f"within-intent (clinc150) whitening, shrink {shrink}",
        )

    # the answer's body as one more point; character n-grams beside the words
    pb, qb = whitened(sums, 0.02)
    raw = sums(background).astype(np.float64)
    m = raw.mean(axis=0)
    variances, axes = np.linalg.eigh(np.cov((raw - m).T))
    w = axes / np.sqrt(variances + 0.02 * variances.max())
    body = normalize((sums([a["body"] for a in kb]) - m) @ w)
    nearest = per_answer(qb @ pb.T)
    centroids = np.zeros((len(kb), pb.shape[1]))
    np.add.at(centroids, owners, pb)
    meaning = 0.7 * (qb @ normalize(centroids).T) + 0.3 * nearest
    for wb in (0.1, 0.2):
        mixed = (1 - wb) * meaning + wb * (qb @ body.T)
        print(f"body as a point, weight {wb}: {accuracy(0.7 * np.maximum(mixed, 0) + 0.3 * words):.3f}")
    # a classifier of the knowledge base's own points (title and examples, whitened as shipped):
    # its probability alone and mixed into the shipped score
    shipped = 0.8 * np.maximum(meaning, 0) + 0.2 * words
    for name, fitted in [
        *((f"logistic regression C {c}", LogisticRegression(C=c, max_iter=3000)) for c in (1.0, 10.0, 30.0)),
        *(
            (f"LDA shrinkage {sh}", LinearDiscriminantAnalysis(solver="eigen", shrinkage=sh))
            for sh in (0.3, 0.6)
        ),
    ]:
        proba = fitted.fit(pb, owners).predict_proba(qb)
        mixed = ", ".join(f"{a}: {accuracy((1 - a) * shipped + a * proba):.3f}" for a in (0.2, 0.5))
        print(f"{name} on the answers' points: alone {accuracy(proba):.3f}; mixed in at {mixed}")
    for ngrams in ((2, 4), (3, 5)):
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=ngrams, sublinear_tf=True, min_df=2)
        chars.fit(normalize_batch(background + points))
        c = per_answer(
            (chars.transform(normalize_batch(texts)) @ chars.transform(normalize_batch(points)).T).toarray()
        )
        print(
            f"character {ngrams} n-grams: alone {accuracy(c):.3f}; "
            f"with meaning 0.7 and words 0.15 + chars 0.15 "
            f"{accuracy(0.7 * np.maximum(meaning, 0) + 0.15 * words + 0.15 * c):.3f}; "
            f"words 0.3 + chars 0.1 {accuracy(0.6 * np.maximum(meaning, 0) + 0.3 * words + 0.1 * c):.3f}"
        )


def adapted_to(kb: list[dict[str, Any]], texts: list[str], gold: np.ndarray, traffic: list[str]) -> None:
    """Two ways of using unlabelled received messages, through the shipped `AnswerIndex`:
    whitening statistics re-estimated on them, and self-training (the received messages the
    knowledge base matches surely, score >= t and ahead of the second answer by >= m, learned
    as uses of that answer, as an approved draft's message is)."""

    def index(encoder: sentence.SentenceEncoder | None = None) -> similar.AnswerIndex:
        built = similar.AnswerIndex(encoder)
        built.build(
            (similar.AnswerRow(i, 1, a["title"], a["body"], "en", None), list(a["examples"]))
            for i, a in enumerate(kb)
        )
        return built

    def scores(built: similar.AnswerIndex, batch: list[str]) -> np.ndarray:
        ranked = [dict((a.id, s) for a, s in built.ranked(t, "en", top=len(kb))) for t in batch]
        return np.asarray([[r.get(i, 0.0) for i in range(len(kb))] for r in ranked])

    def accuracy(s: np.ndarray) -> str:
        return f"{float((s.argmax(axis=1) == gold).mean()):.3f}"

    print(f"as written: {accuracy(scores(index(), texts))}")
    background = sentence.background_texts(ROOT / "data")
    for name, stats_texts in [
        (f"{len(traffic)} received", traffic),
        ("500 received", traffic[:500]),
        ("background + received", background + traffic),
    ]:
        encoder = sentence.SentenceEncoder()
        encoder.mean, encoder.whiten = sentence.statistics(stats_texts)
        print(f"whitening statistics of {name}: {accuracy(scores(index(encoder), texts))}")
    first = scores(index(), traffic)
    top = np.sort(first, axis=1)
    for threshold, margin in [(0.0, 0.0), (0.4, 0.05), (0.5, 0.05), (0.4, 0.1)]:
        sure = np.flatnonzero((top[:, -1] >= threshold) & (top[:, -1] - top[:, -2] >= margin))
        learned = index()
        learned.learn((int(first[k].argmax()), traffic[k]) for k in sure)
        print(
            f"self-trained on the received it is sure of (score >= {threshold}, margin >= {margin}): "
            f"{len(sure)} learned, {accuracy(scores(learned, texts))}"
        )


if __name__ == "__main__":
    main()
