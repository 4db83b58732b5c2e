"""What a customer already said is read back, and prices, dates, years and phone numbers are
never taken for an order number (the formats are those of real French customer traffic,
measured on it by bench/details_precision.py)."""

from __future__ import annotations

import pytest

from app.drafts.details import NONE, Details, extract, gather


@pytest.mark.parametrize(
    ("text", "order"),
    [
        ("j'ai été débité deux fois pour la même commande (n°45907)", "45907"),
        ("Bonjour, ma commande 45907 devait arriver mardi et toujours rien", "45907"),
        ("Commande N° 2103110715BXMEK toujours pas livrée", "2103110715BXMEK"),
        ("cde 2103110715BXMEKMoi non plus je n'ai rien", "2103110715BXMEK"),  # a glued word cut off
        ("N°2103110715BXMEKCommande du 14 déc", "2103110715BXMEK"),
        ("ma commande de vin numéro 210311071BXMEK hier", "210311071BXMEK"),
        ("Voici le numéro de ma commande : 6005180000 merci", "6005180000"),
        ("Référence : 618000523 - 2107191047OC0QR", "618000523"),
        ("toujours rien pour 2104231550TX655 !", "2104231550TX655"),  # a retailer's shape, no cue
        ("order #A12345 placed on March 3rd", "A12345"),
        ("my order number is 883920", "883920"),
        ("dossier n° 43144164", "43144164"),
    ],
)
def test_order_numbers(text: str, order: str) -> None:
    assert extract(text).order_number == order


@pytest.mark.parametrize(
    "text",
    [
        "une commande à 1550 eur, livrée en retard",
        "commande du 21/04/2021 jamais reçue",
        "commandé le 25-05-2020, rien reçu",
        "commande passée le 12 mars 2022 pour 49,99 €",
        "ma commande de 2022 est perdue",
        "mon n° 0612345678, rappelez-moi",
        "Ordonnance n°2016-301 du 14 mars",
        "le modèle N° 8305 est moins cher ailleurs",  # a bare n° and four digits: a model
        "Téléviseur SHARP LC32HG3342E à 299 €",  # a product model
        "@ENGIEpartFR @MARIEPO22517791 toujours pas de réponse",  # a handle
        "Premier ! 😎",
        "livraison 3 jours au lieu de 24h, 6 articles",
    ],
)
def test_no_false_order_numbers(text: str) -> None:
    assert extract(text).order_number == ""


def test_email_phone_amount_date() -> None:
    d = extract(
        "Écrivez-moi à jean.dupont75@exemple.fr ou au 06 12 34 56 78 : débité de 49,99 € le 12 mars 2022"
    )
    assert d == Details(
        order_number="",
        email="jean.dupont75@exemple.fr",
        phone="06 12 34 56 78",
        amount="49,99 €",
        date="12 mars 2022",
    )


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("appelez le 06.12.34.56.78", "06.12.34.56.78"),
        ("+33 6 12 34 56 78", "+33 6 12 34 56 78"),
        ("0033612345678", "0033612345678"),
        ("call me on +44 20 7946 0958", "+44 20 7946 0958"),
        ("+1 415-555-0132", "+1 415-555-0132"),
        ("du 01.24-17.01.24", ""),  # two dates, not a phone number
    ],
)
def test_phone_numbers(text: str, phone: str) -> None:
    assert extract(text).phone == phone


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("remboursez mes 572,22€", "572,22€"),
        ("$25 charged twice", "$25"),
        ("1 200 euros", "1 200 euros"),
        ("payé 20 EUR", "20 EUR"),
        ("24h sans réponse", ""),
    ],
)
def test_amounts(text: str, amount: str) -> None:
    assert extract(text).amount == amount


@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("livré le 1er juillet", "1er juillet"),
        ("depuis le 21/04", "21/04"),
        ("on March 3rd, 2022", "March 3rd, 2022"),
        ("le 2022-04-21", "2022-04-21"),
        ("une 1/2 heure d'attente", ""),
    ],
)
def test_dates(text: str, date: str) -> None:
    assert extract(text).date == date


def test_the_conversation_completes_the_message() -> None:
    """The message's own details first, then the earlier messages', newest first."""
    found = gather(
        ["c'est toujours pas arrivé", "je vous ai écrit hier pour la commande 45907", "commande 11111"]
    )
    assert found.order_number == "45907"
    assert gather(["commande 22222", "commande 45907"]).order_number == "22222"
    assert gather([]) == NONE
