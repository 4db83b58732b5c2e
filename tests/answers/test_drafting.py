"""Drafting picks the best source, on SQLite and PostgreSQL: a matching knowledge-base answer,
else the team's approved reply to a similar message (greeting the new customer), else the
category's template; below the thresholds nothing is claimed; the API and the page say which."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.drafts import service as drafts
from app.drafts.similar import AnswerIndex, AnswerRow, TextIndex
from app.models import Draft, Message
from tests.conftest import deliver, make_user
from tests.web.conftest import db, login
from tests.web.conftest import make_user as make_page_user

RETURNS = {
    "title": "Retours et remboursements",
    "body": "Bonjour {{ first_name }}, vous avez 30 jours pour nous retourner un article. {{ signature }}",
    "language": "fr",
    "examples": [
        "Comment retourner un article ?",
        "Je voudrais renvoyer ma commande",
        "Quel est le délai pour un retour ?",
    ],
    "enabled": True,
}
HOURS = {
    "title": "Horaires de la boutique",
    "body": "Notre boutique est ouverte du mardi au samedi, de 10 h à 19 h.",
    "language": "fr",
    "examples": ["Vous êtes ouverts le dimanche ?", "Quels sont vos horaires ?"],
    "enabled": True,
}


@pytest.fixture
def admin(client: TestClient) -> dict[str, str]:
    client.app.state.drafter.cache_s = 0.0  # type: ignore[attr-defined]
    return make_user(client, "adam", "admin")


def draft_of(client: TestClient, headers: dict[str, str], external_id: str) -> dict[str, Any]:
    with db(client) as s:
        did = s.scalar(select(Draft.id).join(Message).where(Message.external_id.contains(external_id)))
    r = client.get(f"/api/drafts/{did}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_a_matching_question_is_drafted_from_its_answer(client: TestClient, admin: dict[str, str]) -> None:
    ids = [client.post("/api/answers", json=a, headers=admin).json()["id"] for a in (RETURNS, HOURS)]
    deliver(
        client,
        "7001_1",
        "Bonjour, je peux vous renvoyer le pull reçu hier ? Il est trop petit",
        name="Lou Bon",
    )
    deliver(client, "7001_2", "Merci beaucoup pour votre accueil samedi, super équipe !")
    d = draft_of(client, admin, "7001_1")
    assert d["source"]["kind"] == "answer" and d["source"]["id"] == ids[0] and 0 < d["source"]["score"] <= 1
    assert d["text"].startswith("Bonjour Lou, vous avez 30 jours")
    thanks = draft_of(client, admin, "7001_2")
    assert (thanks["source"] or {}).get("kind") != "answer"
    if not thanks["text"]:
        assert thanks["source"] is None


def test_a_disabled_or_other_language_answer_is_not_claimed(
    client: TestClient, admin: dict[str, str]
) -> None:
    client.post("/api/answers", json={**RETURNS, "enabled": False}, headers=admin)
    client.post("/api/answers", json={**RETURNS, "language": "en", "title": "Returns"}, headers=admin)
    deliver(client, "7002_1", "Je voudrais renvoyer ma commande")
    assert (draft_of(client, admin, "7002_1")["source"] or {}).get("kind") != "answer"


def test_an_approved_reply_is_reused_for_a_similar_message_with_the_new_name(
    client: TestClient, admin: dict[str, str]
) -> None:
    deliver(client, "7003_1", "Est-ce que vous livrez en Belgique ?", name="Jules Petit")
    first = draft_of(client, admin, "7003_1")
    sent = "Bonjour Jules, oui : nous livrons en Belgique en 3 à 5 jours, pour 6,90 €. Bonne journée !"
    r = client.post(
        f"/api/drafts/{first['id']}/approve", json={"version": first["version"], "text": sent}, headers=admin
    )
    assert r.status_code == 200, r.text
    deliver(client, "7003_2", "Vous livrez aussi en Belgique ? merci", name="Inès Roy")
    deliver(client, "7003_3", "vous livrez en belgique ?", name="")
    deliver(client, "7003_4", "Le colis est arrivé cassé, je veux un remboursement", name="Max Lin")
    d = draft_of(client, admin, "7003_2")
    assert d["source"]["kind"] == "past_reply" and d["source"]["id"] == first["id"]
    assert d["text"] == sent.replace("Jules", "Inès")
    nameless = draft_of(client, admin, "7003_3")["text"]
    assert nameless.startswith("Bonjour, oui : nous livrons en Belgique")
    unrelated = draft_of(client, admin, "7003_4")
    assert (unrelated["source"] or {}).get("kind") != "past_reply" and "Belgique" not in unrelated["text"]
    assert draft_of(client, admin, "7003_2")["similar"][0]["draft_id"] == first["id"]


def test_an_answer_wins_over_a_past_reply(client: TestClient, admin: dict[str, str]) -> None:
    deliver(client, "7004_1", "Comment retourner un article ?", name="Jules Petit")
    first = draft_of(client, admin, "7004_1")
    r = client.post(
        f"/api/drafts/{first['id']}/approve",
        json={"version": first["version"], "text": "Bonjour Jules, via le site."},
        headers=admin,
    )
    assert r.status_code == 200
    answer = client.post("/api/answers", json=RETURNS, headers=admin).json()
    deliver(client, "7004_2", "Comment retourner un article svp ?", name="Inès Roy")
    assert draft_of(client, admin, "7004_2")["source"]["kind"] == "answer"
    client.patch(f"/api/answers/{answer['id']}", json={"version": 1, "enabled": False}, headers=admin)
    deliver(client, "7004_3", "Comment retourner un article svp ?", name="Inès Roy")
    d = draft_of(client, admin, "7004_3")
    assert d["source"]["kind"] == "past_reply" and d["text"] == "Bonjour Inès, via le site."


def test_the_message_page_says_what_the_draft_was_drafted_from(
    client: TestClient, admin: dict[str, str]
) -> None:
    answer = client.post("/api/answers", json=RETURNS, headers=admin).json()
    deliver(client, "7005_1", "Je voudrais renvoyer ma commande", name="Lou Bon")
    d = draft_of(client, admin, "7005_1")
    make_page_user(client, "ada", "admin")
    assert login(client, "ada").status_code == 200
    page = client.get(f"/drafts/{d['id']}", headers={"Accept-Language": "fr"}).text
    assert (
        "Rédigé à partir de" in page
        and f'href="/answers/{answer["id"]}">Retours et remboursements</a>' in page
    )


def test_the_index_finds_the_nearest_text_and_scores_in_0_1() -> None:
    index = TextIndex()
    for text in ["Vous livrez en Belgique ?", "Mon colis est abîmé", "Quels sont vos horaires ?"]:
        index.add(text)
    hits = index.search("livraison en belgique possible ?", 3)
    assert hits[0][0] == 0 and 0 < hits[0][1] <= 1
    assert index.search("zzz", 3) == [] and TextIndex().search("x y", 3) == []


def test_thresholds_are_in_0_1() -> None:
    assert 0 < drafts.ANSWER_THRESHOLD < 1 and 0 < drafts.PAST_THRESHOLD < 1


def test_an_answer_is_found_by_meaning_and_nothing_is_claimed_far_from_every_answer() -> None:
    index = AnswerIndex()
    card = AnswerRow(1, 1, "Card not arrived", "It takes up to 7 days.", "en", None)
    password = AnswerRow(2, 1, "Change your password", "Open Settings, then Security.", "en", None)
    index.build(
        [
            (card, ["Where is my new card?", "My card has not come in the post"]),
            (password, ["How do I reset my password?", "I forgot my password"]),
        ]
    )
    found = index.best("I am still waiting for the card you sent me", "en")
    assert found is not None and found[0] == card
    far = index.best("what is the weather like in Lisbon tomorrow", "en")
    assert far is None or far[1] < drafts.ANSWER_THRESHOLD
    assert index.best("Where is my new card?", "fr") is None
