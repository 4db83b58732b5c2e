"""The knowledge base API on SQLite and PostgreSQL: roles, the contract, strict bodies,
versions, the audit trail, import and export round trips (API and CLI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app import audit, db
from app.answers import service as answers
from app.errors import Invalid
from tests.conftest import make_user

RETURNS = {
    "title": "Retours et remboursements",
    "body": "Bonjour {{ first_name }}, vous avez 30 jours pour nous retourner un article. {{ signature }}",
    "language": "fr",
    "category": "question",
    "examples": ["Comment retourner un article ?", "Je voudrais renvoyer ma commande"],
    "enabled": True,
}


@pytest.fixture
def api(client: TestClient) -> dict[str, dict[str, str]]:
    return {"reviewer": make_user(client, "rita", "reviewer"), "admin": make_user(client, "adam", "admin")}


def create(client: TestClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    r = client.post("/api/answers", json={**RETURNS, **overrides}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "method,path,body,role",
    [
        ("GET", "/api/answers", None, "reviewer"),
        ("GET", "/api/answers/export", None, "reviewer"),
        ("POST", "/api/answers/import", [], "admin"),
        ("POST", "/api/answers/import", [], "admin"),
        ("GET", "/api/answers/1", None, "reviewer"),
        ("POST", "/api/answers", RETURNS, "admin"),
        ("PATCH", "/api/answers/1", {"version": 1, "title": "x"}, "admin"),
        ("DELETE", "/api/answers/1", None, "admin"),
    ],
)
def test_every_answers_route_checks_authentication_and_role(
    client: TestClient, api: dict[str, dict[str, str]], method: str, path: str, body: Any, role: str
) -> None:
    assert client.request(method, path, json=body).status_code == 401
    if role == "admin":
        r = client.request(method, path, json=body, headers=api["reviewer"])
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "forbidden"
    else:
        assert client.request(method, path, json=body, headers=api["reviewer"]).status_code in (200, 404)


def test_create_read_list_change_delete(client: TestClient, api: dict[str, dict[str, str]]) -> None:
    admin, reviewer = api["admin"], api["reviewer"]
    made = create(client, admin)
    assert (
        made["version"] == 1 and made["title"] == RETURNS["title"] and made["examples"] == RETURNS["examples"]
    )
    assert client.get(f"/api/answers/{made['id']}", headers=reviewer).json() == made
    assert [a["id"] for a in client.get("/api/answers", headers=reviewer).json()] == [made["id"]]
    assert client.get("/api/answers?language=en", headers=reviewer).json() == []

    r = client.patch(f"/api/answers/{made['id']}", json={"version": 1, "enabled": False}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["enabled"] is False and r.json()["version"] == 2 and r.json()["title"] == RETURNS["title"]
    stale = client.patch(f"/api/answers/{made['id']}", json={"version": 1, "title": "Autre"}, headers=admin)
    assert stale.status_code == 409 and stale.json()["error"]["detail"] == {"version": 2}
    assert client.get(f"/api/answers/{made['id']}", headers=reviewer).json()["title"] == RETURNS["title"]

    assert client.delete(f"/api/answers/{made['id']}?version=1", headers=admin).status_code == 409
    assert client.delete(f"/api/answers/{made['id']}?version=2", headers=admin).status_code == 204
    assert client.get(f"/api/answers/{made['id']}", headers=reviewer).status_code == 404
    with db.transaction(client.app.state.sessions) as session:  # type: ignore[attr-defined]
        trail = [(e.action, e.actor_id) for e in audit.admin_events(session, "answer", made["id"])]
    assert [a for a, _ in trail] == ["created", "changed", "deleted"] and all(actor for _, actor in trail)


@pytest.mark.parametrize(
    "change",
    [
        {"enabled": 0},
        {"enabled": "true"},
        {"title": ""},
        {"title": None},
        {"body": "{{ broken"},
        {"language": "f"},
        {"category": "praise"},
        {"examples": "Comment retourner ?"},
        {"examples": [""]},
        {"examples": ["x"] * 21},
        {"surprise": 1},
    ],
)
def test_a_refused_body_is_a_422_with_a_reason_and_writes_nothing(
    client: TestClient, api: dict[str, dict[str, str]], change: dict[str, Any]
) -> None:
    r = client.post("/api/answers", json={**RETURNS, **change}, headers=api["admin"])
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"]
    made = create(client, api["admin"])
    r = client.patch(f"/api/answers/{made['id']}", json={"version": 1, **change}, headers=api["admin"])
    assert r.status_code == 422, r.text
    assert client.get("/api/answers", headers=api["admin"]).json() == [made]


def test_ids_and_versions_beyond_the_bound_are_a_422(
    client: TestClient, api: dict[str, dict[str, str]]
) -> None:
    assert client.get(f"/api/answers/{2**63}", headers=api["admin"]).status_code == 422
    made = create(client, api["admin"])
    r = client.patch(
        f"/api/answers/{made['id']}", json={"version": 2**53, "title": "x"}, headers=api["admin"]
    )
    assert r.status_code == 422
    assert (
        client.delete(f"/api/answers/{made['id']}?version={2**53}", headers=api["admin"]).status_code == 422
    )


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_export_then_import_gives_the_same_answers(
    client: TestClient, api: dict[str, dict[str, str]], fmt: str
) -> None:
    create(client, api["admin"])
    create(
        client,
        api["admin"],
        title="Opening hours",
        language="en",
        category=None,
        examples=['Are you open on Sundays, "really"?', "When do you open?"],
        body="We are open Tuesday to Saturday, 10am to 7pm.\nSee you soon!",
        enabled=False,
    )
    r = client.get(f"/api/answers/export?format={fmt}", headers=api["reviewer"])
    assert r.status_code == 200 and r.headers["content-type"].startswith(
        "text/csv" if fmt == "csv" else "application/json"
    )
    before = sorted(json.dumps(x, sort_keys=True) for x in answers.export_rows(_all(client)))
    rows = answers.parse(r.text, fmt=fmt)
    with db.transaction(client.app.state.sessions) as session:  # type: ignore[attr-defined]
        assert answers.import_rows(session, client.app.state.settings, rows, user_id=None) == (0, 0)  # type: ignore[attr-defined]
        for a in answers.list_all(session):
            answers.delete(session, answer=a, user_id=None)
    with db.transaction(client.app.state.sessions) as session:  # type: ignore[attr-defined]
        assert answers.import_rows(session, client.app.state.settings, rows, user_id=None) == (2, 0)  # type: ignore[attr-defined]
    assert sorted(json.dumps(x, sort_keys=True) for x in answers.export_rows(_all(client))) == before


def _all(client: TestClient) -> list[Any]:
    with db.transaction(client.app.state.sessions) as session:  # type: ignore[attr-defined]
        found = answers.list_all(session)
        session.expunge_all()
        return found


def test_an_import_with_one_bad_row_writes_nothing(
    client: TestClient, api: dict[str, dict[str, str]]
) -> None:
    rows = [RETURNS, {**RETURNS, "title": "Autre", "enabled": "maybe"}]
    sessions, settings = client.app.state.sessions, client.app.state.settings  # type: ignore[attr-defined]
    with pytest.raises(Invalid, match="answer 2"), db.transaction(sessions) as session:
        answers.import_rows(session, settings, rows, user_id=None)
    assert _all(client) == []


def test_the_cli_imports_and_exports(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from app.cli import app as cli

    settings = client.app.state.settings  # type: ignore[attr-defined]
    monkeypatch.setenv("RELAIS_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("RELAIS_LANGUAGE", "en")
    source = tmp_path / "kb.json"
    source.write_text(json.dumps([RETURNS]), encoding="utf-8")
    runner = CliRunner()
    r = runner.invoke(cli, ["answers", "import", str(source)])
    assert r.exit_code == 0, r.output
    assert "1" in r.output
    out = tmp_path / "kb.csv"
    r = runner.invoke(cli, ["answers", "export", str(out)])
    assert r.exit_code == 0, r.output
    assert answers.parse(out.read_text(encoding="utf-8"), fmt="csv") == [RETURNS]
    bad = tmp_path / "kb.txt"
    bad.write_text("x")
    r = runner.invoke(cli, ["answers", "import", str(bad)])
    assert r.exit_code == 1 and "error:" in r.output


def test_the_api_imports_json_and_csv_as_the_cli_does(
    client: TestClient, api: dict[str, dict[str, str]]
) -> None:
    r = client.post("/api/answers/import", json=[RETURNS], headers=api["admin"])
    assert r.status_code == 200, r.text
    assert r.json() == {"created": 1, "changed": 0}
    assert client.post("/api/answers/import", json=[RETURNS], headers=api["admin"]).json() == {
        "created": 0,
        "changed": 0,
    }
    csv_body = answers.to_csv([{**RETURNS, "body": RETURNS["body"] + " À bientôt."}])
    r = client.post(
        "/api/answers/import",
        content=csv_body.encode("utf-8"),
        headers={**api["admin"], "Content-Type": "text/csv; charset=utf-8"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"created": 0, "changed": 1}
    (saved,) = _all(client)
    assert saved.body.endswith("À bientôt.") and saved.version == 2


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (None, "answer 2: Enabled is true or false."),
        ("fr-FR,fr;q=0.9", "réponse 2\u00a0: Activée vaut true ou false."),
        ("en", "answer 2: Enabled is true or false."),
    ],
)
def test_an_api_import_with_bad_rows_writes_nothing_and_says_why_for_every_row(
    client: TestClient, api: dict[str, dict[str, str]], language: str | None, expected: str
) -> None:
    rows = [RETURNS, {**RETURNS, "title": "Autre", "enabled": "maybe"}, {**RETURNS, "title": "", "colour": 1}]
    headers = {**api["admin"], **({"Accept-Language": language} if language else {})}
    r = client.post("/api/answers/import", json=rows, headers=headers)
    assert r.status_code == 422, r.text
    detail = r.json()["error"]["detail"]
    assert [row["row"] for row in detail["rows"]] == [2, 3]
    assert detail["errors"][0] == expected
    assert len(detail["rows"][1]["reasons"]) == 2  # the empty title and the unknown field
    assert _all(client) == []


def test_an_api_import_of_a_stale_version_is_a_conflict_and_writes_nothing(
    client: TestClient, api: dict[str, dict[str, str]]
) -> None:
    made = create(client, api["admin"])
    newer = client.patch(
        f"/api/answers/{made['id']}", json={"version": 1, "body": "Changed."}, headers=api["admin"]
    )
    assert newer.status_code == 200
    rows = [{**RETURNS, "version": 1, "body": "Mine."}, {**RETURNS, "title": "New one"}]
    r = client.post("/api/answers/import", json=rows, headers=api["admin"])
    assert r.status_code == 409, r.text
    assert r.json()["error"]["detail"]["rows"][0]["row"] == 1
    assert [a.body for a in _all(client)] == ["Changed."]
    ok = client.post("/api/answers/import", json=[{**rows[0], "version": 2}], headers=api["admin"])
    assert ok.status_code == 200 and ok.json() == {"created": 0, "changed": 1}


def test_an_api_import_that_is_not_json_or_too_large_is_refused(
    client: TestClient, api: dict[str, dict[str, str]]
) -> None:
    r = client.post(
        "/api/answers/import",
        content=b"not json",
        headers={**api["admin"], "Content-Type": "application/json"},
    )
    assert r.status_code == 422 and "not JSON" in r.json()["error"]["message"]
    r = client.post(
        "/api/answers/import",
        content=b"title,body\nx,y\n",
        headers={**api["admin"], "Content-Type": "text/csv", "Accept-Language": "fr"},
    )
    assert r.status_code == 422 and "colonnes language" in r.json()["error"]["message"]
    big = b"[" + b" " * (2 * 1024 * 1024) + b"]"
    r = client.post(
        "/api/answers/import", content=big, headers={**api["admin"], "Content-Type": "application/json"}
    )
    assert r.status_code == 413
