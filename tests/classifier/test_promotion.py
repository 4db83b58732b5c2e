"""The promotion gate on the reviewers' domain: its stratified held-out part, the dropped classes on
received traffic, the per-class losses, and the verdicts they give."""

from __future__ import annotations

from collections import Counter
from typing import Any, cast

import numpy as np

from classifier.data import CATEGORIES, Row
from classifier.model import TriageModel
from classifier.promotion import (
    CLASS_LOSS_MAX,
    DOMAIN_MIN_ROWS,
    dropped_classes,
    judge,
    per_class_f1,
)
from classifier.train import correction_row, held_out_keys, split_extra, split_judged

REPORT = {"macro_f1": 0.8, "per_class": {}}


class Fixed:
    """A stand-in model that gives each text a fixed category (default: `fallback`)."""

    def __init__(self, answers: dict[str, str], fallback: str = "complaint") -> None:
        self.answers, self.fallback = answers, fallback

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(CATEGORIES)))
        for i, text in enumerate(texts):
            out[i, CATEGORIES.index(self.answers.get(text, self.fallback))] = 1.0
        return out


def _model(answers: dict[str, str], fallback: str = "complaint") -> TriageModel:
    return cast(TriageModel, Fixed(answers, fallback))


def _judge(new: TriageModel, current: TriageModel, domain: list[Row], **kwargs: Any) -> Any:
    return judge(
        new,
        current,
        new_report=REPORT,
        current_report=REPORT,
        shipped=[],
        domain=domain,
        from_reviewers=True,
        **kwargs,
    )


def test_the_topped_up_held_out_part_holds_every_class_even_a_rare_one() -> None:
    judged = [(f"avis numéro {i} sur la livraison", "complaint") for i in range(300)]
    judged += [(f"idée numéro {i} pour le site", "suggestion") for i in range(12)]
    held = split_judged(judged, top_up=True)
    counts = Counter(r.label for r in held)
    # At least a fifth of each class, the rare one included; the big one stays near its hash fifth.
    assert counts["suggestion"] >= 3 and 0.17 * 300 < counts["complaint"] < 0.3 * 300
    # Every row of the plain hash fifth stays held out: the part only grows with the top-up.
    keys = held_out_keys(judged, top_up=True)
    train, test = split_extra([(t, label, 50.0) for t, label in judged], held=keys)
    assert {r.text for r in test} == {r.text for r in held}
    assert not {t for t, _, _ in train} & {r.text for r in held}
    plain = split_extra([(t, label, 50.0) for t, label in judged])[1]
    assert {r.text for r in plain} <= {r.text for r in held}
    # Fixed: the same part whatever the order.
    assert held_out_keys(judged[::-1], top_up=True) == keys
    # A class seen once is held out (nothing of it is trained on before a second one arrives).
    assert held_out_keys([("une seule idée", "suggestion")], top_up=True) == {"corrections:une seule idée"}
    # Off by default (the shipped rule): the plain hash fifth.
    assert {r.text for r in split_judged(judged)} == {r.text for r in plain}


def test_dropped_classes_compare_with_the_current_model_and_the_labels() -> None:
    reviewed = ["complaint"] * 180 + ["suggestion"] * 20
    current = ["complaint"] * 170 + ["suggestion"] * 30
    # Predicting suggestions on 2 % where the labels say 10 % and the current model 15 %: dropped.
    forgets = ["complaint"] * 196 + ["suggestion"] * 4
    assert set(dropped_classes(forgets, current, reviewed)) == {"suggestion"}
    # 6 %: fewer than the current model but more than half the labels' share: kept.
    assert dropped_classes(["complaint"] * 188 + ["suggestion"] * 12, current, reviewed) == {}
    # A current model that over-predicts a class may be corrected: half the labels' share is enough.
    over = ["complaint"] * 80 + ["suggestion"] * 120
    assert dropped_classes(["complaint"] * 188 + ["suggestion"] * 12, over, reviewed) == {}
    # A long reviewed stretch without the class: the current model's predictions of it were wrong.
    assert dropped_classes(["complaint"] * 200, current, ["complaint"] * 200) == {}
    # Too short a stretch to tell (20 reviewed x 15 % = 3 < 5): held to the current model's share.
    assert set(dropped_classes(["complaint"] * 200, current, ["complaint"] * 20)) == {"suggestion"}
    # Predicted by the current model fewer than 10 times: not judged; no received messages, nothing.
    few = ["complaint"] * 91 + ["suggestion"] * 9
    assert dropped_classes(["complaint"] * 100, few, reviewed) == {}
    assert dropped_classes([], [], reviewed) == {}


def test_a_class_is_dropped_only_beyond_the_sampling_error_of_the_received_messages() -> None:
    """The retailer's learning curve at 100 corrections: 504 received messages, the current model
    predicts 15 suggestions, the 317 reviewed hold 6; a candidate predicting 4 (expected 4.8 at half
    the labels' share) was refused by the plain ratio; 2 against half the current share when the
    stretch is too short to tell (expected 7.6) is a collapse."""
    current = ["complaint"] * 489 + ["suggestion"] * 15
    reviewed = ["complaint"] * 311 + ["suggestion"] * 6
    assert dropped_classes(["complaint"] * 500 + ["suggestion"] * 4, current, reviewed) == {}
    collapsed = dropped_classes(["complaint"] * 502 + ["suggestion"] * 2, current, reviewed[:150])
    assert set(collapsed) == {"suggestion"}
    assert collapsed["suggestion"]["reference"] == round(15 / 504, 4)
    assert collapsed["suggestion"]["chance"] < 0.1
    # Nothing of it at all, where half the labels' share expects 4.8: dropped however few messages.
    assert set(dropped_classes(["complaint"] * 504, current, reviewed)) == {"suggestion"}


def test_per_class_f1_counts_the_classes_present() -> None:
    f1 = per_class_f1(["complaint", "complaint", "other"], ["complaint", "other", "other"])
    assert f1 == {"complaint": 2 / 3, "other": 2 / 3}


def _domain(n_complaint: int, n_other: int, n_suggestion: int) -> list[Row]:
    labels = ["complaint"] * n_complaint + ["other"] * n_other + ["suggestion"] * n_suggestion
    return [correction_row(f"message {i}", label) for i, label in enumerate(labels)]


def test_a_clear_gain_is_promoted_a_tie_is_not() -> None:
    domain = _domain(40, 40, 0)
    current = _model({r.text: "complaint" for r in domain})
    better = _model({r.text: r.label for r in domain})
    verdict = _judge(better, current, domain)
    assert verdict.ok and verdict.details["domain"]["lower_bound"] > 0
    tie = _judge(current, current, domain)
    assert not tie.ok and "not shown to be better" in tie.reason


def test_a_gain_that_costs_one_class_is_refused() -> None:
    domain = _domain(40, 40, 10)
    # The current model gets complaints and suggestions right and calls every `other` a complaint.
    current = _model({r.text: r.label if r.label != "other" else "complaint" for r in domain})
    # The new one fixes the `other` rows and forgets suggestions: macro-F1 up, suggestion F1 to 0.
    new = _model({r.text: r.label if r.label != "suggestion" else "other" for r in domain})
    verdict = _judge(new, current, domain)
    assert verdict.details["domain"]["difference"] > 0 and verdict.details["domain"]["lower_bound"] > 0
    assert not verdict.ok and "suggestion -1.000" in verdict.reason
    assert verdict.details["domain"]["class_losses"]["suggestion"] > CLASS_LOSS_MAX


def test_a_gain_on_the_domain_rows_that_drops_a_class_on_received_traffic_is_refused() -> None:
    domain = _domain(40, 40, 0)
    current = _model({r.text: "complaint" for r in domain}, fallback="suggestion")
    better = _model({r.text: r.label for r in domain}, fallback="other")
    received = [f"reçu {i}" for i in range(200)]
    reviewed = ["complaint"] * 80 + ["other"] * 80 + ["suggestion"] * 20
    verdict = _judge(better, current, domain, received=received, reviewed=reviewed)
    assert not verdict.ok and "drops a class: suggestion on 0.0%" in verdict.reason
    assert "so few would happen 0.0% of the time at 50% of" in verdict.reason
    assert verdict.details["received"]["dropped"]["suggestion"]["reference"] > 0.1
    # The same without received messages is promoted on the domain rows.
    assert _judge(better, current, domain, reviewed=reviewed).ok


def test_too_few_domain_rows_and_a_dropped_class_keep_the_current_model() -> None:
    domain = _domain(DOMAIN_MIN_ROWS - 1, 0, 0)
    received = [f"reçu {i}" for i in range(100)]
    verdict = _judge(
        _model({}, "other"),
        _model({}, "complaint"),
        domain,
        received=received,
        reviewed=["complaint"] * 50,
    )
    assert not verdict.ok and "too few to judge the domain" in verdict.reason and "drops" in verdict.reason
