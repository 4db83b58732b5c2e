"""The knowledge base's pages: admins only, CSRF on every form, create / change / delete with
the version shown, the customer's and the team's text escaped."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import XSS, csrf, login, make_user


@pytest.fixture
def admin(client: TestClient) -> TestClient:
    make_user(client, "ada", "admin")
    make_user(client, "rita", "reviewer")
    assert login(client, "ada").status_code == 200
    return client


def test_reviewers_and_strangers_cannot_manage_answers(client: TestClient) -> None:
    make_user(client, "rita", "reviewer")
    r = client.get("/answers", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert login(client, "rita").status_code == 200
    assert client.get("/answers").status_code == 403
    r = client.post(
        "/answers", data={"csrf_token": csrf(client), "title": "x", "body": "y", "language": "fr"}
    )
    assert r.status_code == 403


def test_create_edit_delete_through_the_pages(admin: TestClient) -> None:
    token = csrf(admin, "/answers/new")
    assert (
        admin.post("/answers", data={"title": "Sans jeton", "body": "x", "language": "fr"}).status_code == 403
    )
    r = admin.post(
        "/answers",
        data={
            "csrf_token": token,
            "title": "Délais de livraison " + XSS,
            "body": "Bonjour {{ first_name }}, comptez 3 à 5 jours.",
            "language": "fr",
            "category": "question",
            "examples": "Quand arrive ma commande ?\n\nC'est long la livraison",
            "enabled": "on",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    url = r.headers["location"]
    page = admin.get(url).text
    assert "<script>document.title" not in page and "&lt;script&gt;" in page
    assert "Quand arrive ma commande ?\nC&#39;est long la livraison" in page
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version and version.group(1) == "1"
    data = {
        "csrf_token": token,
        "title": "Délais",
        "body": "Comptez 3 jours.",
        "language": "fr",
        "version": "1",
    }
    assert admin.post(url, data=data, follow_redirects=False).status_code == 303
    stale = admin.post(url, data={**data, "title": "Autre"})
    assert stale.status_code == 409
    refused = admin.post(url, data={**data, "version": "2", "body": "{{ broken"})
    assert refused.status_code == 422
    assert "Délais" in admin.get("/answers").text
    assert (
        admin.post(
            url + "/delete", data={"csrf_token": token, "version": "1"}, follow_redirects=False
        ).headers["location"]
        == url
    )
    r = admin.post(url + "/delete", data={"csrf_token": token, "version": "2"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/answers"
    assert admin.get(url).status_code == 404
