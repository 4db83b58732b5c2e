"""The refining head (classifier/refine.py): pooling, its file, training with it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from classifier import CATEGORIES, load_current
from classifier.artifacts import load_version, save_model
from classifier.data import Row
from classifier.encoder import DIMENSIONS, EmbeddingCache
from classifier.model import TriageModel
from classifier.refine import HEAD_FILE, Refined, RefineHead, fit_head, reading
from classifier.train import train_model


def head(rng: np.random.Generator, **kwargs: float) -> RefineHead:
    return RefineHead(
        rng.normal(size=(len(CATEGORIES), DIMENSIONS)).astype(np.float32),
        rng.normal(size=len(CATEGORIES)).astype(np.float32),
        **kwargs,
    )


def test_pooling_is_the_weighted_product_of_the_two_opinions() -> None:
    rng = np.random.default_rng(1)
    h = head(rng, fast_weight=0.6, temperature=1.5, complaint_bias=0.35)
    fast = rng.dirichlet(np.ones(len(CATEGORIES)), size=5)
    x = rng.normal(size=(5, DIMENSIONS)).astype(np.float32)
    z = (x @ h.coef.T + h.intercept) / 1.5
    p_head = np.exp(z - z.max(axis=1, keepdims=True))
    p_head /= p_head.sum(axis=1, keepdims=True)
    expected = fast**0.6 * p_head**0.4
    expected[:, CATEGORIES.index("complaint")] *= np.exp(0.35)
    expected /= expected.sum(axis=1, keepdims=True)
    assert np.allclose(h.proba(fast, x), expected, atol=1e-6)
    # the pipeline alone when its weight is 1 (and no bias)
    alone = RefineHead(h.coef, h.intercept, fast_weight=1.0, complaint_bias=0.0)
    assert np.allclose(alone.proba(fast, x), fast, atol=1e-6)


def test_the_head_file_round_trips_and_refuses_a_wrong_shape(tmp_path: Path) -> None:
    h = head(np.random.default_rng(2), fast_weight=0.5, temperature=2.0, complaint_bias=0.1)
    h.save(tmp_path)
    back = RefineHead.load(tmp_path)
    assert back is not None and np.array_equal(back.coef, h.coef)
    assert (back.fast_weight, back.temperature, back.complaint_bias) == (0.5, 2.0, 0.1)
    np.savez(tmp_path / HEAD_FILE, coef=np.zeros((3, 4)), intercept=np.zeros(3), params=np.zeros(3))
    with pytest.raises(ValueError, match="not a refining head"):
        RefineHead.load(tmp_path)
    assert RefineHead.load(tmp_path / "nowhere") is None


def test_fit_head_learns_classes_from_embeddings() -> None:
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(len(CATEGORIES), DIMENSIONS))
    labels = [CATEGORIES[i % 4] for i in range(400)]
    x = np.stack([centres[CATEGORIES.index(lab)] + rng.normal(scale=0.5, size=DIMENSIONS) for lab in labels])
    h = fit_head(x.astype(np.float32), labels, np.ones(len(labels)))
    uniform = np.full((len(labels), 4), 0.25)
    predicted = [CATEGORIES[i] for i in h.proba(uniform, x.astype(np.float32)).argmax(axis=1)]
    assert np.mean([p == lab for p, lab in zip(predicted, labels, strict=True)]) > 0.95


def test_training_with_the_cache_saves_a_head_and_reports_the_model_refined(
    tmp_path: Path, small_rows: list[Row], small_hyperparameters: dict[str, int]
) -> None:
    cache = EmbeddingCache(tmp_path / "local.npz")
    model, report = train_model(
        small_rows, hyperparameters=small_hyperparameters, progress=False, embeddings=cache
    )
    assert model.head is not None and model.metadata["refine"]["fast_weight"] == model.head.fast_weight
    assert report["intake_macro_f1"] == model.metadata["metrics"]["intake_macro_f1"]
    directory = save_model(tmp_path / "models", model.pipeline, model.metadata, model.head)
    assert (directory / HEAD_FILE).exists()
    loaded = load_version(tmp_path / "models", model.version)
    assert loaded.head is not None and np.array_equal(loaded.head.coef, model.head.coef)
    texts = ["Ma commande n'est jamais arrivée !", "Vous livrez le dimanche ?"]
    refined = reading(loaded, cache)
    assert isinstance(refined, Refined)
    assert np.allclose(refined.predict_proba(texts), loaded.refined_proba(texts, cache.embeddings(texts)))
    assert reading(loaded, None) is loaded  # no cache: the intake's model


def test_the_shipped_model_is_better_refined_on_its_held_out_rows(shipped_models_dir: Path) -> None:
    model = load_current(shipped_models_dir)
    assert isinstance(model, TriageModel) and model.head is not None
    metrics = model.metadata["metrics"]
    assert metrics["macro_f1"] > metrics["intake_macro_f1"]


def _clusters(rng: np.random.Generator, centres: np.ndarray, labels: list[str]) -> np.ndarray:
    x = np.stack([centres[CATEGORIES.index(lab)] + rng.normal(scale=0.3, size=DIMENSIONS) for lab in labels])
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_the_corrections_copy_speaks_only_where_the_gate_opens(tmp_path: Path) -> None:
    """Shipped rows say cluster i is class i; the corrections say the same clusters mean the next
    class in their domain. Gate closed: the shipped reading; gate open: the corrections'."""
    rng = np.random.default_rng(4)
    centres = rng.normal(size=(len(CATEGORIES), DIMENSIONS))
    shipped = [CATEGORIES[i % 4] for i in range(400)]
    corrected = [CATEGORIES[i % 4] for i in range(80)]
    domain_labels = [CATEGORIES[(CATEGORIES.index(lab) + 1) % 4] for lab in corrected]
    x = np.vstack([_clusters(rng, centres, shipped), _clusters(rng, centres, corrected)])
    domain = np.r_[np.zeros(len(shipped)), np.ones(len(corrected))]
    weights = np.r_[np.ones(len(shipped)), np.full(len(corrected), 20.0)]
    h = fit_head(x, shipped + domain_labels, weights, domain=domain)
    assert h.domain_coef is not None and h.domain_coef.shape == h.coef.shape
    assert h.domain_intercept is not None
    unseen = [CATEGORIES[i % 4] for i in range(40)]
    fresh = _clusters(rng, centres, unseen)
    uniform = np.full((len(unseen), 4), 0.25)

    def read(gate: np.ndarray | None) -> list[str]:
        return [CATEGORIES[i] for i in h.proba(uniform, fresh, gate).argmax(axis=1)]

    shifted = [CATEGORIES[(CATEGORIES.index(lab) + 1) % 4] for lab in unseen]
    assert read(None) == unseen and read(np.zeros(len(unseen))) == unseen
    assert np.mean([a == b for a, b in zip(read(np.ones(len(unseen))), shifted, strict=True)]) > 0.9
    # without corrections there is no copy at all
    assert fit_head(x[:400], shipped, np.ones(400), domain=np.zeros(400)).domain_coef is None
    h.save(tmp_path)
    back = RefineHead.load(tmp_path)
    assert back is not None and back.domain_coef is not None and back.domain_intercept is not None
    opened = np.ones(len(unseen))
    assert np.allclose(back.proba(uniform, fresh, opened), h.proba(uniform, fresh, opened))
    np.savez(
        tmp_path / HEAD_FILE,
        coef=h.coef,
        intercept=h.intercept,
        params=np.zeros(3),
        domain_coef=h.coef[:, :3],
    )
    with pytest.raises(ValueError, match="corrections' weights"):
        RefineHead.load(tmp_path)


def test_a_model_trained_on_corrections_refines_with_its_domain_gate(
    tmp_path: Path, small_rows: list[Row], small_hyperparameters: dict[str, int]
) -> None:
    """The head of a model trained on corrections has their copy, and the refined reading of a
    message is the head's pooling with the pipeline's own domain gate for that message."""
    extra = [(f"le widget modèle{i} plante après la mise à jour", "complaint", 250.0) for i in range(20)] + [
        (f"le widget modèle{i} est très joli sur ma tablette", "other", 250.0) for i in range(20)
    ]
    cache = EmbeddingCache(tmp_path / "local.npz")
    model, _ = train_model(
        small_rows, extra=extra, hyperparameters=small_hyperparameters, progress=False, embeddings=cache
    )
    assert model.head is not None and model.head.domain_coef is not None
    assert model.metadata["refine"]["domain_scale"] > 0
    texts = ["le widget modèle99 plante tout le temps", "Vous livrez le dimanche ?"]
    _, gate = model._proba_and_gate(texts)
    assert gate is not None and gate[0] > gate[1]
    embeddings = cache.embeddings(texts)
    expected = model.head.proba(model.predict_proba(texts), embeddings, gate)
    assert np.allclose(model.refined_proba(texts, embeddings), expected)
    assert not np.allclose(expected, model.head.proba(model.predict_proba(texts), embeddings, None))
