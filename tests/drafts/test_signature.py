"""A reused reply greets this customer and is signed as the team signs now."""

from __future__ import annotations

import pytest

from app.config import Settings
from app.drafts import service as drafts
from app.drafts import signature, similar


@pytest.mark.parametrize(
    ("reply", "signer"),
    [
        ("Bonjour Jules, c'est noté.Bien à vous,Damien", "Damien"),
        (
            "Bonjour, nous regardons.\nCordialement,\nLéa, service client Cdiscount",
            "Léa, service client Cdiscount",
        ),
        ("Merci infiniment,Sophie de l'équipe Cdiscount", "Sophie de l'équipe Cdiscount"),
        ("Vous pouvez me donner le n° de la commande ? MerciLucie", "Lucie"),
        ("C'est en route. Bien à vous Léa", "Léa"),
        ("Bonne journée !Damien", "Damien"),
        ("Je vous écris sur Facebook", None),
        ("Nous regardons cela.", None),
        ("Notre service client va jeter un œil à votre dossier ;) MerciLéa", "Léa"),
        ("Merci Damien", "Damien"),
    ],
)
def test_the_signer_is_read_from_the_end_of_the_reply(reply: str, signer: str | None) -> None:
    assert signature.signer(reply) == signer


def test_the_current_signer_is_the_configured_one_else_the_most_frequent_recent_one() -> None:
    recent = ["Ok.Bien à vous,Damien", "Merci,Damien", "Merci,Léa", "Vu."]
    assert signature.current(recent) == "Damien"
    assert signature.current(recent, "Camille, service client") == "Camille, service client"
    assert signature.current(["Ok.Merci,Léa", "Vu."]) is None  # one reply is not a habit
    assert signature.current([]) is None


def test_an_old_signer_is_replaced_and_the_closing_formula_kept() -> None:
    assert signature.resign("Nous regardons.Merci infiniment,Sophie de l'équipe Cdiscount", "Damien") == (
        "Nous regardons.Merci infiniment,Damien"
    )
    assert (
        signature.resign("C'est noté.\nCordialement,\nLéa", "Damien") == "C'est noté.\nCordialement,\nDamien"
    )
    assert signature.resign("C'est noté. Bien à vous,Damien", "Damien") == "C'est noté. Bien à vous,Damien"


def test_an_unsigned_reply_is_signed_only_with_a_configured_signature() -> None:
    assert signature.resign("Nous regardons cela.", "Damien") == "Nous regardons cela."
    assert (
        signature.resign("Nous regardons cela.", "Camille", configured=True)
        == "Nous regardons cela.\nCamille"
    )
    assert signature.resign("Nous regardons cela.", None) == "Nous regardons cela."


@pytest.mark.parametrize(
    ("first_name", "expected"),
    [
        ("Inès", "Bonjour Inès, c'est noté.Bien à vous,Damien"),
        ("INÈS", "Bonjour Inès, c'est noté.Bien à vous,Damien"),
        ("", "Bonjour, c'est noté.Bien à vous,Damien"),
    ],
)
def test_adapt_greets_this_customer_and_signs_as_now(first_name: str, expected: str) -> None:
    masked = signature.mask("Bonjour Jules, c'est noté.Bien à vous,Lucie", "Jules")
    assert signature.adapt(masked, first_name=first_name, signer_now="Damien") == expected


def test_a_reply_that_greeted_nobody_greets_this_customer() -> None:
    assert signature.greet("Bonjour, c'est noté.", "Inès") == "Bonjour Inès, c'est noté."
    assert signature.mask("Merci Jules !", "") == "Merci Jules !"


@pytest.mark.parametrize(
    ("configured", "ending"),
    [("", "Bien à vous,Damien"), ("Camille, service client", "Bien à vous,Camille, service client")],
)
def test_the_drafter_signs_a_reused_reply_as_the_team_does_now(configured: str, ending: str) -> None:
    drafter = drafts.Drafter(Settings(environment="test", agent_signature=configured))
    history = [
        (
            "Ma commande n'est toujours pas arrivée",
            "Jules Martin",
            "Bonjour Jules, nous regardons.Bien à vous,Lucie",
        ),
        ("Où en est ma livraison ?", "Anne", "Bonjour Anne, je regarde.Bien à vous,Damien"),
        ("Colis pas reçu", "Paul", "Bonjour Paul, je vérifie.Bien à vous,Damien"),
    ]
    for i, (text, author, reply) in enumerate(history, 1):
        drafter.past.add(similar.Past(i, i, text, author, reply), "fr")
    found = drafter.past_reply(
        "Ma commande n'est toujours pas arrivée, une semaine déjà",
        language="fr",
        register="vous",
        first_name="Inès",
    )
    assert found is not None
    assert found[0] == f"Bonjour Inès, nous regardons.{ending}"  # Lucie's reply, signed as now
