"""The committed default model: loads with the fixed allow-list and gets clear-cut cases right."""

from pathlib import Path

import pytest

from classifier import TriageModel, load_current


@pytest.fixture(scope="module")
def shipped(shipped_models_dir: Path) -> TriageModel:
    model = load_current(shipped_models_dir)
    assert model is not None, "models/CURRENT must name a shipped model"
    return model


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Do you deliver on Sundays?", "question"),
        ("How do I reset my password?", "question"),
        ("Vous livrez le dimanche ?", "question"),
        ("Comment je fais pour changer mon adresse de livraison ?", "question"),
        ("My order never arrived and nobody answers my emails, this is unacceptable", "complaint"),
        ("The app crashes every time I open it since the update", "complaint"),
        ("Ma commande n'est toujours pas arrivée, c'est inadmissible", "complaint"),
        ("Toujours pas de connexion internet depuis 3 jours, c'est une honte", "complaint"),
        ("It would be great if you added a dark mode", "suggestion"),
        ("You should offer a student discount", "suggestion"),
        ("Ce serait top d'avoir un mode sombre dans l'appli", "suggestion"),
        ("Vous devriez proposer la livraison en point relais", "suggestion"),
        ("Thank you so much, amazing service!", "other"),
        ("Happy new year to the whole team", "other"),
        ("Merci beaucoup, super service !", "other"),
        ("Bravo à toute l'équipe pour ce nouveau magasin", "other"),
    ],
)
def test_clear_cut_examples(shipped: TriageModel, text: str, category: str) -> None:
    [prediction] = shipped.predict([text])
    assert prediction.category == category, prediction


def test_languages_and_version(shipped: TriageModel) -> None:
    predictions = shipped.predict(["Ma commande est en retard", "My order is late", "¿Dónde está mi pedido?"])
    assert [p.language for p in predictions] == ["fr", "en", "es"]
    assert all(p.model_version == shipped.version for p in predictions)
