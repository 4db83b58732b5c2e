from typing import Any

from classifier import TriageModel
from classifier.data import Row, split_rows
from classifier.evaluate import (
    calibration,
    evaluation_report,
    format_report,
    should_promote,
    transfer_metrics,
)


def _report(macro: float, **f1: float) -> dict[str, Any]:
    return {"macro_f1": macro, "per_class": {k: {"f1": v} for k, v in f1.items()}}


def test_should_promote_rules() -> None:
    current = _report(0.80, question=0.9, complaint=0.8, suggestion=0.7, other=0.8)
    assert should_promote(current, None)[0]
    assert should_promote(_report(0.81, question=0.9, complaint=0.8, suggestion=0.7, other=0.85), current)[0]
    # Within tolerance overall and per class.
    assert should_promote(
        _report(0.796, question=0.89, complaint=0.79, suggestion=0.685, other=0.8), current
    )[0]
    ok, reason = should_promote(
        _report(0.79, question=0.9, complaint=0.8, suggestion=0.7, other=0.76), current
    )
    assert not ok and "macro-F1" in reason
    ok, reason = should_promote(
        _report(0.85, question=0.95, complaint=0.9, suggestion=0.65, other=0.9), current
    )
    assert not ok and "suggestion" in reason


def test_calibration_of_a_perfect_and_a_overconfident_model() -> None:
    import numpy as np

    assert calibration(np.array([1.0, 1.0]), np.array([1.0, 1.0]))["ece"] == 0.0
    assert calibration(np.array([0.95, 0.95]), np.array([0.0, 0.0]))["ece"] == 0.95


def test_transfer_metrics_count_confident_mistakes_and_complaint_recall() -> None:
    import numpy as np

    gold = ["complaint", "complaint", "complaint", "other"]
    pred = ["complaint", "other", "other", "other"]
    m = transfer_metrics(gold, pred, np.array([0.9, 0.95, 0.5, 0.6]), to_sort_below=0.55)
    assert m["complaint_recall"] == round(1 / 3, 4)
    assert m["confident_wrong"] == 0.25  # only the second is wrong with confidence >= 0.8
    assert m["to_sort"] == 0.25
    assert set(m["per_class_f1"]) == {"complaint", "other"}  # the classes the source labels
    assert m["macro_f1"] == round((0.5 + 0.5) / 2, 4)
    assert transfer_metrics(["other"], ["other"], np.array([0.7]))["complaint_recall"] is None


def test_evaluation_report_has_everything(small_model: TriageModel, small_rows: list[Row]) -> None:
    _, test = split_rows(small_rows)
    report = evaluation_report(small_model, test)
    assert report["rows"] == len(test)
    assert set(report["per_class"]) == {"question", "complaint", "suggestion", "other"}
    assert sum(map(sum, report["confusion"]["matrix"])) == len(test)
    assert len(report["calibration"]["bins"]) == 10
    assert set(report["by_language"]) >= {"en", "fr"}
    assert "relais_social" in report["by_source"]
    text = format_report(report)
    assert "macro-F1" in text and "ECE" in text and "confusion" in text
