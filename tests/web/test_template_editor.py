"""The template editor's checks (issue 19, small defects): a misspelt variable is flagged before
saving and refused on save, the preview uses a sample message of the template's own category and
language, and its length limit is the one the message page applies to the same channel."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.reply_templates import rendering
from app.reply_templates import service as reply_templates
from tests.conftest import make_user as api_user
from tests.web.conftest import csrf, db, login, make_user

FORM = {
    "name": "question-fr-editor",
    "category": "question",
    "language": "fr",
    "channel_kind": "private",
    "register": "any",
    "enabled": "on",
}


@pytest.fixture
def admin(client: TestClient) -> TestClient:
    make_user(client, name="ada", role="admin")
    assert login(client, "ada").status_code == 200
    return client


def live(admin: TestClient, body: str, **fields: str) -> dict[str, Any]:
    data = {"csrf_token": csrf(admin, "/templates/new"), "body": body, **fields}
    r = admin.post("/templates/preview", data=data)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def test_a_misspelt_variable_is_flagged_in_the_live_preview_in_french(admin: TestClient) -> None:
    shown = live(admin, "Bonjour {{ prenom }}, {{ fist_name }} !", category="question", language="fr")
    assert shown["ok"] and shown["text"] == "Bonjour , !"
    assert shown["unknown"] == ["fist_name", "prenom"]
    meant = " n’est pas une variable (elle s’afficherait vide) : vouliez-vous dire {{ first_name }} ?"
    assert shown["unknown_reasons"] == ["{{ fist_name }}" + meant, "{{ prenom }}" + meant]
    # a variable the template sets itself, and Jinja's own names, are not unknown
    assert (
        live(admin, "{% set x = first_name %}{{ x }} {% for i in range(2) %}{{ loop.index }}{% endfor %}")[
            "unknown"
        ]
        == []
    )


def test_a_misspelt_variable_is_refused_on_save_with_nothing_written(admin: TestClient) -> None:
    token = csrf(admin, "/templates/new")
    r = admin.post("/templates", data={**FORM, "csrf_token": token, "body": "Bonjour {{ prenom }} !"})
    assert r.status_code == 422
    assert "vouliez-vous dire {{ first_name }}" in r.text
    r = admin.post("/templates", data={**FORM, "csrf_token": token, "body": "Bonjour {{ zzz }} !"})
    assert r.status_code == 422 and "Les variables : already_replied, author_name, brand" in r.text
    with db(admin) as s:
        names = [t.name for t in reply_templates.list_all(s)]
    assert FORM["name"] not in names
    r = admin.post("/templates", data={**FORM, "csrf_token": token, "body": "Bonjour {{ first_name }} !"})
    assert r.status_code == 200 and "question-fr-editor" in r.text  # saved, then the form again


def test_the_api_refuses_an_unknown_variable_in_english(admin: TestClient) -> None:
    headers = api_user(admin, "bob", "admin")
    body = {
        **{k: v for k, v in FORM.items() if k != "enabled"},
        "body": "Hi {{ frist_name }}",
        "enabled": True,
    }
    r = admin.post("/api/templates", json=body, headers=headers)
    assert r.status_code == 422
    assert r.json()["error"]["detail"]["errors"] == [
        "{{ frist_name }} is not a variable (it renders as nothing): {{ first_name }}?"
    ]
    preview = admin.post("/api/templates/preview", json={"body": "Hi {{ frist_name }}"}, headers=headers)
    assert preview.status_code == 200 and preview.json()["unknown"] == ["frist_name"]


@pytest.mark.parametrize(
    "category,language",
    [("question", "fr"), ("complaint", "fr"), ("suggestion", "en"), ("other", "en")],
)
def test_the_preview_uses_a_sample_of_the_templates_category_and_language(
    admin: TestClient, category: str, language: str
) -> None:
    shown = live(
        admin, "{{ category }}/{{ language }}: {{ customer_text }}", category=category, language=language
    )
    sample = reply_templates.SAMPLES[(category, language)]
    assert shown["sample"] == sample
    assert shown["text"] == f"{category}/{language}: {sample}"


def test_the_page_says_which_sample_it_previews(admin: TestClient) -> None:
    token = csrf(admin, "/templates/new")
    r = admin.post(
        "/templates",
        data={**FORM, "csrf_token": token, "body": "Merci {{ first_name }} !", "action": "preview"},
    )
    assert r.status_code == 200
    assert "Pour ce message exemple de Camille Martin" in r.text
    assert "vous livrez le dimanche" in r.text  # the question sample, not a complaint


def test_one_length_limit_per_channel_the_same_as_the_message_page(admin: TestClient) -> None:
    private = live(admin, "a" * 2100, category="question", language="fr", channel_kind="private")
    assert private["channel"] == "messenger"
    assert private["limit"] == rendering.length_limit("messenger") == 2000
    assert private["too_long"] and "messenger" in private["too_long_for"]
    public = live(admin, "a" * 300, category="question", language="fr", channel_kind="public")
    assert public["limit"] == rendering.length_limit("facebook") and not public["too_long"]
    assert public["too_long_for"] == ["x"]  # fine on Facebook, too long for a reply on X


def test_a_reviewer_on_the_templates_page_is_told_why_and_not_asked_to_log_in(client: TestClient) -> None:
    make_user(client)  # "camille", a reviewer
    assert login(client).status_code == 200
    r = client.get("/templates")
    assert r.status_code == 403
    assert "Seuls les admins gèrent les modèles de réponse." in r.text
    assert 'href="/login"' not in r.text and "Se connecter" not in r.text
    assert "Se déconnecter" in r.text  # the header still shows who is logged in
