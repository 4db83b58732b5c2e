"""Every POST form route of the pages refuses a request without the session's CSRF token (none,
empty or forged), before it changes anything. The routes are read from the app itself, so a form
added tomorrow is checked without anyone remembering to list it here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from app.main import create_app
from app.models import (
    AdminEvent,
    Answer,
    AnswerUse,
    Channel,
    Correction,
    Draft,
    DraftEvent,
    Note,
    OutboxItem,
    ReplyTemplate,
    SavedFilter,
    User,
    WebSession,
)
from app.moderation import service as moderation
from tests.conftest import make_settings
from tests.web.conftest import csrf, db, feed, login, make_user

API = ("/api/", "/webhooks/", "/metrics", "/healthz")


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        inner = getattr(route, "original_router", None)  # an included router
        if inner is not None:
            yield from _routes(inner.routes)
        elif isinstance(route, APIRoute):
            yield route


def form_routes(app: FastAPI) -> list[str]:
    """Every POST path of the pages (not the API, which takes a bearer token, nor the webhooks)."""
    paths = {r.path for r in _routes(app.routes) if "POST" in r.methods and not r.path.startswith(API)}
    return sorted(paths)


VALUES = {
    "draft_id": "1",
    "item_id": "1",
    "template_id": "1",
    "answer_id": "1",
    "filter_id": "1",
    "use_id": "1",
}
VALUES |= {"platform": "meta", "account_id": "1111"}


def concrete(path: str) -> list[str]:
    """The route's path with real ids; a path convertor of a few words gives one path each."""
    paths = [path]
    for name, kind in re.findall(r"\{(\w+)(?::(\w+))?\}", path):
        choices = list(moderation.ACTIONS) if kind == "moderation" else [VALUES[name]]
        pattern = "{" + name + (f":{kind}" if kind else "") + "}"
        paths = [p.replace(pattern, c) for p in paths for c in choices]
    return paths


@pytest.fixture(scope="module")
def routes() -> list[str]:
    app = create_app(make_settings("sqlite:///:memory:"))
    found = [p for r in form_routes(app) for p in concrete(r)]
    assert "/login" in found and "/drafts/1/approve" in found and "/drafts/1/hide" in found
    assert len(found) >= 20, found
    return found


def counts(client: TestClient) -> dict[str, Any]:
    """What a form could change: rows of every table a page writes, and the states it moves."""
    with db(client) as s:
        tables = (
            AdminEvent,
            Answer,
            AnswerUse,
            Correction,
            DraftEvent,
            Note,
            OutboxItem,
            ReplyTemplate,
            SavedFilter,
            WebSession,
        )
        state: dict[str, Any] = {t.__name__: s.scalar(select(func.count()).select_from(t)) for t in tables}
        state["drafts"] = sorted((d.id, d.status, d.version, d.assignee_id) for d in s.scalars(select(Draft)))
        state["outbox"] = sorted((o.id, o.status, o.resent) for o in s.scalars(select(OutboxItem)))
        state["channels"] = sorted((c.account_id, c.paused) for c in s.scalars(select(Channel)))
        state["users"] = sorted((u.name, u.language, u.timezone) for u in s.scalars(select(User)))
        state["templates"] = sorted((t.id, t.version) for t in s.scalars(select(ReplyTemplate)))
        return state


def test_the_form_routes_are_found(routes: list[str]) -> None:
    assert {"/logout", "/queue/bulk", "/account", "/templates/preview", "/answers/1/delete"} <= set(routes)


@pytest.mark.parametrize("token", [None, "", "forged-0123456789"])
def test_every_form_route_refuses_a_missing_or_wrong_csrf_token(
    client: TestClient, routes: list[str], token: str | None
) -> None:
    make_user(client, name="ada", role="admin")
    feed(client, "55_1", "Où est ma commande ?")
    assert login(client, "ada").status_code == 200
    csrf(client)  # the session and its token exist
    with db(client) as s:
        s.execute(update(Channel).values(paused=True))
        s.commit()
    before = counts(client)
    data: dict[str, Any] = {
        "version": "1",
        "text": "Bonjour",
        "reason": "spam",
        "category": "complaint",
        "confirm": "yes",
        "user": "me",
        "action": "no_reply",
        "ids": ["1"],
        "name": "t",
        "title": "t",
        "language": "en",
        "body": "Hello",
        "username": "ada",
        "password": "correct horse battery staple",
    }
    if token is not None:
        data["csrf_token"] = token
    refused = {}
    for path in routes:
        r = client.post(path, data=data, follow_redirects=False)
        refused[path] = r.status_code
    assert {p: s for p, s in refused.items() if s != 403} == {}
    assert counts(client) == before  # nothing changed, and the session is still there
    assert client.get("/").status_code == 200
