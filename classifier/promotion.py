"""Whether a version trained on the reviewers' decisions may replace CURRENT: judged on their domain.

Corrections are by construction the current model's mistakes: measured on held-out corrections
alone, the current model scores near zero and almost any new model passes. So the domain is judged
on rows that represent it, as the app exports them (`app.learning`): every message of the reviewed
stretch of the traffic, in arrival order, with the category a reviewer gave (a correction), approved
or left as it was shown (confirmed or left as sorted), one vote each. Of those, the fixed hash fifth
that training holds out (`classifier.train.split_judged`, the same split as the corrections) is
never trained on; both models predict it, and the new one is promoted only when

- the shipped held-out rules pass (`classifier.evaluate.should_promote`: macro-F1 -0.005, each class
  -0.02, held-out corrections' accuracy -0.05), and
- on the received messages (the latest `RECEIVED_JUDGED`, unlabelled) it has not **dropped a
  class**: no class the current model predicts at least `COLLAPSE_MIN_PREDICTED` times is
  predicted clearly less than `COLLAPSE_RATIO` times as often as by the current model, or, once
  the reviewed stretch is long enough to tell, as in the reviewers' labels if those are rarer (a
  version that stops seeing a rare class can still look better on a few dozen held-out rows that
  hold none of it). "Clearly" is the sampling error of the messages there: dropped when so few
  predictions would happen less than 1 - `CONFIDENCE` of the time at that ratio (binomial), so 4
  of 504 against an expected 4.8 is noise, 2 of 504 against 7.6 a collapse, and
- on the domain's held-out rows (at least `DOMAIN_MIN_ROWS`) it is **better**: the one-sided
  `CONFIDENCE` lower bound of the macro-F1 difference (new - current), from a paired bootstrap over
  those rows (both models on the same resampled rows, fixed seed), is above 0, and no class present
  there loses more than `CLASS_LOSS_MAX` of F1. The margin is the sampling error of the rows
  actually there: on 40 rows a version must fix clearly more messages than it breaks, on 4,000 a
  small net gain is enough. A version that changes no prediction on them is not promoted (nothing
  shown);
- with fewer domain rows than that (or none: a reviewer who only corrects and whose corrections are
  all the app knows of the domain's traffic), the domain cannot be judged: the verdict says so and
  the current model is kept unless the shipped held-out rows improve (the same lower bound above 0).

A version trained on the shipped data alone (`relais train --no-corrections`, no decision from the
reviewers) is judged by the shipped held-out rules only, as before.

Nothing here depends on the feature representation: both models are only asked for predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import binom

from classifier.data import CATEGORIES, Row
from classifier.evaluate import should_promote
from classifier.model import Scorer

# Fewer held-out domain rows than this and the domain is not judged (see the module docstring):
# below it a macro-F1 difference over four classes is mostly the luck of which rows were drawn.
DOMAIN_MIN_ROWS = 30
# One-sided confidence of the bootstrap lower bound of the domain's macro-F1 gain (above 0 to
# promote), and the most F1 any one class present on the domain's rows may lose.
CONFIDENCE = 0.9
CLASS_LOSS_MAX = 0.02
# A class is dropped when the new version predicts it on clearly fewer (the binomial lower tail
# below 1 - CONFIDENCE) than COLLAPSE_RATIO times the share of the latest RECEIVED_JUDGED
# received messages that the current one does, for a class the current model predicts at least
# COLLAPSE_MIN_PREDICTED times. Once the reviewed stretch is long enough to hold
# COLLAPSE_MIN_EXPECTED of the current model's share, the reviewers' labels say how common the
# class really is, and the smaller of the two shares is the reference (a current model that
# over-predicts a class may be corrected).
COLLAPSE_RATIO = 0.5
COLLAPSE_MIN_PREDICTED = 10
COLLAPSE_MIN_EXPECTED = 5
RECEIVED_JUDGED = 5000
RESAMPLES = 1000
SEED = 20261201


@dataclass(frozen=True)
class Difference:
    """Macro-F1 of both models on the same rows, their difference and its bootstrap lower bound."""

    rows: int
    new: float
    current: float
    lower: float  # one-sided CONFIDENCE lower bound of new - current

    @property
    def delta(self) -> float:
        return self.new - self.current

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "new_macro_f1": round(self.new, 4),
            "current_macro_f1": round(self.current, 4),
            "difference": round(self.delta, 4),
            "lower_bound": round(self.lower, 4),
        }

    def describe(self) -> str:
        return (
            f"macro-F1 {self.new:.4f} vs current {self.current:.4f} ({self.delta:+.4f}, "
            f"{CONFIDENCE:.0%} lower bound {self.lower:+.4f})"
        )


@dataclass(frozen=True)
class Verdict:
    """The decision, its reason (one line), and what it was based on (for the metadata)."""

    ok: bool
    reason: str
    details: dict[str, Any]


def _macro_f1(counts: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Macro-F1 over the `present` classes of confusion counts shaped (..., K, K)."""
    tp = np.diagonal(counts, axis1=-2, axis2=-1).astype(np.float64)
    fp = counts.sum(axis=-2) - tp
    fn = counts.sum(axis=-1) - tp
    denominator = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return np.asarray(f1[..., present].mean(axis=-1))


def paired_difference(gold: Sequence[str], new: Sequence[str], current: Sequence[str]) -> Difference:
    """Macro-F1 (over the classes in `gold`) of two models' predictions on the same rows, and the
    one-sided lower bound of their difference by a paired bootstrap (fixed seed)."""
    index = {label: i for i, label in enumerate(CATEGORIES)}
    k = len(CATEGORIES)
    g = np.asarray([index[label] for label in gold], dtype=np.int64)
    cells = {
        "new": g * k + np.asarray([index[label] for label in new], dtype=np.int64),
        "current": g * k + np.asarray([index[label] for label in current], dtype=np.int64),
    }
    n = len(g)
    if n == 0:
        return Difference(0, 0.0, 0.0, 0.0)
    present = np.unique(g)
    full = {
        name: _macro_f1(np.bincount(c, minlength=k * k).reshape(k, k), present) for name, c in cells.items()
    }
    rng = np.random.default_rng(SEED)
    deltas: list[np.ndarray] = []
    chunk = max(1, 2_000_000 // n)
    for start in range(0, RESAMPLES, chunk):
        size = min(chunk, RESAMPLES - start)
        draw = rng.integers(0, n, size=(size, n))
        offset = (np.arange(size) * k * k)[:, None]
        f1 = {
            name: _macro_f1(
                np.bincount((c[draw] + offset).ravel(), minlength=size * k * k).reshape(size, k, k), present
            )
            for name, c in cells.items()
        }
        deltas.append(f1["new"] - f1["current"])
    lower = float(np.quantile(np.concatenate(deltas), 1.0 - CONFIDENCE))
    return Difference(n, float(full["new"]), float(full["current"]), lower)


def per_class_f1(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    """F1 of each class present in `gold`."""
    out: dict[str, float] = {}
    for label in sorted(set(gold), key=CATEGORIES.index):
        tp = sum(g == p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(p == label != g for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label != p for g, p in zip(gold, predicted, strict=True))
        out[label] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return out


def dropped_classes(
    new: Sequence[str], current: Sequence[str], reviewed: Sequence[str]
) -> dict[str, dict[str, float]]:
    """The classes the new version drops on received messages (`COLLAPSE_RATIO`, `CONFIDENCE`):
    for each, its share among the new and the current predictions (`new`, `current`) and among
    the labels of the reviewed stretch (`reviewed`), the reference share it was held to, and how
    likely so few predictions would be at `COLLAPSE_RATIO` times that share (`chance`)."""
    out: dict[str, dict[str, float]] = {}
    if not new:
        return out
    for label in CATEGORIES:
        predicted = sum(p == label for p in current)
        if predicted < COLLAPSE_MIN_PREDICTED:
            continue
        found = sum(p == label for p in new)
        shares = {
            "new": found / len(new),
            "current": predicted / len(current),
            "labelled": sum(r == label for r in reviewed) / len(reviewed) if reviewed else 0.0,
        }
        informative = len(reviewed) * shares["current"] >= COLLAPSE_MIN_EXPECTED
        shares["reference"] = min(shares["current"], shares["labelled"]) if informative else shares["current"]
        chance = float(binom.cdf(found, len(new), COLLAPSE_RATIO * shares["reference"]))
        if chance < 1.0 - CONFIDENCE:
            out[label] = {k: round(v, 4) for k, v in {**shares, "chance": chance}.items()}
    return out


def predictions(model: Scorer, rows: Sequence[Row] | Sequence[str]) -> list[str]:
    """The model's category (argmax) for each row or text."""
    if not rows:
        return []
    proba = model.predict_proba([r if isinstance(r, str) else r.text for r in rows])
    return [CATEGORIES[i] for i in proba.argmax(axis=1)]


def judge(
    new: Scorer,
    current: Scorer,
    *,
    new_report: dict[str, Any],
    current_report: dict[str, Any],
    shipped: Sequence[Row],
    domain: Sequence[Row],
    from_reviewers: bool,
    received: Sequence[str] = (),
    reviewed: Sequence[str] = (),
) -> Verdict:
    """Promote `new` over `current`? (the rule of the module docstring). The reports are both
    models' `evaluation_report` on the shipped held-out rows (and held-out corrections);
    `domain` the held-out rows of the reviewers' traffic; `received` the received messages' text
    and `reviewed` the final categories of the whole reviewed stretch (for the dropped classes);
    `from_reviewers`: the new version learnt from the reviewers' decisions."""
    ok, reason = should_promote(new_report, current_report)
    details: dict[str, Any] = {"shipped_rule": reason}
    if not ok or not from_reviewers:
        return Verdict(ok, reason, details)
    latest = list(received)[-RECEIVED_JUDGED:]
    dropped = dropped_classes(predictions(new, latest), predictions(current, latest), reviewed)
    details["received"] = {"rows": len(latest), "dropped": dropped}
    drops = (
        f"on the {len(latest)} latest received messages it drops a class: "
        + ", ".join(
            f"{label} on {v['new']:.1%} of them (current {v['current']:.1%}, labels {v['labelled']:.1%}; "
            f"so few would happen {v['chance']:.1%} of the time "
            f"at {COLLAPSE_RATIO:.0%} of {v['reference']:.1%})"
            for label, v in dropped.items()
        )
        if dropped
        else ""
    )
    gold = [r.label for r in domain]
    if len(domain) >= DOMAIN_MIN_ROWS:
        new_predicted, current_predicted = predictions(new, domain), predictions(current, domain)
        on_domain = paired_difference(gold, new_predicted, current_predicted)
        new_f1, current_f1 = per_class_f1(gold, new_predicted), per_class_f1(gold, current_predicted)
        losses = {
            label: round(current_f1[label] - f1, 4)
            for label, f1 in new_f1.items()
            if current_f1[label] - f1 > CLASS_LOSS_MAX
        }
        details["domain"] = {**on_domain.as_dict(), "judged": True, "class_losses": losses}
        where = f"on the {len(domain)} held-out rows of the reviewers' domain {on_domain.describe()}"
        if on_domain.lower <= 0:
            return Verdict(False, f"{where}: not shown to be better", details)
        if losses:
            lost = ", ".join(f"{label} -{loss:.3f}" for label, loss in losses.items())
            return Verdict(
                False, f"{where}, but a class loses more than {CLASS_LOSS_MAX} of F1: {lost}", details
            )
        if dropped:
            return Verdict(False, f"{where}, but {drops}", details)
        return Verdict(True, f"{where}; shipped held-out {reason}", details)
    details["domain"] = {"rows": len(domain), "judged": False, "min_rows": DOMAIN_MIN_ROWS}
    gold_shipped = [r.label for r in shipped]
    on_shipped = paired_difference(gold_shipped, predictions(new, shipped), predictions(current, shipped))
    details["shipped"] = on_shipped.as_dict()
    few = (
        f"only {len(domain)} held-out rows of the reviewers' domain (fewer than {DOMAIN_MIN_ROWS}): "
        "too few to judge the domain"
    )
    if dropped:
        return Verdict(False, f"{few}, and {drops}", details)
    if on_shipped.lower > 0:
        return Verdict(True, f"{few}; the shipped held-out rows improve: {on_shipped.describe()}", details)
    return Verdict(
        False, f"{few}, and the shipped held-out rows do not improve: {on_shipped.describe()}", details
    )
