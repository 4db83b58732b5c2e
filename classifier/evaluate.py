"""Evaluation reports (plain dicts, JSON-ready), their text form, and the promotion rule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from classifier.data import CATEGORIES, Row
from classifier.language import detect_languages
from classifier.model import Scorer

MACRO_F1_TOLERANCE = 0.005
CLASS_F1_TOLERANCE = 0.02
# The held-out corrections are few (a fifth of what reviewers corrected): compare them by accuracy,
# only once there are enough to mean something, and only refuse a clear drop.
CORRECTIONS_MIN_ROWS = 20
CORRECTIONS_ACCURACY_TOLERANCE = 0.05
CALIBRATION_BINS = 10
# A wrong answer at this confidence or more is the costly kind: nobody looks at it again.
CONFIDENT = 0.8


def _class_metrics(gold: Sequence[str], pred: Sequence[str]) -> dict[str, Any]:
    labels = [c for c in CATEGORIES if c in set(gold)]
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, pred, labels=labels, zero_division=0
    )
    per_class = {
        label: {
            "precision": round(float(p), 4),
            "recall": round(float(r), 4),
            "f1": round(float(f), 4),
            "support": int(s),
        }
        for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    }
    correct = sum(g == p for g, p in zip(gold, pred, strict=True))
    return {
        "rows": len(gold),
        "accuracy": round(correct / len(gold), 4) if gold else 0.0,
        "macro_f1": round(float(np.mean(f1)), 4) if labels else 0.0,
        "per_class": per_class,
    }


def calibration(confidence: np.ndarray, correct: np.ndarray, bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """Expected calibration error over equal-width confidence bins, with the reliability table."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    table = []
    ece = 0.0
    total = len(confidence)
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (confidence > low) & (confidence <= high) if low > 0 else (confidence <= high)
        count = int(in_bin.sum())
        if count == 0:
            table.append({"bin": f"{low:.1f}-{high:.1f}", "count": 0, "confidence": None, "accuracy": None})
            continue
        mean_conf = float(confidence[in_bin].mean())
        accuracy = float(correct[in_bin].mean())
        ece += count / total * abs(mean_conf - accuracy)
        table.append(
            {
                "bin": f"{low:.1f}-{high:.1f}",
                "count": count,
                "confidence": round(mean_conf, 4),
                "accuracy": round(accuracy, 4),
            }
        )
    return {"ece": round(ece, 4), "bins": table}


def transfer_metrics(
    gold: Sequence[str], pred: Sequence[str], confidence: np.ndarray, *, to_sort_below: float = 0.55
) -> dict[str, Any]:
    """What a source never trained on says of the model: macro-F1 over the classes it labels,
    per-class F1, complaint recall, ECE, the share wrong with confidence >= `CONFIDENT` and the
    share sent to *to sort* (confidence below `to_sort_below`)."""
    report = _class_metrics(gold, pred)
    correct = np.asarray([g == p for g, p in zip(gold, pred, strict=True)], dtype=float)
    confidence = np.asarray(confidence, dtype=float)
    complaint = report["per_class"].get("complaint")
    return {
        "rows": report["rows"],
        "macro_f1": report["macro_f1"],
        "per_class_f1": {label: m["f1"] for label, m in report["per_class"].items()},
        "complaint_recall": complaint["recall"] if complaint else None,
        "ece": calibration(confidence, correct)["ece"] if len(gold) else 0.0,
        "confident_wrong": round(float(np.mean((confidence >= CONFIDENT) & (correct == 0))), 4)
        if len(gold)
        else 0.0,
        "to_sort": round(float(np.mean(confidence < to_sort_below)), 4) if len(gold) else 0.0,
    }


def evaluation_report(model: Scorer, rows: Sequence[Row]) -> dict[str, Any]:
    """Per-class P/R/F1, macro-F1, accuracy, confusion matrix, calibration, per language and source."""
    if not rows:
        return {"rows": 0, "accuracy": 0.0, "macro_f1": 0.0, "per_class": {}}
    proba = model.predict_proba([r.text for r in rows])
    pred = [CATEGORIES[i] for i in proba.argmax(axis=1)]
    gold = [r.label for r in rows]
    report = _class_metrics(gold, pred)
    matrix = confusion_matrix(gold, pred, labels=list(CATEGORIES))
    report["confusion"] = {"labels": list(CATEGORIES), "matrix": matrix.tolist()}
    correct = np.asarray([g == p for g, p in zip(gold, pred, strict=True)], dtype=float)
    report["calibration"] = calibration(proba.max(axis=1), correct)
    # a CSV without a language column: each text's language as the app detects it ("und": unknown)
    unknown = [r.text for r in rows if not r.lang]
    detected = iter(detect_languages(unknown) if unknown else [])
    languages = [r.lang or next(detected) for r in rows]
    for key, values in (("by_language", languages), ("by_source", [r.source for r in rows])):
        groups: dict[str, list[int]] = {}
        for index, value in enumerate(values):
            groups.setdefault(value or "?", []).append(index)
        report[key] = {
            name: _class_metrics([gold[i] for i in idx], [pred[i] for i in idx])
            for name, idx in sorted(groups.items())
        }
    report["model_version"] = model.version
    return report


def format_report(report: dict[str, Any]) -> str:
    """A readable text form of `evaluation_report`'s dict."""
    lines = [
        f"model {report.get('model_version', '?')}: {report['rows']} rows, "
        f"accuracy {report['accuracy']:.3f}, macro-F1 {report['macro_f1']:.3f}",
        "",
        f"{'class':<12}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}",
    ]
    for label, m in report["per_class"].items():
        lines.append(
            f"{label:<12}{m['precision']:>10.3f}{m['recall']:>10.3f}{m['f1']:>10.3f}{m['support']:>10}"
        )
    if "confusion" in report:
        labels = report["confusion"]["labels"]
        lines += [
            "",
            "confusion (rows = true, columns = predicted)",
            " " * 12 + "".join(f"{x[:10]:>11}" for x in labels),
        ]
        for label, counts in zip(labels, report["confusion"]["matrix"], strict=True):
            lines.append(f"{label:<12}" + "".join(f"{c:>11}" for c in counts))
    if "calibration" in report:
        lines += [
            "",
            f"calibration: ECE {report['calibration']['ece']:.4f} (10 bins)",
            "  bin        count  confidence  accuracy",
        ]
        for b in report["calibration"]["bins"]:
            if b["count"]:
                lines.append(f"  {b['bin']:<9}{b['count']:>7}{b['confidence']:>12.3f}{b['accuracy']:>10.3f}")
    for key, title in (("by_language", "language"), ("by_source", "source")):
        if key in report:
            lines += ["", f"{'by ' + title:<24}{'rows':>7}{'macro-F1':>10}  per-class F1"]
            for name, m in report[key].items():
                per = " ".join(f"{label}={v['f1']:.3f}" for label, v in m["per_class"].items())
                lines.append(f"{name:<24}{m['rows']:>7}{m['macro_f1']:>10.3f}  {per}")
    held = report.get("corrections")
    if held:
        per = " ".join(f"{label}={v['f1']:.3f}" for label, v in held["per_class"].items())
        lines += [
            "",
            f"held-out corrections (never trained on): {held['rows']} rows, "
            f"accuracy {held['accuracy']:.3f}, macro-F1 {held['macro_f1']:.3f}  {per}",
        ]
    return "\n".join(lines)


def should_promote(new_report: dict[str, Any], current_report: dict[str, Any] | None) -> tuple[bool, str]:
    """Promote unless macro-F1 drops by more than 0.005, any class's F1 by more than 0.02, or the
    accuracy on the held-out corrections (20+ rows) by more than 0.05."""
    if not current_report:
        return True, "no current model"
    new_macro, old_macro = new_report["macro_f1"], current_report["macro_f1"]
    if new_macro < old_macro - MACRO_F1_TOLERANCE:
        return False, f"macro-F1 {new_macro:.4f} is below the current {old_macro:.4f}"
    for label, old in current_report.get("per_class", {}).items():
        new = new_report.get("per_class", {}).get(label)
        if new is None:
            return False, f"class {label} is missing from the new evaluation"
        if new["f1"] < old["f1"] - CLASS_F1_TOLERANCE:
            return False, f"{label} F1 {new['f1']:.4f} is below the current {old['f1']:.4f}"
    reason = (
        f"macro-F1 {new_macro:.4f} vs current {old_macro:.4f}, "
        f"no class worse by more than {CLASS_F1_TOLERANCE}"
    )
    new_held, old_held = new_report.get("corrections"), current_report.get("corrections")
    if new_held and old_held and new_held["rows"] >= CORRECTIONS_MIN_ROWS:
        new_acc, old_acc = new_held["accuracy"], old_held["accuracy"]
        if new_acc < old_acc - CORRECTIONS_ACCURACY_TOLERANCE:
            return False, (
                f"accuracy on the {new_held['rows']} held-out corrections {new_acc:.4f} "
                f"is below the current {old_acc:.4f}"
            )
        reason += f", held-out corrections accuracy {new_acc:.4f} vs current {old_acc:.4f}"
    return True, reason
