"""Quality of the shipped triage model on data it never trained on.

    .venv/bin/python bench/classifier_quality.py [--models models] [--shared ../shared/data] [--dev]

Per source of the shared public data (all seven) and the team's own social data:
- shipped sources (tizard, miam, banking77, clinc150, relais_social): their fixed held-out split;
- development-only sources (scalabrino, semeval, dailydialog): every labelled row, since the
  shipped model never sees them (licences) — they measure generalisation to new domains.
Macro-F1 and per-class F1 are over the classes that source labels. SemEval-2019 Task 9 is scored as
its task defines it: F1 of the suggestion class, suggestion vs not (empty label4 = not).

--dev also trains a DEVELOPMENT-ONLY variant that adds the dev-only sets' own training parts
(scalabrino hash-train split, semeval A_train with non-suggestions as "other", dailydialog dev) and
reports it beside the shipped model. That variant can never ship; it is a figure only.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sklearn.metrics import f1_score  # noqa: E402

from classifier import CATEGORIES, TriageModel, load_current  # noqa: E402
from classifier.data import (  # noqa: E402
    DEV_ONLY,
    SHIPPED_PUBLIC,
    SOCIAL_SOURCE,
    Row,
    is_test,
    load_public,
    load_training_rows,
    split_rows,
)

TARGETS = {
    "semeval A suggestion F1": 0.78,
    "semeval B suggestion F1": 0.86,
    "complaint F1 (social)": 0.80,
    "macro-F1 EN (social)": 0.85,
    "macro-F1 FR (social)": 0.80,
}


def scores(model: TriageModel, rows: Sequence[Row]) -> tuple[float, dict[str, float]]:
    pred = [CATEGORIES[i] for i in model.predict_proba([r.text for r in rows]).argmax(axis=1)]
    gold = [r.label for r in rows]
    labels = [c for c in CATEGORIES if c in set(gold)]
    per_class = f1_score(gold, pred, labels=labels, average=None, zero_division=0)
    return float(per_class.mean()), dict(zip(labels, map(float, per_class), strict=True))


def semeval(model: TriageModel, path: Path, splits: Sequence[str]) -> tuple[int, float]:
    with path.open(newline="", encoding="utf-8") as handle:
        records = [r for r in csv.DictReader(handle) if r["split"] in splits]
    proba = model.predict_proba([r["text"] for r in records])
    pred = [CATEGORIES[i] == "suggestion" for i in proba.argmax(axis=1)]
    gold = [r["label4"] == "suggestion" for r in records]
    return len(records), float(f1_score(gold, pred, zero_division=0))


def evaluate(model: TriageModel, shared: Path, own: list[Row], dev_trained: bool) -> dict[str, float]:
    """Print one table for `model`; return the target figures."""
    print(f"\n{'source':<30}{'rows':>7}{'macro-F1':>10}  per-class F1")
    _, own_test = split_rows(own)
    groups: dict[str, list[Row]] = {}
    for name, filename in SHIPPED_PUBLIC.items():
        groups[f"{name} (held-out)"] = [r for r in load_public(shared / filename) if is_test(r)]
    groups[f"{SOCIAL_SOURCE} (held-out)"] = [r for r in own_test if r.source == SOCIAL_SOURCE]
    for name, filename in DEV_ONLY.items():
        rows = load_public(shared / filename)
        if name == "semeval2019t9":
            continue
        if dev_trained:
            rows = [r for r in rows if is_test(r)] if name == "scalabrino2017_clap" else rows
            if name == "dailydialog_acts":
                rows = [r for r in rows if r.id.startswith("test:")]
            label = f"{name} (dev held-out)"
        else:
            label = f"{name} (never trained)"
        groups[label] = rows
    for lang in ("en", "fr"):
        groups[f"{SOCIAL_SOURCE} {lang} (held-out)"] = [
            r for r in own_test if r.source == SOCIAL_SOURCE and r.lang == lang
        ]
    figures: dict[str, float] = {}
    for name, rows in groups.items():
        if not rows:
            print(f"{name:<30}{0:>7}  (no rows)")
            continue
        macro, per_class = scores(model, rows)
        detail = " ".join(f"{k}={v:.3f}" for k, v in per_class.items())
        print(f"{name:<30}{len(rows):>7}{macro:>10.3f}  {detail}")
        if name.startswith(f"{SOCIAL_SOURCE} en"):
            figures["macro-F1 EN (social)"] = macro
        if name.startswith(f"{SOCIAL_SOURCE} fr"):
            figures["macro-F1 FR (social)"] = macro
        if name == f"{SOCIAL_SOURCE} (held-out)":
            figures["complaint F1 (social)"] = per_class.get("complaint", 0.0)
    semeval_path = shared / DEV_ONLY["semeval2019t9"]
    for task, splits in (("A", ["A_dev"]), ("B", ["B_dev"])):
        n, f1 = semeval(model, semeval_path, splits)
        figures[f"semeval {task} suggestion F1"] = f1
        print(f"{'semeval2019t9 ' + task + ' ' + '+'.join(splits):<30}{n:>7}{'':>10}  suggestion F1={f1:.3f}")
    if not dev_trained:
        n, f1 = semeval(model, semeval_path, ["A_train", "A_dev"])
        print(f"{'semeval2019t9 A all':<30}{n:>7}{'':>10}  suggestion F1={f1:.3f}")
    held_out = [
        r
        for name, rows in groups.items()
        if name.endswith("(held-out)") and " en " not in name and " fr " not in name
        for r in rows
    ]
    for lang in ("en", "fr"):
        subset = [r for r in held_out if r.lang == lang]
        macro, per_class = scores(model, subset)
        detail = " ".join(f"{k}={v:.3f}" for k, v in per_class.items())
        print(f"{'all shipped held-out ' + lang:<30}{len(subset):>7}{macro:>10.3f}  {detail}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=Path, default=REPO / "models")
    parser.add_argument("--data", type=Path, default=REPO / "data")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--dev", action="store_true", help="also train and report the dev-only variant")
    args = parser.parse_args()
    model = load_current(args.models)
    if model is None:
        raise SystemExit("no model in models/CURRENT")
    own = load_training_rows(args.data)
    print(f"SHIPPED model {model.version}")
    figures = evaluate(model, args.shared, own, dev_trained=False)
    print("\ntargets (shipped model):")
    for name, target in TARGETS.items():
        value = figures.get(name, float("nan"))
        print(
            f"  {name:<26} {value:.3f}  target {'>' if 'semeval' in name else '>='} {target:.2f}  "
            f"{'MET' if value >= target else 'not met'}"
        )
    if args.dev:
        from classifier.train import train_model

        extra: list[tuple[str, str, float]] = []
        for row in load_public(args.shared / DEV_ONLY["scalabrino2017_clap"]):
            if not is_test(row):
                extra.append((row.text, row.label, 1.0))
        with (args.shared / DEV_ONLY["semeval2019t9"]).open(newline="", encoding="utf-8") as handle:
            for record in csv.DictReader(handle):
                if record["split"] == "A_train":
                    extra.append((record["text"], record["label4"] or "other", 0.5))
        for row in load_public(args.shared / DEV_ONLY["dailydialog_acts"]):
            if row.id.startswith("dev:"):
                extra.append((row.text, row.label, 0.3))
        dev_model, _ = train_model(own, extra=extra, progress=True)
        print(f"\nDEV-ONLY VARIANT (never shipped; adds {len(extra)} rows of dev-only sets to training)")
        dev_figures = evaluate(dev_model, args.shared, own, dev_trained=True)
        print("\ntargets (dev-only variant, for orientation):")
        for name, target in TARGETS.items():
            value = dev_figures.get(name, float("nan"))
            print(f"  {name:<26} {value:.3f}  target {target:.2f}  {'MET' if value >= target else 'not met'}")


if __name__ == "__main__":
    main()
