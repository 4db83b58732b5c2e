"""The team's part of the pages, on SQLite and PostgreSQL: assign from the message page (the
conversation follows), notes shown with author and time, the "mine" filter and the counts per
assignee on the queue, bulk approve and assign, saved filters, the news the queue polls; forms
need their CSRF token and the pages stay escaped."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.models import Draft, Note, OutboxItem, SavedFilter
from tests.web.conftest import XSS, assert_safe_page, csrf, db, feed, login, make_user


@pytest.fixture
def cm(client: TestClient) -> TestClient:
    make_user(client, "camille")
    make_user(client, "julien")
    feed(client, "t_1", "Ma commande n'est jamais arrivée")
    feed(client, "t_2", "Et toujours rien ce matin", author="6666")  # the same post
    feed(client, "t_3", "Vous livrez en Corse ?", page="9999")  # another page's post
    assert login(client, "camille").status_code == 200
    return client


def post(client: TestClient, path: str, **data: Any) -> Any:
    return client.post(path, data={"csrf_token": csrf(client), **data}, follow_redirects=False)


def assignees(client: TestClient) -> dict[int, int | None]:
    with db(client) as s:
        return {d.id: d.assignee_id for d in s.scalars(select(Draft))}


def test_assign_to_me_from_the_message_page_takes_the_conversation(cm: TestClient) -> None:
    page = cm.get("/drafts/1")
    assert_safe_page(page.text)
    assert 'id="assign-me-form"' in page.text and "Personne n’a encore pris cette conversation." in page.text
    r = post(cm, "/drafts/1/assign", user="me", q="category=complaint")
    assert r.status_code == 303 and r.headers["location"] == "/drafts/1?category=complaint"
    me = assignees(cm)[1]
    assert me is not None and assignees(cm) == {1: me, 2: me, 3: None}
    page = cm.get(r.headers["location"])
    assert "Conversation assignée à camille (2 brouillons)." in page.text
    assert "Conversation assignée à <b>camille</b>." in page.text and 'id="assign-me-form"' not in page.text
    r = post(cm, "/drafts/2/assign", user="none")
    assert assignees(cm) == {1: None, 2: None, 3: None}
    r = post(cm, "/drafts/2/assign", user="424242")
    assert r.status_code == 303
    assert "L’utilisateur 424242 n’existe pas ou est désactivé." in cm.get(r.headers["location"]).text


def test_a_form_without_its_csrf_token_is_refused(cm: TestClient) -> None:
    for path, data in (
        ("/drafts/1/assign", {"user": "me"}),
        ("/drafts/1/notes", {"text": "x"}),
        ("/queue/bulk", {"action": "approve", "ids": "1"}),
        ("/filters", {"name": "x", "q": ""}),
    ):
        assert cm.post(path, data=data, follow_redirects=False).status_code == 403, path
    assert assignees(cm) == {1: None, 2: None, 3: None}


def test_notes_show_on_the_conversation_with_author_and_time_escaped(cm: TestClient) -> None:
    r = post(cm, "/drafts/1/notes", text=XSS)
    assert r.status_code == 303 and r.headers["location"].endswith("#notes")
    refused = post(cm, "/drafts/1/notes", text="   ")
    assert "Une note ne peut pas être vide." in cm.get(refused.headers["location"]).text
    page = cm.get("/drafts/2")  # another draft of the same post
    assert_safe_page(page.text)
    assert "<script>document.title" not in page.text and "&lt;script&gt;" in page.text
    assert "camille ·" in page.text
    assert "Aucune note pour l’instant." in cm.get("/drafts/3").text
    with db(cm) as s:
        assert [n.text for n in s.scalars(select(Note))] == [XSS]
        assert s.scalars(select(OutboxItem)).all() == []


def test_the_mine_filter_and_the_counts_per_assignee(cm: TestClient) -> None:
    post(cm, "/drafts/3/assign", user="me")
    page = cm.get("/?assignee=me")
    assert_safe_page(page.text)
    assert page.text.count('class="item ') == 1 and "/drafts/3?assignee=me" in page.text
    assert cm.get("/?assignee=none").text.count('class="item ') == 2
    queue = cm.get("/").text
    assert "<b>1</b> à moi" in queue and "<b>2</b> à personne" in queue
    assert "pour camille" in queue  # the card says whose it is
    assert cm.get("/?assignee=bogus").status_code == 200  # an unknown value is dropped


def test_cards_show_the_drafts_first_line(cm: TestClient) -> None:
    with db(cm) as s:
        d = s.get(Draft, 1)
        assert d is not None
        d.text = "Bonjour, nous regardons.\nDeuxième ligne"
        d.source_kind, d.source_id = "answer", 1
        s.commit()
    queue = cm.get("/").text
    assert "Bonjour, nous regardons." in queue and "Deuxième ligne" not in queue
    assert "(de la base de réponses)" in queue  # where the draft came from
    english = cm.get("/", headers={"Accept-Language": "en"}).text
    assert "(from the knowledge base)" in english


def test_bulk_approve_and_assign(cm: TestClient) -> None:
    r = cm.post(
        "/queue/bulk",
        data={"csrf_token": csrf(cm), "action": "assign", "assignee": "me", "ids": ["1", "3"]},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "2 messages assignés." in cm.get(r.headers["location"]).text
    assert set(assignees(cm).values()) == {assignees(cm)[1]} != {None}  # 2 followed 1
    with db(cm) as s:
        texts = {d.id: d.text for d in s.scalars(select(Draft))}
    r = cm.post(
        "/queue/bulk",
        data={"csrf_token": csrf(cm), "action": "approve", "ids": ["1", "2", "999"], "q": "assignee=me"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/?assignee=me"
    flash = cm.get(r.headers["location"]).text
    approved = [i for i in (1, 2) if texts[i].strip()]
    assert f"{len(approved)} réponse" in flash and "#999" in flash
    with db(cm) as s:
        assert sorted(o.draft_id for o in s.scalars(select(OutboxItem))) == approved


def test_saved_filters_per_user(cm: TestClient) -> None:
    r = post(cm, "/filters", name="Plaintes urgentes", q="category=complaint&assignee=me")
    assert r.status_code == 303 and r.headers["location"] == "/?category=complaint&assignee=me"
    queue = cm.get("/").text
    assert 'href="/?category=complaint&amp;assignee=me"' in queue and "Plaintes urgentes" in queue
    with db(cm) as s:
        saved = s.scalars(select(SavedFilter)).one()
    cm.post("/logout", data={"csrf_token": csrf(cm)})
    login(cm, "julien")
    assert "Plaintes urgentes" not in cm.get("/").text
    assert post(cm, f"/filters/{saved.id}/delete").status_code == 404
    cm.post("/logout", data={"csrf_token": csrf(cm)})
    login(cm, "camille")
    assert post(cm, f"/filters/{saved.id}/delete").status_code == 303
    assert "Plaintes urgentes" not in cm.get("/").text


def test_the_queue_polls_for_news_in_the_viewers_words(cm: TestClient) -> None:
    page = cm.get("/").text
    assert 'id="news"' in page and 'data-after="3"' in page
    assert cm.get("/queue/news?after=3").json() == {"count": 0, "newest": 3, "text": "0 nouveau message"}
    feed(cm, "t_4", "Allô ?", author="7777")
    feed(cm, "t_5", "Quelqu'un ?", author="7778", page="9999")
    assert cm.get("/queue/news?after=3").json()["text"] == "2 nouveaux messages"
    post(cm, "/drafts/1/assign", user="me")  # t_4 is on this post
    mine = cm.get("/queue/news?after=3&assignee=me").json()
    assert mine["count"] == 1 and mine["newest"] == 5
    r = cm.get("/queue/news?after=3", headers={"Accept-Language": "en"})
    assert r.json()["text"] == "2 new messages"  # the viewer's language: here, her browser's
    cm.cookies.clear()
    assert cm.get("/queue/news?after=3", follow_redirects=False).status_code == 303


def test_bulk_close_without_a_reply_and_spam_from_the_queue(cm: TestClient) -> None:
    r = cm.post(
        "/queue/bulk",
        data={"csrf_token": csrf(cm), "action": "no_reply", "ids": ["1", "2"]},
        follow_redirects=False,
    )
    assert "2 messages clos sans réponse." in cm.get(r.headers["location"]).text
    r = cm.post(
        "/queue/bulk", data={"csrf_token": csrf(cm), "action": "spam", "ids": ["3"]}, follow_redirects=False
    )
    assert "1 message marqué comme spam." in cm.get(r.headers["location"]).text
    with db(cm) as s:
        assert {d.id: (d.status, d.reason) for d in s.scalars(select(Draft))} == {
            1: ("closed", "no_reply"),
            2: ("closed", "no_reply"),
            3: ("closed", "spam"),
        }
        assert [(o.draft_id, o.action) for o in s.scalars(select(OutboxItem))] == [(3, "hide")]
    r = cm.post("/queue/bulk", data={"csrf_token": csrf(cm), "action": "delete", "ids": ["3"]})
    assert "Cochez des messages, puis choisissez une action." in r.text  # deleting is one at a time
