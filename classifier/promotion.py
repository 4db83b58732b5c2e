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
- on the domain's held-out rows (at least `DOMAIN_MIN_ROWS`) it is **not worse**: the one-sided
  `CONFIDENCE` lower bound of the macro-F1 difference (new - current), from a paired bootstrap over
  those rows (both models on the same resampled rows, fixed seed), is at least `-DOMAIN_TOLERANCE`.
  The margin is the sampling error of the rows actually there: on 40 rows a version must fix
  clearly more messages than it breaks, on 4,000 a small net gain is enough. A version that
  changes no prediction on them passes (difference 0);
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

from classifier.data import CATEGORIES, Row
from classifier.evaluate import should_promote
from classifier.model import TriageModel

# Fewer held-out domain rows than this and the domain is not judged (see the module docstring):
# below it a macro-F1 difference over four classes is mostly the luck of which rows were drawn.
DOMAIN_MIN_ROWS = 30
# One-sided confidence of the bootstrap lower bound, and the loss on the domain tolerated at it.
CONFIDENCE = 0.9
DOMAIN_TOLERANCE = 0.0
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


def predictions(model: TriageModel, rows: Sequence[Row]) -> list[str]:
    """The model's category (argmax) for each row."""
    if not rows:
        return []
    proba = model.predict_proba([r.text for r in rows])
    return [CATEGORIES[i] for i in proba.argmax(axis=1)]


def judge(
    new: TriageModel,
    current: TriageModel,
    *,
    new_report: dict[str, Any],
    current_report: dict[str, Any],
    shipped: Sequence[Row],
    domain: Sequence[Row],
    from_reviewers: bool,
) -> Verdict:
    """Promote `new` over `current`? (the rule of the module docstring). The reports are both
    models' `evaluation_report` on the shipped held-out rows (and held-out corrections);
    `domain` the held-out rows of the reviewers' traffic; `from_reviewers`: the new version
    learnt from the reviewers' decisions."""
    ok, reason = should_promote(new_report, current_report)
    details: dict[str, Any] = {"shipped_rule": reason}
    if not ok or not from_reviewers:
        return Verdict(ok, reason, details)
    gold = [r.label for r in domain]
    if len(domain) >= DOMAIN_MIN_ROWS:
        on_domain = paired_difference(gold, predictions(new, domain), predictions(current, domain))
        details["domain"] = {**on_domain.as_dict(), "judged": True}
        where = f"on the {len(domain)} held-out rows of the reviewers' domain {on_domain.describe()}"
        if on_domain.lower < -DOMAIN_TOLERANCE:
            return Verdict(False, f"{where}: not shown to be at least as good", details)
        return Verdict(True, f"{where}; shipped held-out {reason}", details)
    details["domain"] = {"rows": len(domain), "judged": False, "min_rows": DOMAIN_MIN_ROWS}
    gold_shipped = [r.label for r in shipped]
    on_shipped = paired_difference(gold_shipped, predictions(new, shipped), predictions(current, shipped))
    details["shipped"] = on_shipped.as_dict()
    few = (
        f"only {len(domain)} held-out rows of the reviewers' domain (fewer than {DOMAIN_MIN_ROWS}): "
        "too few to judge the domain"
    )
    if on_shipped.lower > 0:
        return Verdict(True, f"{few}; the shipped held-out rows improve: {on_shipped.describe()}", details)
    return Verdict(
        False, f"{few}, and the shipped held-out rows do not improve: {on_shipped.describe()}", details
    )
