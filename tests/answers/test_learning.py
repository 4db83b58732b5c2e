"""The knowledge base learns from its use, on SQLite and PostgreSQL: a reply approved from a saved
answer (drafted so, or picked in the editor) and sent close to it teaches the answer the
customer's message, so that the next customer who asks the same way gets that answer; a reply
rewritten away from the answer teaches nothing; an admin can see and forget what was learned."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.drafts import similar
from app.drafts.similar import AnswerIndex, AnswerRow
from app.models import AnswerUse, Draft, OutboxItem
from tests.answers.test_drafting import HOURS, RETURNS, draft_of
from tests.conftest import deliver, make_user
from tests.web.conftest import csrf, db, login
from tests.web.conftest import make_user as make_page_user

# Asked unlike the hours answer's title and examples: no answer is claimed for it at first.
ASKED = "Est-ce que le rayon bricolage de Lyon est accessible pendant le pont du 15 août ?"
ASKED_AGAIN = "Le rayon bricolage de Lyon sera accessible pendant le pont du 15 août ?"


@pytest.fixture
def admin(client: TestClient) -> dict[str, str]:
    client.app.state.drafter.cache_s = 0.0  # type: ignore[attr-defined]
    return make_user(client, "adam", "admin")


def uses(client: TestClient, headers: dict[str, str], answer_id: int) -> dict[str, Any]:
    r = client.get(f"/api/answers/{answer_id}/uses", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def approve(client: TestClient, headers: dict[str, str], draft: dict[str, Any], **body: Any) -> Any:
    return client.post(
        f"/api/drafts/{draft['id']}/approve", json={"version": draft["version"], **body}, headers=headers
    )


def test_an_answer_picked_by_the_reviewer_is_learned_and_drafted_next_time(
    client: TestClient, admin: dict[str, str]
) -> None:
    hours = client.post("/api/answers", json=HOURS, headers=admin).json()
    client.post("/api/answers", json=RETURNS, headers=admin)
    deliver(client, "7101_1", ASKED, name="Lou Bon")
    first = draft_of(client, admin, "7101_1")
    assert (first["source"] or {}).get("kind") != "answer"
    r = approve(client, admin, first, answer_id=hours["id"])
    assert r.status_code == 200, r.text
    assert r.json()["final_text"].startswith("Notre boutique est ouverte du mardi au samedi")
    approved = draft_of(client, admin, "7101_1")
    assert approved["source"]["kind"] == "answer" and approved["source"]["id"] == hours["id"]
    learned = uses(client, admin, hours["id"])
    assert learned["count"] == 1 and learned["uses"][0]["message_text"] == ASKED
    assert learned["uses"][0]["draft_id"] == first["id"]
    deliver(client, "7101_2", ASKED_AGAIN, name="Inès Roy")
    again = draft_of(client, admin, "7101_2")
    assert again["source"]["kind"] == "answer" and again["source"]["id"] == hours["id"]
    assert again["text"].startswith("Notre boutique est ouverte")


def test_a_reply_rewritten_away_from_its_answer_teaches_nothing(
    client: TestClient, admin: dict[str, str]
) -> None:
    returns = client.post("/api/answers", json=RETURNS, headers=admin).json()
    for n, text in enumerate(
        [
            "Je voudrais renvoyer ma commande",
            "Je voudrais renvoyer mon colis",
            "Comment retourner un article ?",
        ]
    ):
        deliver(client, f"7102_{n}", text, name="Lou Bon")
    rewritten, light, as_is = (draft_of(client, admin, f"7102_{n}") for n in range(3))
    assert all(d["source"]["kind"] == "answer" for d in (rewritten, light, as_is))
    other = "Bonjour Lou, un conseiller vous appelle demain matin pour organiser l'enlèvement."
    assert approve(client, admin, rewritten, text=other).status_code == 200
    assert uses(client, admin, returns["id"])["count"] == 0
    assert approve(client, admin, light, text=light["text"] + " Bonne journée !").status_code == 200
    assert approve(client, admin, as_is).status_code == 200
    learned = uses(client, admin, returns["id"])
    assert learned["count"] == 2
    assert [u["message_text"] for u in learned["uses"]] == [
        "Comment retourner un article ?",
        "Je voudrais renvoyer mon colis",
    ]


def test_an_edit_saved_before_approval_is_judged_against_the_answers_draft(
    client: TestClient, admin: dict[str, str]
) -> None:
    returns = client.post("/api/answers", json=RETURNS, headers=admin).json()
    deliver(client, "7103_1", "Je voudrais renvoyer ma commande", name="Lou Bon")
    d = draft_of(client, admin, "7103_1")
    other = "Bonjour Lou, un conseiller vous appelle demain matin pour organiser l'enlèvement."
    r = client.patch(f"/api/drafts/{d['id']}", json={"version": d["version"], "text": other}, headers=admin)
    assert r.status_code == 200, r.text
    assert approve(client, admin, r.json()).status_code == 200  # approved as edited, far from the answer
    assert uses(client, admin, returns["id"])["count"] == 0


def test_a_disabled_or_unknown_answer_is_refused_and_nothing_is_approved(
    client: TestClient, admin: dict[str, str]
) -> None:
    off = client.post("/api/answers", json={**HOURS, "enabled": False}, headers=admin).json()
    deliver(client, "7104_1", ASKED, name="Lou Bon")
    d = draft_of(client, admin, "7104_1")
    for answer_id in (off["id"], 987654):
        r = approve(client, admin, d, answer_id=answer_id)
        assert r.status_code == 422, r.text
        assert f"answer {answer_id} is not an enabled saved answer" in r.text
    assert approve(client, admin, d, answer_id=0).status_code == 422
    after = draft_of(client, admin, "7104_1")
    assert after["status"] == "pending" and after["version"] == d["version"]
    with db(client) as s:
        assert s.scalar(select(func.count()).select_from(OutboxItem)) == 0
        assert s.scalar(select(func.count()).select_from(AnswerUse)) == 0


def test_an_admin_forgets_a_learned_message_and_drafting_no_longer_uses_it(
    client: TestClient, admin: dict[str, str]
) -> None:
    reviewer = make_user(client, "rita", "reviewer")
    hours = client.post("/api/answers", json=HOURS, headers=admin).json()
    deliver(client, "7105_1", ASKED, name="Lou Bon")
    assert approve(client, admin, draft_of(client, admin, "7105_1"), answer_id=hours["id"]).status_code == 200
    use = uses(client, reviewer, hours["id"])["uses"][0]
    assert client.delete(f"/api/answers/{hours['id']}/uses/{use['id']}", headers=reviewer).status_code == 403
    assert client.delete(f"/api/answers/{hours['id']}/uses/{use['id']}", headers=admin).status_code == 204
    r = client.delete(f"/api/answers/{hours['id']}/uses/{use['id']}", headers=admin)
    assert r.status_code == 404 and "learned no message" in r.text
    assert uses(client, admin, hours["id"])["count"] == 0
    assert client.get(f"/api/answers/{hours['id']}", headers=admin).json()["version"] == hours["version"]
    deliver(client, "7105_2", ASKED_AGAIN, name="Inès Roy")
    assert (draft_of(client, admin, "7105_2")["source"] or {}).get("kind") != "answer"


def test_deleting_an_answer_deletes_what_it_learned(client: TestClient, admin: dict[str, str]) -> None:
    hours = client.post("/api/answers", json=HOURS, headers=admin).json()
    deliver(client, "7106_1", ASKED, name="Lou Bon")
    assert approve(client, admin, draft_of(client, admin, "7106_1"), answer_id=hours["id"]).status_code == 200
    assert client.delete(f"/api/answers/{hours['id']}", headers=admin).status_code == 204
    with db(client) as s:
        assert s.scalar(select(func.count()).select_from(AnswerUse)) == 0
    assert client.get(f"/api/answers/{hours['id']}/uses", headers=admin).status_code == 404


def test_a_rebuilt_index_keeps_each_answers_latest_uses(
    client: TestClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(similar, "LEARNED_PER_ANSWER", 2)
    hours = client.post("/api/answers", json=HOURS, headers=admin).json()
    texts = ["Le parking de Lyon est gratuit ?", "Le rayon jardin de Nantes rouvre quand ?", ASKED]
    with db(client) as s:
        for n, text in enumerate(texts):
            s.add(AnswerUse(answer_id=hours["id"], draft_id=n + 1, message_text=text))
        s.commit()
        index = AnswerIndex()
        index.refresh(s)
    assert index.score(ASKED, hours["id"]) > 0.6  # the latest use is learned
    assert index.score(texts[0], hours["id"]) < 0.3  # the oldest one is left out


def test_the_index_learns_up_to_its_bound_and_ignores_unknown_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(similar, "LEARNED_PER_ANSWER", 4)
    index = AnswerIndex()
    card = AnswerRow(1, 1, "Card not arrived", "It takes up to 7 days.", "en", None)
    index.build([(card, ["Where is my new card?"])])
    far = "Can I pay my rent with a cheque in Lisbon?"
    before = index.score(far, 1)
    index.learn([(2, far), (1, far)])
    assert index.score(far, 1) > max(0.6, before + 0.3)
    index.learn([(1, "How do I order a kettle?"), (1, "Is the museum open on Sunday?")])
    assert index.score("Is the museum open on Sunday?", 1) < 0.4  # the answer holds its 4 texts already


def test_the_message_page_offers_the_best_answers_first_and_its_form_teaches(
    client: TestClient, admin: dict[str, str]
) -> None:
    client.post("/api/answers", json=RETURNS, headers=admin)
    hours = client.post("/api/answers", json=HOURS, headers=admin).json()
    deliver(client, "7107_1", "Vous êtes ouverts le dimanche à Lyon ?", name="Lou Bon")
    d = draft_of(client, admin, "7107_1")
    make_page_user(client, "ada", "admin")
    assert login(client, "ada").status_code == 200
    page = client.get(f"/drafts/{d['id']}", headers={"Accept-Language": "fr"}).text
    picker = page[page.index('id="answer-picker"') :]
    assert "Choisir une réponse enregistrée" in picker
    assert picker.index("Horaires de la boutique") < picker.index("Retours et remboursements")
    token = csrf(client, f"/drafts/{d['id']}")
    r = client.post(
        f"/drafts/{d['id']}/approve",
        data={"csrf_token": token, "version": d["version"], "text": HOURS["body"], "answer_id": hours["id"]},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    with db(client) as s:
        assert s.scalar(select(AnswerUse.message_text)) == "Vous êtes ouverts le dimanche à Lyon ?"
        assert s.scalar(select(Draft.source_id).where(Draft.id == d["id"])) == hours["id"]
    edit = client.get(f"/answers/{hours['id']}", headers={"Accept-Language": "fr"}).text
    assert "Appris des réponses approuvées" in edit and "Vous êtes ouverts le dimanche à Lyon ?" in edit
    use_id = uses(client, admin, hours["id"])["uses"][0]["id"]
    r = client.post(
        f"/answers/{hours['id']}/uses/{use_id}/delete",
        data={"csrf_token": csrf(client, f"/answers/{hours['id']}")},
        follow_redirects=False,
    )
    assert r.status_code == 303 and uses(client, admin, hours["id"])["count"] == 0
