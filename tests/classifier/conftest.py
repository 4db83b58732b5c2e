"""Small, fast fixtures: a tiny pipeline trained on a slice of the project's own data."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

import tests.conftest
from classifier.artifacts import promote, save_model
from classifier.data import Row, load_training_rows
from classifier.model import TriageModel
from classifier.train import train_model

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = REPO / "data"
MODELS_DIR = REPO / "models"

SMALL_HYPERPARAMETERS = {
    "word_n_features": 2**14,
    "char_n_features": 2**14,
    "max_iter": 200,
}


def _handmade_rows() -> list[Row]:
    examples = {
        "question": [
            "Do you deliver on Sundays?",
            "How can I change my password?",
            "Where is your shop in Lyon?",
            "Vous livrez le dimanche ?",
            "Comment je change mon mot de passe ?",
            "Quels sont vos horaires ?",
        ],
        "complaint": [
            "My order never arrived, this is unacceptable",
            "The app keeps crashing since the update",
            "I was charged twice and nobody answers",
            "Ma commande n'est jamais arrivée, c'est inadmissible",
            "L'appli plante depuis la mise à jour",
            "J'ai été débité deux fois et personne ne répond",
        ],
        "suggestion": [
            "It would be great to have a dark mode",
            "You should add Apple Pay",
            "Please add an option to export invoices",
            "Ce serait top d'avoir un mode sombre",
            "Vous devriez proposer le paiement en trois fois",
            "Pensez à ajouter un export CSV",
        ],
        "other": [
            "Thanks a lot, great service!",
            "Love you guys",
            "Happy new year everyone",
            "Merci beaucoup, super service !",
            "Bravo à toute l'équipe",
            "Bonne année à tous",
        ],
    }
    return [
        Row(text, label, "fr" if i >= 3 else "en", "handmade", f"{label}-{i}")
        for label, texts in examples.items()
        for i, text in enumerate(texts)
    ]


@pytest.fixture(scope="session")
def small_rows() -> list[Row]:
    """About 3,000 labelled rows: a fixed sample of data/ plus a few handmade ones."""
    rows = load_training_rows(DATA_DIR)
    sample = random.Random(7).sample(rows, min(3000, len(rows)))
    return sample + _handmade_rows() * 3


@pytest.fixture(scope="session")
def small_model(small_rows: list[Row]) -> TriageModel:
    model, _ = train_model(small_rows, hyperparameters=SMALL_HYPERPARAMETERS, progress=False)
    return model


@pytest.fixture()
def models_dir(tmp_path: Path, small_model: TriageModel) -> Path:
    """A models directory holding the small model, promoted."""
    directory = tmp_path / "models"
    directory.mkdir()
    save_model(directory, small_model.pipeline, small_model.metadata)
    promote(directory, small_model.version)
    return directory


@pytest.fixture()
def write_social_csv() -> Callable[[Path, list[tuple[str, str, str]]], None]:
    """Writes rows (lang, text, label) in the team's social CSV format."""
    return tests.conftest.write_social_csv


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA_DIR


@pytest.fixture(scope="session")
def shipped_models_dir() -> Path:
    return MODELS_DIR


@pytest.fixture(scope="session")
def small_hyperparameters() -> dict[str, int]:
    return dict(SMALL_HYPERPARAMETERS)
