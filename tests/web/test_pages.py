"""The review pages through the app, on SQLite and PostgreSQL: status, template and context of every
page, a parsed-HTML check per page, login (success, failure, throttle, logout), CSRF refusals on
every POST route, roles, and decisions made through the forms changing the database as the API
would."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from app.config import Settings
from app.dashboard import service as dashboard
from app.main import create_app
from app.models import (
    Channel,
    Correction,
    Draft,
    DraftEvent,
    LoginFailure,
    Message,
    OutboxItem,
    ReplyTemplate,
    WebSession,
    utcnow,
)
from app.web import format as fmt
from app.web.security import CSP, safe_next
from tests.conftest import make_settings
from tests.web.conftest import (
    PASSWORD,
    XSS,
    assert_safe_page,
    csrf,
    db,
    feed,
    login,
    login_token,
    make_user,
    parse,
)


@pytest.fixture
def reviewer(client: TestClient) -> Iterator[TestClient]:
    """A client logged in as the reviewer "camille", with three messages in the queue."""
    make_user(client)
    feed(client, "10_1", "Colis reçu cassé, je veux être remboursée immédiatement !")
    feed(client, "10_2", XSS, author="6666", name="Mallory <b>")
    feed(client, "10_3", "Vous livrez en Corse ?", author="5555")
    r = login(client)
    assert r.status_code == 200
    yield client


@pytest.fixture
def admin(client: TestClient) -> TestClient:
    make_user(client, name="ada", role="admin")
    assert login(client, "ada").status_code == 200
    return client


def draft_ids(client: TestClient) -> list[int]:
    with db(client) as s:
        return list(s.scalars(select(Draft.id).order_by(Draft.id)))


def draft_row(client: TestClient, draft_id: int) -> Draft:
    with db(client) as s:
        d = s.get(Draft, draft_id)
        assert d is not None
        s.expunge(d)
        return d


# -- login -----------------------------------------------------------------------------------------


def test_root_redirects_to_login_then_shows_the_form(client: TestClient) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2F"
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.template.name == "login.html"  # type: ignore[attr-defined]
    assert r.context["next"] == "/"  # type: ignore[attr-defined]
    page = assert_safe_page(r.text)
    (form,) = page.forms
    assert form["method"] == "post" and form["action"] == "/login"
    assert set(form["fields"]) >= {"username", "password", "csrf_token"}
    assert r.headers["content-security-policy"] == CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"


def test_login_sets_a_strict_session_cookie_and_logout_ends_it(client: TestClient) -> None:
    make_user(client)
    r = login(client, follow=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("relais_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=43200" in cookie
    assert "Secure" not in cookie  # cookie_secure is off in tests
    with db(client) as s:
        assert s.scalar(select(func.count()).select_from(WebSession)) == 1
    assert client.get("/").template.name == "queue.html"  # type: ignore[attr-defined]
    r = client.post("/logout", data={"csrf_token": csrf(client)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    with db(client) as s:
        assert s.scalar(select(func.count()).select_from(WebSession)) == 0
    assert client.get("/", follow_redirects=False).status_code == 303


def test_secure_flag_when_configured(database_url: str, tmp_path: Path) -> None:
    with TestClient(
        create_app(make_settings(database_url, cookie_secure=True, models_dir=tmp_path)),
        base_url="https://testserver",
    ) as c:
        make_user(c)
        r = login(c, follow=False)
        cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("relais_session="))
        assert "Secure" in cookie


def test_wrong_password_is_refused_and_recorded(client: TestClient) -> None:
    make_user(client)
    r = login(client, password="not the password")
    assert r.status_code == 401 and r.template.name == "login.html"  # type: ignore[attr-defined]
    assert "Wrong username or password" in r.text
    r = login(client, name="nobody")
    assert r.status_code == 401
    with db(client) as s:
        assert s.scalar(select(func.count()).select_from(LoginFailure)) == 2


def test_failed_attempts_are_throttled(database_url: str, tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(database_url, login_max_failures=3, models_dir=tmp_path))) as c:
        make_user(c)
        for _ in range(3):
            assert login(c, password="wrong password").status_code == 401
        r = login(c)  # even the right password waits out the lockout
        assert r.status_code == 429
        assert "Too many failed attempts" in r.text
        assert c.get("/", follow_redirects=False).status_code == 303


def test_login_without_its_csrf_token_is_refused(client: TestClient) -> None:
    make_user(client)
    r = client.post("/login", data={"username": "camille", "password": PASSWORD})
    assert r.status_code == 403
    login_token(client)  # a token from another nonce does not fit
    r = client.post("/login", data={"username": "camille", "password": PASSWORD, "csrf_token": "0" * 64})
    assert r.status_code == 403


@pytest.mark.parametrize(
    "target,expected",
    [
        ("/drafts/3?category=complaint", "/drafts/3?category=complaint"),
        ("//evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("", "/"),
    ],
)
def test_next_stays_on_this_site(target: str, expected: str) -> None:
    assert safe_next(target) == expected


# -- every page ------------------------------------------------------------------------------------

GET_PAGES = ["/", "/drafts/1", "/outbox", "/dashboard", "/templates", "/templates/1", "/templates/new"]


@pytest.mark.parametrize("path", GET_PAGES)
def test_pages_need_a_login(client: TestClient, path: str) -> None:
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=")


def test_queue_page(reviewer: TestClient) -> None:
    r = reviewer.get("/")
    assert r.status_code == 200 and r.template.name == "queue.html"  # type: ignore[attr-defined]
    ctx: dict[str, Any] = r.context  # type: ignore[attr-defined]
    assert len(ctx["items"]) == 3 and ctx["total"] == 3 and ctx["to_sort"] == 3
    assert ctx["counts"]["unsorted"] == 3
    assert all(it["waiting_s"] >= 0 for it in ctx["items"])
    page = assert_safe_page(r.text)
    assert "remboursée" in page.body_text
    assert "Raccourcis clavier" in page.body_text  # French by default
    assert "< 1 min" in page.body_text


def test_queue_orders_complaints_first_and_filters(reviewer: TestClient) -> None:
    ids = draft_ids(reviewer)
    token = csrf(reviewer)
    reviewer.post(f"/drafts/{ids[2]}/category", data={"category": "complaint", "csrf_token": token})
    reviewer.post(f"/drafts/{ids[0]}/category", data={"category": "question", "csrf_token": token})
    ctx = reviewer.get("/").context  # type: ignore[attr-defined]
    assert [it["draft"].id for it in ctx["items"]][0] == ids[2]
    assert ctx["counts"]["complaint"] == 1 and ctx["counts"]["question"] == 1
    ctx = reviewer.get("/?category=question").context  # type: ignore[attr-defined]
    assert [it["draft"].id for it in ctx["items"]] == [ids[0]]
    ctx = reviewer.get("/?to_sort=yes").context  # type: ignore[attr-defined]
    assert [it["draft"].id for it in ctx["items"]] == [ids[1]]
    ctx = reviewer.get("/?platform=meta&language=xx").context  # type: ignore[attr-defined]
    assert ctx["items"] == []
    ctx = reviewer.get("/?status=bogus&category=bogus").context  # type: ignore[attr-defined]
    assert len(ctx["items"]) == 3 and ctx["filters"] == {}
    r = reviewer.get("/?category=question&status=pending")
    assert f'href="/drafts/{ids[0]}?status=pending&amp;category=question"' in r.text


def test_draft_page(reviewer: TestClient) -> None:
    ids = draft_ids(reviewer)
    r = reviewer.get(f"/drafts/{ids[0]}")
    assert r.status_code == 200 and r.template.name == "draft.html"  # type: ignore[attr-defined]
    ctx = r.context  # type: ignore[attr-defined]
    assert ctx["draft"].id == ids[0] and ctx["message"].text.startswith("Colis")
    assert ctx["confidence"] == ("–", "no prediction")
    assert ctx["next_url"] == f"/drafts/{ids[1]}" and ctx["prev_url"] is None
    # the conversation is this author's messages, before and after (not the other people's comments)
    first = [(e.message_id, e.current) for e in ctx["timeline"].entries]
    assert first[0] == (ctx["message"].id, True) and len(first) == 2
    page = assert_safe_page(r.text)
    actions = {f["action"] for f in page.forms if f["method"] == "post"}
    assert {f"/drafts/{ids[0]}/approve", f"/drafts/{ids[0]}/reject", f"/drafts/{ids[0]}/category"} <= actions
    approve = next(f for f in page.forms if f["action"] == f"/drafts/{ids[0]}/approve")
    assert approve["fields"]["version"] == "1" and "text" in approve["fields"]
    for word in ("Valider", "Rejeter", "Changer la catégorie", "Raccourcis clavier", "messages semblables"):
        assert word in page.body_text
    later = reviewer.get(f"/drafts/{ids[2]}").context  # type: ignore[attr-defined]
    assert [(e.message_id, e.current) for e in later["timeline"].entries] == [
        (ctx["message"].id, False),
        (later["message"].id, True),
    ]
    assert first[1] == (later["message"].id, False)
    assert reviewer.get("/drafts/999999").status_code == 404


def test_xss_payload_is_shown_as_text(reviewer: TestClient) -> None:
    feed(reviewer, "10_4", "Alors ?", author="6666", name="Mallory <b>")
    ids = draft_ids(reviewer)
    # the queue, the message itself, and a later message of the author (its conversation shows it)
    for path in ("/", f"/drafts/{ids[1]}", f"/drafts/{ids[3]}"):
        r = reviewer.get(path)
        page = assert_safe_page(r.text)
        assert "<script>document.title" in page.body_text  # the text, as text
        assert "&lt;script&gt;" in r.text and "<script>document" not in r.text
        assert not any(tag == "img" for tag, _ in page.tags)
        assert "{{7*7}}" in page.body_text
    assert "Mallory &lt;b&gt;" in reviewer.get(f"/drafts/{ids[1]}").text


def test_outbox_page(reviewer: TestClient) -> None:
    ids = draft_ids(reviewer)
    item_id = _dead_letter(reviewer, ids[0])
    _channel(reviewer)
    r = reviewer.get("/outbox")
    assert r.status_code == 200 and r.template.name == "outbox.html"  # type: ignore[attr-defined]
    ctx = r.context  # type: ignore[attr-defined]
    assert [o.id for o, _ in ctx["dead"]] == [item_id]
    assert [c.platform for c in ctx["channels"]] == ["meta"]
    page = assert_safe_page(r.text)
    assert "403 token expired" in page.body_text
    assert any(f["action"] == f"/outbox/{item_id}/resend" for f in page.forms)


def test_dashboard_page(reviewer: TestClient) -> None:
    ids = draft_ids(reviewer)
    token = csrf(reviewer)
    reviewer.post(f"/drafts/{ids[0]}/approve", data={"version": 1, "csrf_token": token, "text": "Merci !"})
    r = reviewer.get("/dashboard")
    assert r.status_code == 200 and r.template.name == "dashboard.html"  # type: ignore[attr-defined]
    stats: dashboard.Dashboard = r.context["stats"]  # type: ignore[attr-defined]
    assert stats.received == 3 and stats.went_to_sort == 3 and stats.to_sort_share == 1.0
    zone = zoneinfo.ZoneInfo(reviewer.app.state.settings.timezone)  # type: ignore[attr-defined]
    today = utcnow().astimezone(zone).date().isoformat()  # the viewer's day, not UTC's
    assert stats.days[-1] == today and len(stats.days) == 14
    assert stats.per_day[today] == {"unsorted": 3}
    median, p90, n = stats.response[today]
    assert n == 1 and median is not None and p90 is not None
    assert sum(stats.backlog.values()) == 2 and stats.backlog_by_day[today] == 2
    page = assert_safe_page(r.text)
    assert sum(1 for tag, _ in page.tags if tag == "svg") >= 4
    assert "sans retouche" in page.body_text


@pytest.mark.parametrize(
    "path,template",
    [
        ("/templates", "templates_list.html"),
        ("/templates/1", "template_edit.html"),
        ("/templates/new", "template_edit.html"),
    ],
)
def test_template_pages_for_admins(admin: TestClient, path: str, template: str) -> None:
    r = admin.get(path)
    assert r.status_code == 200 and r.template.name == template  # type: ignore[attr-defined]
    page = assert_safe_page(r.text)
    if template == "template_edit.html":
        assert r.context["values"]["body"] and r.context["preview"]["ok"]  # type: ignore[attr-defined]
        assert "preview" in {f["fields"].get("action") for f in page.forms} | {"preview"}


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/templates"),
        ("GET", "/templates/1"),
        ("GET", "/templates/new"),
        ("POST", "/templates/1"),
        ("POST", "/templates"),
        ("POST", "/templates/preview"),
    ],
)
def test_template_pages_refuse_reviewers(reviewer: TestClient, method: str, path: str) -> None:
    data = {"csrf_token": csrf(reviewer), "name": "x", "category": "question", "language": "fr", "body": "Hi"}
    r = reviewer.request(method, path, data=data if method == "POST" else None)
    assert r.status_code == 403
    assert "Seuls les admins" in r.text
    # logged in: the error page offers to log out, never to log in (issue 19)
    assert 'href="/login"' not in r.text and "Se déconnecter" in r.text
    assert "Modèles" not in parse(reviewer.get("/").text).body_text.split("Tableau de bord")[1][:40]


# -- CSRF on every POST route ----------------------------------------------------------------------

POST_ROUTES = [
    "/logout",
    "/drafts/{d}/approve",
    "/drafts/{d}/reject",
    "/drafts/{d}/category",
    "/outbox/{o}/resend",
    "/channels/meta/1111/resume",
    "/templates/1",
    "/templates",
    "/templates/preview",
]


@pytest.mark.parametrize("route", POST_ROUTES)
@pytest.mark.parametrize("token", [None, "", "forged"])
def test_post_without_the_csrf_token_is_refused(client: TestClient, route: str, token: str | None) -> None:
    make_user(client, name="ada", role="admin")
    feed(client, "11_1", "Où est ma commande ?")
    assert login(client, "ada").status_code == 200
    d = draft_ids(client)[0]
    o = _dead_letter(client, d)
    data: dict[str, Any] = {
        "version": 1,
        "text": "Bonjour",
        "reason": "spam",
        "category": "complaint",
        "name": "t",
        "language": "fr",
        "body": "Hello",
    }
    if token is not None:
        data["csrf_token"] = token
    r = client.post(route.format(d=d, o=o), data=data, follow_redirects=False)
    assert r.status_code == 403
    assert r.headers["content-security-policy"] == CSP
    with db(client) as s:
        assert s.scalar(select(func.count()).select_from(WebSession)) == 1  # still logged in
        assert s.scalar(select(func.count()).select_from(Correction)) == 0
        assert s.scalar(select(OutboxItem.status).where(OutboxItem.id == o)) == "dead"


def test_post_without_a_session_is_refused(client: TestClient) -> None:
    feed(client, "12_1", "Bonjour")
    r = client.post("/drafts/1/approve", data={"version": 1, "csrf_token": "x" * 64})
    assert r.status_code == 403


# -- decisions through the forms -------------------------------------------------------------------


def test_approve_through_the_form_goes_to_the_next_draft(reviewer: TestClient) -> None:
    ids = draft_ids(reviewer)
    r = reviewer.post(
        f"/drafts/{ids[0]}/approve",
        data={"version": 1, "csrf_token": csrf(reviewer), "text": "Bonjour, désolés !"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/drafts/{ids[1]}"
    d = draft_row(reviewer, ids[0])
    assert d.status == "approved" and d.final_text == "Bonjour, désolés !" and d.edited
    with db(reviewer) as s:
        assert s.scalar(select(OutboxItem.text).where(OutboxItem.draft_id == ids[0])) == "Bonjour, désolés !"
        actions = list(
            s.scalars(select(DraftEvent.action).where(DraftEvent.draft_id == ids[0]).order_by(DraftEvent.id))
        )
    assert actions[-2:] == ["edited", "approved"]
    page = reviewer.get(r.headers["location"])
    assert page.context["flash"] == {
        "kind": "ok",
        "text": f"Brouillon n°\u00a0{ids[0]} validé\u00a0: la réponse part.",
    }
    assert reviewer.get(r.headers["location"]).context["flash"] is None  # shown once


def test_approve_unedited_keeps_the_suggestion(reviewer: TestClient) -> None:
    ids = draft_ids(reviewer)
    with db(reviewer) as s:
        s.execute(update(Draft).where(Draft.id == ids[0]).values(text="Bonjour Camille, désolés."))
        s.commit()
    r = reviewer.post(
        f"/drafts/{ids[0]}/approve",
        data={"version": 1, "csrf_token": csrf(reviewer), "text": "Bonjour Camille, désolés.\r\n"},
    )
    assert r.status_code == 200
    d = draft_row(reviewer, ids[0])
    assert d.status == "approved" and not d.edited and d.final_text == "Bonjour Camille, désolés."


def test_last_decision_returns_to_the_queue_with_the_filters(reviewer: TestClient) -> None:
    ids = draft_ids(reviewer)
    token = csrf(reviewer)
    for d in ids[:2]:
        reviewer.post(f"/drafts/{d}/reject", data={"version": 1, "csrf_token": token, "reason": "spam"})
    r = reviewer.post(
        f"/drafts/{ids[2]}/reject",
        data={"version": 1, "csrf_token": token, "reason": "spam", "q": "platform=meta&evil=1"},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/?platform=meta"


def test_reject_needs_a_reason(reviewer: TestClient) -> None:
    ids = draft_ids(reviewer)
    token = csrf(reviewer)
    r = reviewer.post(
        f"/drafts/{ids[0]}/reject",
        data={"version": 1, "csrf_token": token, "reason": "  "},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/drafts/{ids[0]}"
    assert draft_row(reviewer, ids[0]).status == "pending"
    assert "Non enregistré\u00a0: un rejet a besoin d’une raison." in reviewer.get(r.headers["location"]).text
    r = reviewer.post(f"/drafts/{ids[0]}/reject", data={"version": 1, "csrf_token": token, "reason": "spam"})
    d = draft_row(reviewer, ids[0])
    assert d.status == "rejected" and d.reason == "spam"


def test_change_the_category(reviewer: TestClient) -> None:
    ids = draft_ids(reviewer)
    r = reviewer.post(
        f"/drafts/{ids[0]}/category",
        data={"category": "complaint", "csrf_token": csrf(reviewer)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/drafts/{ids[0]}"
    d = draft_row(reviewer, ids[0])
    assert d.category == "complaint" and not d.to_sort and d.version == 2 and d.priority == 0
    assert d.text  # re-suggested from the complaint template
    with db(reviewer) as s:
        c = s.scalars(select(Correction)).one()
        assert (c.old_category, c.new_category) == (None, "complaint")
        assert s.get(Message, d.message_id).category == "complaint"  # type: ignore[union-attr]
    bad = reviewer.post(f"/drafts/{ids[0]}/category", data={"category": "spam", "csrf_token": csrf(reviewer)})
    assert bad.status_code == 200 and "la catégorie est l’une de" in bad.text


def test_a_conflict_is_a_flash_message_not_an_error(reviewer: TestClient) -> None:
    ids = draft_ids(reviewer)
    token = csrf(reviewer)
    reviewer.post(f"/drafts/{ids[0]}/approve", data={"version": 1, "csrf_token": token, "text": "Premier !"})
    r = reviewer.post(
        f"/drafts/{ids[0]}/approve",
        data={"version": 1, "csrf_token": token, "text": "Second"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/drafts/{ids[0]}"
    page = reviewer.get(r.headers["location"])
    assert page.status_code == 200
    assert page.context["flash"]["kind"] == "error" and "est déjà validé" in page.context["flash"]["text"]
    assert draft_row(reviewer, ids[0]).final_text == "Premier !"
    assert "Réponse\u00a0: validé" in page.text


def test_resend_a_dead_letter(reviewer: TestClient) -> None:
    ids = draft_ids(reviewer)
    item_id = _dead_letter(reviewer, ids[0])
    r = reviewer.post(
        f"/outbox/{item_id}/resend", data={"csrf_token": csrf(reviewer)}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/outbox"
    with db(reviewer) as s:
        item = s.get(OutboxItem, item_id)
        assert item is not None and item.status == "queued" and item.resent == 1
    again = reviewer.post(f"/outbox/{item_id}/resend", data={"csrf_token": csrf(reviewer)})
    assert again.status_code == 200 and "a déjà été renvoyé une fois" in again.text


def test_resume_a_channel_is_for_admins(reviewer: TestClient) -> None:
    _channel(reviewer, paused=True, pause_reason="token rejected", token_state="expired")
    assert "Resume" not in reviewer.get("/outbox").text
    r = reviewer.post("/channels/meta/1111/resume", data={"csrf_token": csrf(reviewer)})
    assert r.status_code == 403


def test_admin_resumes_a_channel(admin: TestClient) -> None:
    feed(admin, "13_1", "Bonjour")
    _channel(admin, paused=True, pause_reason="token rejected", token_state="expired")
    r = admin.post("/channels/meta/1111/resume", data={"csrf_token": csrf(admin)})
    assert r.status_code == 200 and "Envois repris sur meta/1111" in r.text
    with db(admin) as s:
        assert s.scalars(select(Channel)).one().paused is False


# -- templates (admin) -----------------------------------------------------------------------------


def test_admin_edits_a_template(admin: TestClient) -> None:
    token = csrf(admin, "/templates/1")
    with db(admin) as s:
        t = s.get(ReplyTemplate, 1)
        assert t is not None
        name, version = t.name, t.version
    form = {
        "csrf_token": token,
        "name": name,
        "category": "complaint",
        "language": "fr",
        "channel_kind": "public",
        "register": "vous",
        "body": "Bonjour {{ first_name }}, nous regardons. {{ signature }}",
        "enabled": "on",
        "version": version,
    }
    r = admin.post("/templates/1", data={**form, "action": "preview"})
    assert r.status_code == 200 and r.context["preview"]["text"] == "Bonjour Camille, nous regardons."  # type: ignore[attr-defined]
    r = admin.post("/templates/1", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/templates/1"
    with db(admin) as s:
        t = s.get(ReplyTemplate, 1)
        assert (
            t is not None and t.version == version + 1 and t.body.startswith("Bonjour {{ first_name }}, nous")
        )
        assert t.register == "vous"
    stale = admin.post("/templates/1", data=form)
    assert stale.status_code == 409 and "Quelqu’un a modifié ce modèle entre-temps" in stale.text
    broken = admin.post(
        "/templates/1",
        data={**form, "version": version + 1, "body": "{{ ''.__class__.__mro__[1].__subclasses__() }}"},
    )
    assert broken.status_code == 422 and "Le modèle ne se rend pas" in broken.text


def test_admin_creates_a_template(admin: TestClient) -> None:
    form = {
        "csrf_token": csrf(admin, "/templates/new"),
        "name": "question-fr-test",
        "category": "question",
        "language": "fr",
        "channel_kind": "any",
        "register": "any",
        "body": "Merci {{ first_name }} !",
        "enabled": "on",
    }
    r = admin.post("/templates", data=form, follow_redirects=False)
    assert r.status_code == 303
    with db(admin) as s:
        t = s.scalars(select(ReplyTemplate).where(ReplyTemplate.name == "question-fr-test")).one()
        assert t.version == 1 and t.enabled
    assert admin.post("/templates", data=form).status_code == 409


def test_live_preview_renders_in_the_sandbox(admin: TestClient) -> None:
    token = csrf(admin, "/templates/new")
    r = admin.post("/templates/preview", data={"csrf_token": token, "body": "Hi {{ first_name }} {{ 7*7 }}"})
    assert r.json()["ok"] and r.json()["text"] == "Hi Camille 49"
    r = admin.post(
        "/templates/preview",
        data={"csrf_token": token, "body": "{{ ''.__class__.__mro__[1].__subclasses__() }}"},
    )
    assert not r.json()["ok"] and "SecurityError" in r.json()["error"]


# -- page-specific services ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seconds,text",
    [
        (5, "< 1 min"),
        (42 * 60, "42 min"),
        (3 * 3600 + 12 * 60, "3 h 12 min"),
        (3600, "1 h"),
        (2 * 86400 + 4 * 3600 + 59, "2 d 4 h"),
        (-3, "< 1 min"),
    ],
)
def test_waited(seconds: float, text: str) -> None:
    assert fmt.waited(seconds) == text


@pytest.mark.parametrize(
    "confidence,expected",
    [
        (None, ("–", "no prediction")),
        (0.93, ("93 %", "sure")),
        (0.6, ("60 %", "fairly sure")),
        (0.41, ("41 %", "unsure")),
    ],
)
def test_confidence_in_plain_words(confidence: float | None, expected: tuple[str, str]) -> None:
    assert fmt.confidence_text(confidence, 0.55) == expected


@pytest.mark.parametrize(
    "url,ok",
    [
        ("https://facebook.com/1_2", True),
        ("http://x.com/a", True),
        ("javascript:alert(1)", False),
        (" JavaScript:alert(1)", False),
        ("data:text/html,x", False),
        ("//evil", False),
        (None, False),
        ("https://", False),
    ],
)
def test_only_http_links(url: Any, ok: bool) -> None:
    assert (fmt.safe_url(url) is not None) is ok


def test_percentile() -> None:
    assert dashboard.percentile([], 0.5) is None
    assert dashboard.percentile([10.0], 0.9) == 10.0
    assert dashboard.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert dashboard.percentile([float(i) for i in range(1, 11)], 0.9) == pytest.approx(9.1)


def test_dashboard_numbers(client: TestClient, settings: Settings) -> None:
    """Two days of traffic, written directly: per-day counts, response times, unedited share."""
    now = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
    yesterday = now - dt.timedelta(days=1)
    with db(client) as s:

        def add(
            i: int,
            at: dt.datetime,
            category: str | None,
            confidence: float | None,
            status: str,
            answered_after: float | None = None,
            edited: bool = False,
        ) -> None:
            m = Message(
                platform="meta",
                account_id="1",
                external_id=f"m{i}",
                kind="comment",
                channel="facebook",
                text=f"message {i}",
                received_at=at,
                category=category,
                confidence=confidence,
                to_sort=category is None,
                extra={},
            )
            s.add(m)
            s.flush()
            done = at + dt.timedelta(seconds=answered_after) if answered_after is not None else None
            s.add(
                Draft(
                    message_id=m.id,
                    status=status,
                    platform="meta",
                    received_at=at,
                    category=category,
                    to_sort=category is None,
                    edited=edited,
                    decided_at=done,
                    sent_at=done if status == "sent" else None,
                )
            )

        add(1, yesterday, "complaint", 0.9, "sent", 600)
        add(2, yesterday, "question", 0.3, "sent", 1800, edited=True)
        add(3, yesterday, None, None, "pending")
        add(4, now, "complaint", 0.95, "approved", 60)
        add(5, now, "complaint", 0.95, "rejected", 120)
        s.commit()
        stats = dashboard.dashboard(s, threshold=0.55, now=now + dt.timedelta(hours=1))
    y, t = yesterday.date().isoformat(), now.date().isoformat()
    assert stats.per_day[y] == {"complaint": 1, "question": 1, "unsorted": 1}
    assert stats.per_day[t] == {"complaint": 2}
    assert stats.response[y] == (1200.0, pytest.approx(1680.0), 2)
    assert stats.response[t] == (60.0, 60.0, 1)  # rejected drafts are no response
    assert (stats.sent, stats.sent_unedited, stats.unedited_share) == (2, 1, 0.5)
    assert (stats.received, stats.went_to_sort) == (5, 2)
    assert stats.backlog_by_day[y] == 1 and stats.backlog_by_day[t] == 1
    assert stats.oldest_waiting_s == pytest.approx(25 * 3600)


# -- helpers ---------------------------------------------------------------------------------------


def _channel(client: TestClient, **values: Any) -> None:
    """The meta/1111 channel row (intake touches channels at most every 5 s per process, so make sure)."""
    with db(client) as s:
        if (
            s.scalar(select(Channel.id).where(Channel.platform == "meta", Channel.account_id == "1111"))
            is None
        ):
            s.add(
                Channel(
                    platform="meta",
                    account_id="1111",
                    last_event_at=utcnow(),
                    paused=False,
                    token_state="unknown",
                )
            )
            s.flush()
        if values:
            s.execute(update(Channel).values(**values))
        s.commit()


def _dead_letter(client: TestClient, draft_id: int) -> int:
    """Approve a draft through the service and mark its send dead, as the sender would."""
    from app.review import service as review

    version = draft_row(client, draft_id).version
    with db(client) as s:
        uid = s.scalar(select(WebSession.user_id)) or 1
        review.approve(s, draft_id=draft_id, version=version, user_id=uid, text="Bonjour")
        s.execute(
            update(OutboxItem)
            .where(OutboxItem.draft_id == draft_id)
            .values(status="dead", last_error="403 token expired", attempts=3)
        )
        s.execute(update(Draft).where(Draft.id == draft_id).values(status="failed"))
        s.commit()
        item_id = s.scalar(select(OutboxItem.id).where(OutboxItem.draft_id == draft_id))
        assert item_id is not None
        return item_id


def test_a_forged_flash_cookie_is_harmless(reviewer: TestClient) -> None:
    reviewer.cookies.set("relais_flash", "not-base64!!")
    r = reviewer.get("/")
    assert r.status_code == 200 and r.context["flash"] is None  # type: ignore[attr-defined]


def test_a_huge_form_is_refused(reviewer: TestClient) -> None:
    r = reviewer.post(
        "/drafts/1/approve", data={"csrf_token": csrf(reviewer), "version": 1, "text": "x" * 300_000}
    )
    assert r.status_code == 413
    assert draft_row(reviewer, 1).status == "pending"
