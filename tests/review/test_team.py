"""Team work over the API, on SQLite and PostgreSQL: a conversation assigned (its pending drafts
and its new messages follow), the "mine" filter and the counts per assignee, internal notes that
are never sent, saved filters, and the small endpoint a queue polls for new messages."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app import db
from app.models import OutboxItem
from tests.conftest import deliver, make_user


@pytest.fixture
def team(client: TestClient) -> dict[str, dict[str, str]]:
    return {"rita": make_user(client, "rita", "reviewer"), "sam": make_user(client, "sam", "reviewer")}


def _me(client: TestClient, headers: dict[str, str]) -> int:
    return int(client.get("/api/me", headers=headers).json()["id"])


def _ids(client: TestClient, headers: dict[str, str], **params: Any) -> list[int]:
    r = client.get("/api/drafts", params={"limit": 200, **params}, headers=headers)
    assert r.status_code == 200, r.text
    return [d["id"] for d in r.json()["items"]]


def _assign(client: TestClient, headers: dict[str, str], draft_id: int, user_id: Any) -> Any:
    return client.post(f"/api/drafts/{draft_id}/assign", json={"user_id": user_id}, headers=headers)


def test_assigning_a_draft_assigns_its_conversation_and_its_new_messages(
    client: TestClient, team: dict[str, dict[str, str]]
) -> None:
    deliver(client, "c_1", "Ma commande n'est jamais arrivée")
    deliver(client, "c_2", "Et toujours rien ce matin", author="6666")  # the same post
    deliver(client, "o_1", "Vous livrez en Corse ?", page="9999")  # another page's post
    rita, sam = team["rita"], team["sam"]
    first, second, other = sorted(_ids(client, rita))
    r = _assign(client, rita, first, "me")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["assignee"]["name"] == "rita" and body["drafts"] == [first, second]
    assert body["draft"]["assignee_id"] == _me(client, rita)
    assert sorted(_ids(client, rita, assignee="me")) == [first, second]
    assert _ids(client, sam, assignee="me") == [] and _ids(client, sam, assignee="none") == [other]
    assert sorted(_ids(client, sam, assignee=str(_me(client, rita)))) == [first, second]

    deliver(client, "c_3", "Allô ?", author="7777")  # a new message of the assigned post
    newest = max(_ids(client, rita))
    assert newest in _ids(client, rita, assignee="me")

    again = _assign(client, rita, first, "me").json()
    assert again["drafts"] == []  # nothing changed, nothing recorded

    r = _assign(client, sam, second, _me(client, sam))
    assert r.status_code == 200 and r.json()["drafts"] == [first, second, newest]
    assert _ids(client, rita, assignee="me") == []
    history = client.get(f"/api/drafts/{first}", headers=rita).json()["history"]
    assigned = [e for e in history if e["action"] == "assigned"]
    assert [e["data"]["user_id"] for e in assigned] == [_me(client, rita), _me(client, sam)]
    assert assigned[1]["actor_id"] == _me(client, sam)

    r = _assign(client, sam, first, None)
    assert r.status_code == 200 and r.json()["assignee"] is None
    assert sorted(_ids(client, sam, assignee="none")) == sorted([first, second, newest, other])


def test_a_decided_draft_keeps_its_assignee(client: TestClient, team: dict[str, dict[str, str]]) -> None:
    deliver(client, "d_1", "Vous livrez le dimanche ?")
    deliver(client, "d_2", "Et le samedi ?", author="6666")
    rita = team["rita"]
    first, second = sorted(_ids(client, rita))
    _assign(client, rita, first, "me")
    detail = client.get(f"/api/drafts/{first}", headers=rita).json()
    r = client.post(
        f"/api/drafts/{first}/approve", json={"version": detail["version"], "text": "Oui"}, headers=rita
    )
    assert r.status_code == 200
    r = _assign(client, rita, second, _me(client, team["sam"]))
    assert r.json()["drafts"] == [second]
    assert client.get(f"/api/drafts/{first}", headers=rita).json()["assignee_id"] == _me(client, rita)


@pytest.mark.parametrize(
    "body,field",
    [
        ({}, "user_id"),
        ({"user_id": "you"}, "user_id"),
        ({"user_id": "3"}, "user_id"),
        ({"user_id": 0}, "user_id"),
        ({"user_id": True}, "user_id"),
        ({"user_id": 2**53}, "user_id"),
    ],
)
def test_an_assignment_body_is_strict(
    client: TestClient, team: dict[str, dict[str, str]], body: dict[str, Any], field: str
) -> None:
    deliver(client, "s_1", "Vous livrez le dimanche ?")
    r = client.post("/api/drafts/1/assign", json=body, headers=team["rita"])
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"].startswith(f"{field}:"), r.text


def test_assigning_to_someone_who_cannot_take_it_is_a_422_with_the_reason(
    client: TestClient, team: dict[str, dict[str, str]]
) -> None:
    deliver(client, "u_1", "Vous livrez le dimanche ?")
    from app.users import service as users

    with db.transaction(client.app.state.sessions) as session:
        gone, _ = users.create(session, name="gone", role="reviewer", password=None)
        gone.disabled = True
        gone_id = gone.id
    for user_id in (gone_id, 424242):
        r = _assign(client, team["rita"], 1, user_id)
        assert r.status_code == 404 and "does not exist or is disabled" in r.json()["error"]["message"]
    assert _assign(client, team["rita"], 999, "me").status_code == 404
    names = [u["name"] for u in client.get("/api/users", headers=team["rita"]).json()]
    assert names == ["rita", "sam"]


def test_the_queue_filter_on_assignee_is_checked(client: TestClient, team: dict[str, dict[str, str]]) -> None:
    for bad in ("bogus", "0", "-1", "me,none", str(2**53)):
        r = client.get("/api/drafts", params={"assignee": bad}, headers=team["rita"])
        assert r.status_code == 422 and r.json()["error"]["message"].startswith("assignee"), (bad, r.text)


def test_counts_per_assignee(client: TestClient, team: dict[str, dict[str, str]]) -> None:
    deliver(client, "n_1", "Vous livrez le dimanche ?")
    deliver(client, "n_2", "Vous livrez en Corse ?", page="9999")
    rita = team["rita"]
    _assign(client, rita, 1, "me")
    page = client.get("/api/drafts", params={"with_counts": True}, headers=rita).json()
    assert page["assignee_counts"] == {str(_me(client, rita)): 1, "none": 1}
    assert sum(page["counts"].values()) == 2


def test_notes_are_on_the_conversation_with_author_and_time_and_never_sent(
    client: TestClient, team: dict[str, dict[str, str]]
) -> None:
    deliver(client, "t_1", "Ma commande n'est jamais arrivée")
    deliver(client, "t_2", "Toujours rien", author="6666")
    deliver(client, "t_3", "Autre page", page="9999")
    rita, sam = team["rita"], team["sam"]
    r = client.post("/api/drafts/1/notes", json={"text": "  Client VIP, voir le ticket 4521  "}, headers=rita)
    assert r.status_code == 201, r.text
    note = r.json()
    assert note["text"] == "Client VIP, voir le ticket 4521" and note["author_name"] == "rita"
    assert note["created_at"] and note["draft_id"] == 1
    client.post("/api/drafts/2/notes", json={"text": "Je le rappelle demain"}, headers=sam)
    listed = client.get("/api/drafts/2/notes", headers=rita).json()
    assert [(n["author_name"], n["text"]) for n in listed] == [
        ("rita", "Client VIP, voir le ticket 4521"),
        ("sam", "Je le rappelle demain"),
    ]
    assert client.get("/api/drafts/3/notes", headers=rita).json() == []
    history = client.get("/api/drafts/1", headers=rita).json()["history"]
    assert [e["data"] for e in history if e["action"] == "note"] == [{"note_id": note["id"]}]
    with db.transaction(client.app.state.sessions) as session:
        assert session.scalars(select(OutboxItem)).all() == []


@pytest.mark.parametrize(
    "body,status,starts",
    [
        ({"text": ""}, 422, "text:"),
        ({"text": "x" * 4001}, 422, "text:"),
        ({"text": 3}, 422, "text:"),
        ({"text": "   "}, 422, "a note cannot be empty"),
    ],
)
def test_a_note_is_refused_with_a_reason(
    client: TestClient, team: dict[str, dict[str, str]], body: dict[str, Any], status: int, starts: str
) -> None:
    deliver(client, "r_1", "Vous livrez le dimanche ?")
    r = client.post("/api/drafts/1/notes", json=body, headers=team["rita"])
    assert r.status_code == status and r.json()["error"]["message"].startswith(starts), r.text
    assert client.post("/api/drafts/7/notes", json={"text": "x"}, headers=team["rita"]).status_code == 404


def test_saved_filters_are_each_reviewers_own(client: TestClient, team: dict[str, dict[str, str]]) -> None:
    rita, sam = team["rita"], team["sam"]
    r = client.post(
        "/api/saved-filters",
        json={"name": "Mes plaintes", "query": "?assignee=me&category=complaint&platform="},
        headers=rita,
    )
    assert r.status_code == 200, r.text
    saved = r.json()
    assert saved["query"] == "category=complaint&assignee=me"
    again = client.post(
        "/api/saved-filters", json={"name": "Mes plaintes", "query": "category=question"}, headers=rita
    ).json()
    assert again["id"] == saved["id"] and again["query"] == "category=question"
    assert [f["name"] for f in client.get("/api/saved-filters", headers=rita).json()] == ["Mes plaintes"]
    assert client.get("/api/saved-filters", headers=sam).json() == []
    assert client.delete(f"/api/saved-filters/{saved['id']}", headers=sam).status_code == 404
    r = client.post("/api/saved-filters", json={"name": "x", "query": "cursor=abc&limit=3"}, headers=rita)
    assert r.status_code == 422 and "not cursor, limit" in r.json()["error"]["message"]
    assert client.post("/api/saved-filters", json={"name": " ", "query": ""}, headers=rita).status_code == 422
    assert client.delete(f"/api/saved-filters/{saved['id']}", headers=rita).status_code == 204
    assert client.get("/api/saved-filters", headers=rita).json() == []


def test_news_counts_what_arrived_after_the_newest_seen(
    client: TestClient, team: dict[str, dict[str, str]]
) -> None:
    rita = team["rita"]
    assert client.get("/api/drafts/news", params={"after": 0}, headers=rita).json() == {
        "count": 0,
        "newest": 0,
    }
    deliver(client, "w_1", "Vous livrez le dimanche ?")
    seen = client.get("/api/drafts/news", params={"after": 0}, headers=rita).json()
    assert seen == {"count": 1, "newest": 1}
    deliver(client, "w_2", "Et le samedi ?", author="6666")
    deliver(client, "w_3", "Autre page", page="9999")
    news = client.get("/api/drafts/news", params={"after": seen["newest"]}, headers=rita).json()
    assert news == {"count": 2, "newest": 3}
    _assign(client, rita, 1, "me")  # the post is rita's: w_2 followed
    mine = client.get("/api/drafts/news", params={"after": 1, "assignee": "me"}, headers=rita).json()
    assert mine == {"count": 1, "newest": 3}
    assert client.get("/api/drafts/news", headers=rita).status_code == 422
    assert client.get("/api/drafts/news", params={"after": -1}, headers=rita).status_code == 422


def test_bulk_approve_and_assign_through_the_moderation_bulk_route(
    client: TestClient, team: dict[str, dict[str, str]]
) -> None:
    deliver(client, "b_1", "Vous livrez le dimanche ?")
    deliver(client, "b_2", "Et le samedi ?", author="6666")  # the same post
    deliver(client, "b_3", "Vous livrez en Corse ?", page="9999")
    rita, sam = team["rita"], team["sam"]
    r = client.post(
        "/api/drafts/bulk", json={"action": "assign", "ids": [1, 3], "user_id": "me"}, headers=rita
    )
    assert r.status_code == 200, r.text
    assert [(x["id"], x["ok"]) for x in r.json()["results"]] == [(1, True), (3, True)]
    assert sorted(_ids(client, rita, assignee="me")) == [1, 2, 3]  # 2 followed 1
    r = client.post(
        "/api/drafts/bulk", json={"action": "assign", "ids": [3], "user_id": _me(client, sam)}, headers=rita
    )
    assert r.json()["results"][0]["draft"]["assignee_id"] == _me(client, sam)
    texts = {d["id"]: d["text"] for d in client.get("/api/drafts", headers=rita).json()["items"]}
    r = client.post("/api/drafts/bulk", json={"action": "approve", "ids": [1, 2, 99]}, headers=rita)
    results = {x["id"]: x for x in r.json()["results"]}
    for i in (1, 2):
        assert results[i]["ok"] == bool(texts[i].strip()), results[i]
        if texts[i].strip():
            assert results[i]["draft"]["status"] == "approved"
    assert results[99]["status"] == 404
    again = client.post("/api/drafts/bulk", json={"action": "approve", "ids": [1]}, headers=rita).json()
    assert again["results"][0]["status"] in (409, 422)  # decided already, or nothing to send
    # a user_id beside another action is ignored, as any field a body does not have
    r = client.post("/api/drafts/bulk", json={"action": "hide", "ids": [1], "user_id": "me"}, headers=rita)
    assert r.status_code == 200, r.text
    for body in (
        {"action": "assign", "ids": [1]},
        {"action": "assign", "ids": [1], "user_id": "you"},
    ):
        assert client.post("/api/drafts/bulk", json=body, headers=rita).status_code == 422, body
