import pytest

from classifier.language import detect_language, detect_languages


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bonjour, ma commande n'est toujours pas arrivée", "fr"),
        ("je narrive pas a me connecter depuis hier", "fr"),
        ("Merci beaucoup pour votre aide", "fr"),
        ("Vous livrez le dimanche ?", "fr"),
        ("My order still hasn't arrived", "en"),
        ("I don't recognise a cash withdrawal", "en"),
        ("thanks a lot guys", "en"),
        ("Do you ship to Canada?", "en"),
        ("Hola, ¿dónde está mi pedido?", "es"),
        ("Necesito ayuda con mi cuenta por favor", "es"),
        ("Wo ist meine Bestellung bitte?", "de"),
        ("Il mio pacco non è ancora arrivato", "it"),
        ("A minha encomenda ainda não chegou", "pt"),
        ("Mijn pakket is nog niet aangekomen", "nl"),
        ("Привет, где мой заказ?", "ru"),
        ("注文はどこですか", "ja"),
    ],
)
def test_detects_language(text: str, expected: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "😡😡😡", "ok", "1234"])
def test_undetermined_when_nothing_to_go_on(text: str) -> None:
    assert detect_language(text) == "und"


def test_batch_matches_single() -> None:
    texts = ["Merci beaucoup pour votre aide", "thanks a lot guys", ""]
    assert detect_languages(texts) == [detect_language(t) for t in texts]
