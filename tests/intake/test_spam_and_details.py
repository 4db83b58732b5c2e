"""Through the webhook, on SQLite and PostgreSQL: spam is kept, flagged and filterable with no
reply text; a complaint that gives its order number gets a draft naming it, not asking for it."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import deliver, make_user

GIVEAWAY = "🎁 GAGNEZ un iPhone 15 gratuit !!! Cliquez ici bit.ly/cadeau-iph0ne et suivez la page 🎁"
COMPLAINT_WITH_LINK = (
    "Le suivi https://www.exemple.fr/suivi ne marche pas, ma commande 45907 est bloquée depuis mardi"
)


def drafts_of(client: TestClient, headers: dict[str, str], **query: Any) -> dict[str, dict[str, Any]]:
    r = client.get("/api/drafts", params={"status": "all", **query}, headers=headers)
    assert r.status_code == 200, r.text
    return {d["message"]["external_id"]: d for d in r.json()["items"]}


def test_spam_gets_no_text_and_is_filterable(client: TestClient) -> None:
    h = make_user(client)
    deliver(client, "7001_1", GIVEAWAY, name="Win Big")
    deliver(client, "7001_2", COMPLAINT_WITH_LINK)
    every = drafts_of(client, h)
    spam, complaint = every["7001_1"], every["7001_2"]
    assert spam["message"]["spam"] and spam["text"] == ""
    assert not complaint["message"]["spam"] and complaint["text"]
    assert set(drafts_of(client, h, spam="true")) == {"7001_1"}
    assert set(drafts_of(client, h, spam="false")) == {"7001_2"}


def test_an_order_number_given_is_not_asked_again(client: TestClient) -> None:
    h = make_user(client)
    deliver(client, "7002_1", COMPLAINT_WITH_LINK)
    text = drafts_of(client, h)["7002_1"]["text"]
    assert "45907" in text and "numéro de commande" not in text, text
    assert text.startswith("Bonjour Camille,"), text
