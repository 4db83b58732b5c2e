"""Reviewers' corrections in training: the held-out slice, their effect, and the promotion rule."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from classifier import current_version
from classifier.artifacts import load_version, read_metadata
from classifier.commands import train_command
from classifier.data import CATEGORIES, Row
from classifier.evaluate import CORRECTIONS_MIN_ROWS, format_report, should_promote
from classifier.model import TriageModel
from classifier.promotion import DOMAIN_MIN_ROWS, paired_difference
from classifier.train import EXTRA_MAX_SHARE, EXTRA_SOURCE, split_extra, split_judged, train_model
from tests.conftest import social_rows


def test_split_extra_holds_out_a_fixed_fifth_by_text() -> None:
    extra = [(f"message number {i} about the delivery", CATEGORIES[i % 4], 20.0) for i in range(2000)]
    train, test = split_extra(extra)
    assert len(train) + len(test) == len(extra)
    assert 0.17 < len(test) / len(extra) < 0.23
    assert {r.source for r in test} == {EXTRA_SOURCE}
    # Fixed: the same text is on the same side whatever its label, weight, or company.
    again_train, again_test = split_extra([(t, "other", 1.0) for t, _, _ in reversed(extra)])
    assert {r.text for r in again_test} == {r.text for r in test}
    assert {t for t, _, _ in again_train} == {t for t, _, _ in train}


def _wrong_by(model: TriageModel, texts: list[str]) -> dict[str, str]:
    """A label each text is not predicted as: the one the model likes least."""
    proba = model.predict_proba(texts)
    return {text: CATEGORIES[int(p.argmin())] for text, p in zip(texts, proba, strict=True)}


def test_corrections_change_the_next_models_predictions(
    small_rows: list[Row], small_model: TriageModel, small_hyperparameters: dict[str, int]
) -> None:
    texts = [f"Le colis numéro {i} du magasin de Brest est arrivé ce matin" for i in range(60)]
    texts += [f"Parcel {i} from the Leeds shop came this morning" for i in range(60)]
    wanted = _wrong_by(small_model, texts)
    before = [p.category for p in small_model.predict(texts)]
    assert all(before[i] != wanted[t] for i, t in enumerate(texts))
    extra = [(t, wanted[t], 20.0) for t in texts]
    model, report = train_model(
        small_rows, extra=extra, hyperparameters=small_hyperparameters, progress=False
    )
    trained, held_out = split_extra(extra)
    after = {p_text: p.category for p_text, p in zip(texts, model.predict(texts), strict=True)}
    flipped = sum(after[t] == label for t, label, _ in trained)
    assert flipped >= 0.9 * len(trained)
    # The held-out fifth is reported apart, never trained on, and recorded in the metadata.
    assert report["corrections"]["rows"] == len(held_out) > 0
    assert model.metadata["train_rows_by_source"][EXTRA_SOURCE] == len(trained)
    assert model.metadata["test_rows_by_source"][EXTRA_SOURCE] == len(held_out)
    assert model.metadata["metrics"]["corrections"]["rows"] == len(held_out)
    assert "held-out corrections (never trained on)" in format_report(report)


def test_corrections_together_weigh_at_most_their_share(
    small_rows: list[Row], small_hyperparameters: dict[str, int]
) -> None:
    rows = small_rows[:400]
    extra = [(f"Parcel {i} from the Leeds shop came this morning", "other", 1000.0) for i in range(100)]
    model, _ = train_model(rows, extra=extra, hyperparameters=small_hyperparameters, progress=False)
    trained = len(split_extra(extra)[0])
    train_rows = sum(n for s, n in model.metadata["train_rows_by_source"].items() if s != EXTRA_SOURCE)
    # Shipped weights average 1, so the corrections' total is capped at share / (1 - share) of them.
    scale = model.metadata["corrections_weight_scale"]
    assert trained * 1000.0 * scale == pytest.approx(
        EXTRA_MAX_SHARE / (1 - EXTRA_MAX_SHARE) * train_rows, rel=1e-3
    )
    few = [(text, label, 20.0) for text, label, _ in extra[:5]]
    light, _ = train_model(rows, extra=few, hyperparameters=small_hyperparameters, progress=False)
    assert light.metadata["corrections_weight_scale"] == 1.0


def test_train_model_refuses_an_unknown_correction_label(small_rows: list[Row]) -> None:
    with pytest.raises(ValueError, match="unknown label in corrections"):
        train_model(small_rows[:50], extra=[("hello", "praise", 20.0)], progress=False)


def _report(macro: float, held_accuracy: float | None = None, held_rows: int = 40) -> dict[str, Any]:
    report: dict[str, Any] = {
        "macro_f1": macro,
        "per_class": {c: {"f1": macro} for c in CATEGORIES},
    }
    if held_accuracy is not None:
        report["corrections"] = {"rows": held_rows, "accuracy": held_accuracy, "macro_f1": held_accuracy}
    return report


@pytest.mark.parametrize(
    ("new", "current", "ok", "says"),
    [
        (_report(0.88, 0.70), _report(0.88, 0.80), False, "held-out corrections"),
        (_report(0.88, 0.77), _report(0.88, 0.80), True, "held-out corrections accuracy 0.7700"),
        (_report(0.88, 0.90), _report(0.88, 0.60), True, "held-out corrections accuracy 0.9000"),
        # Too few held-out corrections to judge: the shipped held-out rows decide alone.
        (
            _report(0.88, 0.10, CORRECTIONS_MIN_ROWS - 1),
            _report(0.88, 0.90, CORRECTIONS_MIN_ROWS - 1),
            True,
            "",
        ),
        (_report(0.87, 0.95), _report(0.88, 0.60), False, "macro-F1 0.8700 is below"),
        (_report(0.88), _report(0.88), True, "no class worse"),
    ],
)
def test_should_promote_weighs_the_held_out_corrections(
    new: dict[str, Any], current: dict[str, Any], ok: bool, says: str
) -> None:
    promoted, reason = should_promote(new, current)
    assert promoted is ok and says in reason


def test_a_worse_model_is_refused_with_a_reason_then_forced(
    tmp_path: Path,
    write_social_csv: Callable[[Path, list[tuple[str, str, str]]], None],
    small_hyperparameters: dict[str, int],
) -> None:
    data_dir, models = tmp_path / "data", tmp_path / "models"
    data_dir.mkdir()
    rows = social_rows()
    write_social_csv(data_dir / "relais_social_test.csv", rows)
    good, promoted, _ = train_command(models, data_dir, hyperparameters=small_hyperparameters, progress=False)
    assert promoted and current_version(models) == good
    # Deliberately worse: every training text again as a "correction" to the next class (the
    # domain gate cannot tell them from the data, so it only half-opens for them and they barely
    # move the predictions), and a regularisation so strong that the classes blur: the held-out
    # rows come out wrong.
    following = {c: CATEGORIES[(i + 1) % len(CATEGORIES)] for i, c in enumerate(CATEGORIES)}
    shuffled = [(text, following[label], 50.0) for _, text, label in rows]
    crippled = {**small_hyperparameters, "C": 1e-3}
    worse, promoted, text = train_command(
        models, data_dir, extra=shuffled, hyperparameters=crippled, progress=False
    )
    assert not promoted and current_version(models) == good
    assert f"kept {good} as current" in text and "is below the current" in text
    # Both were measured on the same held-out corrections.
    assert "held-out corrections" in text
    assert read_metadata(models, worse)["metrics"]["corrections"]["rows"] > 0
    forced, promoted, text = train_command(
        models, data_dir, extra=shuffled, hyperparameters=crippled, force=True, progress=False
    )
    assert promoted and current_version(models) == forced and "(forced)" in text
    assert load_version(models, forced).version == forced


def test_paired_difference_bounds_the_gain_by_the_rows_there() -> None:
    gold = ["complaint"] * 60 + ["other"] * 40
    current = ["other"] * 30 + ["complaint"] * 30 + ["other"] * 40  # 30 complaints missed
    same = paired_difference(gold, current, current)
    assert (same.delta, same.lower) == (0.0, 0.0)
    # Fixes 20 of the misses: a clear gain, shown with confidence.
    better = ["complaint"] * 20 + current[20:]
    gain = paired_difference(gold, better, current)
    assert gain.delta > 0.1 and gain.lower > 0
    # Fixes 3 and breaks 2 others: a small net gain, not shown on 100 rows.
    mixed = ["complaint"] * 3 + current[3:58] + ["other"] * 2 + current[60:]
    shaky = paired_difference(gold, mixed, current)
    assert shaky.delta > 0 > shaky.lower
    # The same net gain on 20 times the rows is shown: the margin is the rows' sampling error.
    many = paired_difference(gold * 20, mixed * 20, current * 20)
    assert many.delta == pytest.approx(shaky.delta) and many.lower > 0
    # Fixed seed: the same bound every time.
    assert paired_difference(gold, mixed, current) == shaky


def test_with_too_few_domain_rows_only_a_better_shipped_score_promotes(
    tmp_path: Path,
    write_social_csv: Callable[[Path, list[tuple[str, str, str]]], None],
    small_hyperparameters: dict[str, int],
) -> None:
    right, wrong, models = tmp_path / "right", tmp_path / "wrong", tmp_path / "models"
    following = {c: CATEGORIES[(i + 1) % len(CATEGORIES)] for i, c in enumerate(CATEGORIES)}
    for folder, rows in (
        (right, social_rows()),
        (wrong, [(lang, text, following[label]) for lang, text, label in social_rows()]),
    ):
        folder.mkdir()
        write_social_csv(folder / "relais_social_test.csv", rows)
    weak, promoted, _ = train_command(models, wrong, hyperparameters=small_hyperparameters, progress=False)
    assert promoted
    few = [(f"zorblax grinchou {i}", "complaint", 20.0) for i in range(10)]
    judged = [(text, label) for text, label, _ in few]
    assert len(split_judged(judged)) < DOMAIN_MIN_ROWS
    # A model no better on the shipped held-out rows, with a few reviewed messages: kept, and the
    # reason says why.
    again, promoted, text = train_command(
        models, wrong, extra=few, judged=judged, hyperparameters=small_hyperparameters, progress=False
    )
    assert not promoted and current_version(models) == weak
    assert "too few to judge the domain" in text and "do not improve" in text
    meta = read_metadata(models, again)["promotion"]
    assert meta["ok"] is False and meta["domain"]["judged"] is False
    # A model better on the shipped held-out rows (the weak one learnt the labels shifted by one
    # class) is promoted on that alone.
    good, promoted, text = train_command(
        models, right, extra=few, judged=judged, hyperparameters=small_hyperparameters, progress=False
    )
    assert promoted and current_version(models) == good
    assert "the shipped held-out rows improve" in text
    assert read_metadata(models, good)["promotion"]["shipped"]["lower_bound"] > 0
