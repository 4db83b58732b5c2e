"""The corrections' own feature copy (classifier.adapt) and the corrections' class balance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from classifier.adapt import GATE_POWER, MIN_TAUGHT, CorrectionDomain, neutralise_absent
from classifier.artifacts import TRUSTED_TYPES, load_version, save_model
from classifier.data import CATEGORIES, Row
from classifier.model import TriageModel
from classifier.train import EXTRA_CLASS_FACTOR_MAX, balance_extra, train_model

# A domain the small model has never seen: app reviews, in a vocabulary of their own.
REVIEWS = {
    "complaint": "the {n} widget freezes my phone after the last update, battery gone",
    "suggestion": "the {n} widget needs a landscape layout and a bigger font setting",
    "other": "the {n} widget looks fine on my tablet, five stars for the colours",
}


def _reviews(start: int, count: int) -> list[tuple[str, str]]:
    return [
        (template.format(n=f"model{start + i}"), label)
        for i in range(count)
        for label, template in REVIEWS.items()
    ]


@pytest.fixture(scope="module")
def adapted(small_rows: list[Row], small_hyperparameters: dict[str, int]) -> TriageModel:
    extra = [(text, label, 50.0) for text, label in _reviews(0, 40)]
    model, _ = train_model(small_rows, extra=extra, hyperparameters=small_hyperparameters, progress=False)
    return model


def test_a_model_trained_on_corrections_has_the_domain_step(
    adapted: TriageModel, small_model: TriageModel
) -> None:
    assert "adapt" not in small_model.pipeline.named_steps  # no corrections, no extra step
    adapt = adapted.pipeline.named_steps["adapt"]
    assert isinstance(adapt, CorrectionDomain)
    assert adapted.metadata["domain_adaptation"]["scale"] == adapt.scale
    n = adapt.n_features_in_
    # the copy has the columns the corrections use, and only those
    assert 0 < len(adapt.columns_) < n
    assert adapted.pipeline.named_steps["clf"].coef_.shape == (len(CATEGORIES), n + len(adapt.columns_))
    review = adapted.features([_reviews(0, 1)[0][0]])
    assert set(review.indices) <= set(adapt.columns_.tolist())
    assert not set(shipped_features(adapted).indices) <= set(adapt.columns_.tolist())
    # The gate tells the corrected domain from the shipped data.
    domain = adapted.features([t for t, _ in _reviews(100, 10)])
    shipped = adapted.features(["Vous livrez le dimanche ?", "My parcel never arrived", "Merci !"])
    assert adapt.gate(domain).min() > 0.5 > adapt.gate(shipped).max()


def shipped_features(model: TriageModel):  # type: ignore[no-untyped-def]
    return model.features(["Vous livrez le dimanche ? Ma commande est en retard, merci"])


def test_the_domain_copy_learns_the_domain(adapted: TriageModel) -> None:
    unseen = _reviews(200, 10)
    predicted = [p.category for p in adapted.predict([t for t, _ in unseen])]
    assert sum(p == label for p, (_, label) in zip(predicted, unseen, strict=True)) >= 0.9 * len(unseen)


def test_fast_path_equals_the_pipeline_with_the_domain_step(adapted: TriageModel) -> None:
    texts = ["Vous livrez le dimanche ?", "", "the x widget freezes", "😡", _reviews(300, 1)[0][0]]
    assert adapted._blocks is not None  # scored block by block, not through the stacked matrix
    ours = adapted.predict_proba(texts)
    theirs = adapted.pipeline.predict_proba(texts)
    order = [list(adapted.pipeline.classes_).index(c) for c in CATEGORIES]
    assert np.allclose(ours, theirs[:, order], rtol=0, atol=1e-12)
    many = adapted.predict_proba(texts * 120)  # a batch scored through the sparse matrix
    assert np.allclose(many[: len(texts)], ours, rtol=0, atol=1e-12)


def test_the_domain_step_saves_and_loads_with_skops(adapted: TriageModel, tmp_path: Path) -> None:
    assert "classifier.adapt.CorrectionDomain" in TRUSTED_TYPES
    save_model(tmp_path, adapted.pipeline, dict(adapted.metadata))
    loaded = load_version(tmp_path, adapted.version)
    texts = [t for t, _ in _reviews(400, 3)] + ["Vous livrez le dimanche ?"]
    assert np.array_equal(loaded.predict_proba(texts), adapted.predict_proba(texts))


def test_explanations_of_an_adapted_model_name_terms_of_the_text(adapted: TriageModel) -> None:
    text = _reviews(500, 1)[0][0]
    terms = adapted.explain(text, top=5)
    assert terms
    for term, _ in terms:
        assert term.startswith("cue:") or term.strip("'").strip() in text


def test_balance_extra_evens_class_totals_and_keeps_the_total() -> None:
    extra = [(f"c{i}", "complaint", 10.0) for i in range(60)]
    extra += [(f"s{i}", "suggestion", 10.0) for i in range(30)]
    extra += [(f"o{i}", "other", 10.0) for i in range(45)]
    balanced = balance_extra(extra)
    totals: dict[str, float] = {}
    for _, label, weight in balanced:
        totals[label] = totals.get(label, 0.0) + weight
    assert sum(totals.values()) == pytest.approx(135 * 10.0)
    assert max(totals.values()) == pytest.approx(min(totals.values()))
    # A lone example of a class is not blown up to the others' total: its factor is capped.
    lone = balance_extra([(f"c{i}", "complaint", 10.0) for i in range(99)] + [("q", "question", 10.0)])
    weights = {label: w for _, label, w in lone}
    # complaint: factor 500 / 990 (down to half the total); question: 3, not 50
    assert weights["question"] / weights["complaint"] == pytest.approx(EXTRA_CLASS_FACTOR_MAX / (500 / 990))
    assert sum(w for _, _, w in lone) == pytest.approx(1000.0)
    assert balance_extra([("a", "other", 3.0)]) == [("a", "other", 3.0)]


# The same app's other reviews, in words the corrections never use: received, never corrected.
OTHER_REVIEWS = (
    "my {n} gizmo app keeps crashing at startup",
    "please let the {n} gizmo sync its playlists to the cloud",
    "the {n} gizmo app is nice on my old tablet",
)


def _other_reviews(start: int, count: int) -> list[str]:
    return [template.format(n=f"unit{start + i}") for i in range(count) for template in OTHER_REVIEWS]


def test_received_messages_teach_the_gate_and_are_never_training_rows(
    small_rows: list[Row], small_hyperparameters: dict[str, int], adapted: TriageModel
) -> None:
    extra = [(text, label, 50.0) for text, label in _reviews(0, 40)]
    received = _other_reviews(0, 40) + [text for text, _, _ in extra]
    model, _ = train_model(
        small_rows, extra=extra, received=received, hyperparameters=small_hyperparameters, progress=False
    )
    adapt = model.pipeline.named_steps["adapt"]
    assert model.metadata["domain_adaptation"]["gate_received"] == len(received)
    # Unlabelled, the received texts add no training row: same rows, same fingerprint, same copy
    # columns (the corrections') as the model trained without them.
    assert model.metadata["data_fingerprint"] == adapted.metadata["data_fingerprint"]
    assert model.metadata["train_rows_by_source"] == adapted.metadata["train_rows_by_source"]
    assert np.array_equal(adapt.columns_, adapted.pipeline.named_steps["adapt"].columns_)
    # The gate recognises the domain's unseen messages in the received messages' words...
    unseen = model.features(_other_reviews(100, 10))
    with_received = adapt.gate(unseen)
    without = adapted.pipeline.named_steps["adapt"].gate(adapted.features(_other_reviews(100, 10)))
    assert with_received.mean() > without.mean() + 0.2 and with_received.min() > 0.5
    # ...not the shipped data's...
    shipped = model.features(["Vous livrez le dimanche ?", "My parcel never arrived", "Merci !"])
    assert adapt.gate(shipped).max() < 0.2
    # ...and the corrected messages still get their labels.
    trained = _reviews(0, 40)
    predicted = [p.category for p in model.predict([t for t, _ in trained])]
    assert sum(p == label for p, (_, label) in zip(predicted, trained, strict=True)) >= 0.95 * len(trained)
    ours = model.predict_proba(_other_reviews(200, 2) + ["Vous livrez le dimanche ?"])
    theirs = model.pipeline.predict_proba(_other_reviews(200, 2) + ["Vous livrez le dimanche ?"])
    order = [list(model.pipeline.classes_).index(c) for c in CATEGORIES]
    assert np.allclose(ours, theirs[:, order], rtol=0, atol=1e-12)


def test_the_gate_is_the_logistic_probability_to_its_power(adapted: TriageModel) -> None:
    adapt = adapted.pipeline.named_steps["adapt"]
    assert adapt.power == GATE_POWER == adapted.metadata["domain_adaptation"]["gate_power"]
    X = adapted.features([t for t, _ in _reviews(600, 2)] + ["Vous livrez le dimanche ?"])
    z = np.asarray(X @ adapt.gate_coef_).ravel() + adapt.gate_intercept_
    assert np.allclose(adapt.gate(X), (1.0 / (1.0 + np.exp(-z))) ** GATE_POWER)
    # A version saved before the power existed keeps its gate as it was (power 1).
    del adapt.power
    try:
        assert np.allclose(adapt.gate(X), 1.0 / (1.0 + np.exp(-z)))
    finally:
        adapt.power = GATE_POWER


def test_a_class_the_corrections_barely_show_is_neither_pushed_up_nor_down() -> None:
    copy = np.asarray([[1.0, 2.0], [3.0, 0.0], [-5.0, 7.0], [0.5, 0.5]])
    classes = ["complaint", "other", "question", "suggestion"]
    taught = ["complaint"] * MIN_TAUGHT + ["other"] * MIN_TAUGHT + ["question"] * (MIN_TAUGHT - 1)
    out = neutralise_absent(copy, classes, taught)
    assert np.array_equal(out[:2], copy[:2])  # taught classes keep their weights
    assert np.allclose(out[2], [2.0, 1.0]) and np.allclose(out[3], [2.0, 1.0])  # the others' mean
    assert np.array_equal(neutralise_absent(copy, classes, []), copy)  # nothing taught: unchanged
    # one class taught: it rises against the others, which fall together
    alone = neutralise_absent(copy, classes, ["other"] * MIN_TAUGHT)
    assert np.array_equal(alone[1], copy[1])
    assert all(np.allclose(alone[i], copy[[0, 2, 3]].mean(axis=0)) for i in (0, 2, 3))


def test_a_model_corrected_on_two_classes_keeps_the_third_in_their_domain(
    small_rows: list[Row], small_hyperparameters: dict[str, int]
) -> None:
    """Corrections with complaints and others only (no suggestion) do not teach the domain that
    suggestions never happen: the copy's suggestion weights are the mean of the two it was taught."""
    extra = [(text, label, 50.0) for text, label in _reviews(0, 40) if label != "suggestion"]
    model, _ = train_model(small_rows, extra=extra, hyperparameters=small_hyperparameters, progress=False)
    clf = model.pipeline.named_steps["clf"]
    width = model.pipeline.named_steps["adapt"].n_features_in_
    copy = np.asarray(clf.coef_)[:, width:]
    classes = [str(c) for c in clf.classes_]
    taught = [classes.index("complaint"), classes.index("other")]
    for absent in ("suggestion", "question"):
        assert np.allclose(copy[classes.index(absent)], copy[taught].mean(axis=0))
