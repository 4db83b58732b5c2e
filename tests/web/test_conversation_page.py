"""The conversation on the message page: the customer's earlier and later messages, our replies
with who approved them, and a warning on a draft written before the team replied elsewhere in
the conversation."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.models import Draft, Message
from tests.web.conftest import assert_safe_page, csrf, db, feed, login, make_user


def draft_of(client: TestClient, external_id: str) -> int:
    with db(client) as s:
        did = s.scalar(
            select(Draft.id)
            .join(Message, Message.id == Draft.message_id)
            .where(Message.external_id == external_id)
        )
        assert did is not None
        return did


def test_the_page_shows_our_reply_and_warns_a_draft_written_before_it(client: TestClient) -> None:
    make_user(client)
    feed(client, "20_1", "Ma commande 4321 n'est pas arrivée", author="5555")
    feed(client, "20_2", "Toujours rien, je m'inquiète", author="5555")  # before anyone answered
    assert login(client).status_code == 200
    first, second = draft_of(client, "20_1"), draft_of(client, "20_2")
    r = client.post(
        f"/drafts/{first}/approve",
        data={"version": 1, "csrf_token": csrf(client), "text": "Nous regardons la commande 4321."},
    )
    assert r.status_code in (200, 303)

    r = client.get(f"/drafts/{second}")
    page = assert_safe_page(r.text)
    text = page.body_text.split("La conversation", 1)[1]  # the conversation's section onwards
    # both messages came before our reply
    order = [
        text.index(s) for s in ("n'est pas arrivée", "je m'inquiète", "Nous regardons la commande 4321.")
    ]
    assert order == sorted(order)
    assert "camille (équipe) · validé" in text and "en cours d’envoi" in text
    assert "L’équipe a répondu dans cette conversation depuis que ce brouillon a été écrit" in page.body_text

    # the first message's own page: our reply answers it, nothing to warn about
    r = client.get(f"/drafts/{first}")
    assert "depuis que ce brouillon a été écrit" not in r.text
    assert f'href="/drafts/{second}"' in r.text  # the later message, linked


def test_the_template_picker_renders_in_the_conversation(client: TestClient) -> None:
    """After our reply, the templates offered for the customer's next message follow up instead
    of asking again for the order number."""
    make_user(client)
    feed(client, "30_1", "Mon colis est abîmé", author="5555")
    assert login(client).status_code == 200
    first = draft_of(client, "30_1")
    before = client.get(f"/drafts/{first}").text
    assert "numéro de commande" in before and "pour ces précisions" not in before
    client.post(
        f"/drafts/{first}/approve",
        data={"version": 1, "csrf_token": csrf(client), "text": "Désolés ! Votre numéro de commande ?"},
    )
    feed(client, "30_2", "C'est la 998877", author="5555")
    after = client.get(f"/drafts/{draft_of(client, '30_2')}").text
    assert "Merci Camille pour ces précisions" in after
