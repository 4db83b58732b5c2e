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
