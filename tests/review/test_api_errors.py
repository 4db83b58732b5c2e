"""What the API answers to a wrong request, on SQLite and PostgreSQL (issue 20, defects 4 and 6):
ids and versions no row can hold are a 422 naming the bound, never a 500 or a 503; the client's
database mistakes are a 409 or a 422; a 503 only when the database is gone; strict bodies; 405
with every method of the path; an OpenAPI document that declares what each route answers."""

from __future__ import annotations

import base64
import json
import sqlite3
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, create_engine, make_url, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from app import db, errors
from app.config import Settings
from app.main import create_app
from app.models import ReplyTemplate
from tests.conftest import PG_ADMIN, deliver, make_user
from tests.review.test_api import ROUTES

BEYOND_64_BITS = 11819350618757983230754816
ID_ROUTES = [(m, p, b, role) for m, p, b, role in ROUTES if "/1" in p and "/meta/1111" not in p]


@pytest.fixture
def admin(client: TestClient) -> dict[str, str]:
    deliver(client, "1_1", "Vous livrez le dimanche ?")
    return make_user(client, "adam", "admin")


def _reason(r: Any) -> str:
    return str(r.json()["error"]["message"])


@pytest.mark.parametrize("big", [2**63, BEYOND_64_BITS])
@pytest.mark.parametrize("method,path,body,role", ID_ROUTES)
def test_an_id_beyond_64_bits_is_a_422_naming_the_bound(
    client: TestClient, admin: dict[str, str], method: str, path: str, body: Any, role: str, big: int
) -> None:
    r = client.request(method, path.replace("/1", f"/{big}", 1), json=body, headers=admin)
    assert r.status_code == 422, r.text
    assert "less than or equal to 9007199254740991" in _reason(r)


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("POST", "/api/drafts/1/reject", {"version": BEYOND_64_BITS, "reason": "x"}),
        ("POST", "/api/drafts/1/approve", {"version": BEYOND_64_BITS}),
        ("PATCH", "/api/drafts/1", {"version": BEYOND_64_BITS, "text": "x"}),
        ("POST", "/api/templates/preview", {"body": "x", "message_id": BEYOND_64_BITS}),
        ("POST", "/api/drafts/1/approve", {"version": 0}),
    ],
)
def test_a_version_or_body_id_no_row_can_have_is_a_422(
    client: TestClient, admin: dict[str, str], method: str, path: str, body: dict[str, Any]
) -> None:
    r = client.request(method, path, json=body, headers=admin)
    assert r.status_code == 422, r.text
    assert _reason(r).startswith(("version:", "message_id:"))


def test_a_queue_cursor_with_huge_numbers_is_a_400(client: TestClient, admin: dict[str, str]) -> None:
    raw = json.dumps([BEYOND_64_BITS, "2026-01-01T00:00:00+00:00", BEYOND_64_BITS]).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    r = client.get("/api/drafts", params={"cursor": cursor}, headers=admin)
    assert r.status_code == 400 and _reason(r) == "invalid cursor"


@pytest.mark.parametrize(
    "body,field",
    [
        ({"enabled": None}, "enabled"),
        ({"name": None}, "name"),
        ({"body": None}, "body"),
        ({"enabled": 0}, "enabled"),
        ({"enabled": "true"}, "enabled"),
    ],
)
def test_a_template_field_set_to_null_or_a_non_boolean_is_a_422(
    client: TestClient, admin: dict[str, str], body: dict[str, Any], field: str
) -> None:
    template = client.get("/api/templates", headers=admin).json()[0]
    r = client.patch(f"/api/templates/{template['id']}", json=body, headers=admin)
    assert r.status_code == 422 and _reason(r).startswith(f"{field}:"), r.text
    after = client.get("/api/templates", headers=admin).json()[0]
    assert after == template


def test_renaming_a_template_to_a_taken_name_is_a_409(client: TestClient, admin: dict[str, str]) -> None:
    first, second = client.get("/api/templates", headers=admin).json()[:2]
    r = client.patch(f"/api/templates/{second['id']}", json={"name": first["name"]}, headers=admin)
    assert r.status_code == 409 and first["name"] in _reason(r)


@pytest.mark.parametrize("version", ["1", True, 1.5])
def test_a_version_must_be_a_json_integer(client: TestClient, admin: dict[str, str], version: Any) -> None:
    r = client.post("/api/drafts/1/reject", json={"version": version, "reason": "x"}, headers=admin)
    assert r.status_code == 422 and _reason(r).startswith("version:")


def test_an_integral_number_is_an_integer_as_json_schema_says(
    client: TestClient, admin: dict[str, str]
) -> None:
    r = client.post("/api/drafts/1/reject", json={"version": 1.0, "reason": "hors sujet"}, headers=admin)
    assert r.status_code == 200 and r.json()["status"] == "rejected"


def test_constraint_violations_are_the_clients_mistake(client: TestClient) -> None:
    """The database's own refusals, raised for real, mapped: unique -> 409, NOT NULL -> 422."""
    seen: list[type[errors.RelaisError] | None] = []
    for column, value in (("name", None), ("enabled", None)):
        with pytest.raises(IntegrityError) as caught, db.transaction(client.app.state.sessions) as session:
            first, second = session.scalars(select(ReplyTemplate).order_by(ReplyTemplate.id).limit(2))
            setattr(second, column, first.name if value is None and column == "name" else value)
            session.flush()
        mapped = errors.from_database_error(caught.value)
        seen.append(None if mapped is None else type(mapped))
    assert seen == [errors.Conflict, errors.Invalid]


def test_a_503_when_the_database_is_really_gone(settings: Settings) -> None:
    """SQLite: another process holds the write lock past the busy timeout; PostgreSQL: the
    database refuses connections. Both are a 503 with Retry-After, the client's request intact."""
    settings = settings.model_copy(update={"sqlite_busy_timeout_ms": 200})
    with TestClient(create_app(settings)) as client:
        deliver(client, "1_1", "Vous livrez le dimanche ?")
        reviewer = make_user(client, "rita", "reviewer")
        engine = client.app.state.engine
        if engine.dialect.name == "sqlite":
            blocker = sqlite3.connect(engine.url.database, timeout=0)
            blocker.execute("BEGIN EXCLUSIVE")
            try:
                r = client.post("/api/drafts/1/claim", headers=reviewer)
            finally:
                blocker.rollback()
                blocker.close()
        else:
            name = engine.url.database
            with _pg_admin() as admin:
                admin.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
                admin.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                    {"n": name},
                )
            try:
                r = client.post("/api/drafts/1/claim", headers=reviewer)
            finally:
                with _pg_admin() as admin:
                    admin.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        assert r.status_code == 503 and r.headers["Retry-After"], r.text
        assert r.json()["error"]["code"] == "unavailable"
        assert client.post("/api/drafts/1/claim", headers=reviewer).status_code == 200


def _pg_admin() -> Connection:
    url = make_url(PG_ADMIN).set(drivername="postgresql+psycopg")
    return create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool).connect()


def _openapi_paths(client: TestClient) -> dict[str, dict[str, Any]]:
    return client.get("/openapi.json").json()["paths"]  # type: ignore[no-any-return]


def test_an_undeclared_method_is_a_405_with_every_declared_method_in_allow(client: TestClient) -> None:
    for path, operations in _openapi_paths(client).items():
        declared = {m.upper() for m in operations}
        concrete = path.replace("{platform}", "meta").replace("{account_id}", "1111")
        for name in ("draft_id", "message_id", "template_id", "item_id", "filter_id", "answer_id", "use_id"):
            concrete = concrete.replace("{" + name + "}", "1")
        for method in sorted({"GET", "POST", "PUT", "PATCH", "DELETE"} - declared):
            r = client.request(method, concrete)
            assert r.status_code == 405, (method, concrete, r.status_code)
            assert set(r.headers["allow"].split(", ")) == declared, (method, concrete)
            assert r.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    "method,path,allow",
    [("PATCH", "/api/templates/preview", "POST"), ("DELETE", "/api/templates/preview", "POST")],
)
def test_a_word_where_an_id_goes_is_another_routes_path_not_a_422(
    client: TestClient, admin: dict[str, str], method: str, path: str, allow: str
) -> None:
    r = client.request(method, path, headers=admin)
    assert r.status_code == 405 and r.headers["allow"] == allow


def test_the_openapi_document_declares_what_each_route_answers(client: TestClient) -> None:
    paths = _openapi_paths(client)
    admin_only = {(m, p) for m, p, _, role in ROUTES if role == "admin"}
    for path, operations in paths.items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            if path.startswith("/api/"):
                assert {"401", "503"} <= codes, (method, path)
                assert ("403" in codes) == any(
                    m == method.upper() and _same(p, path) for m, p in admin_only
                ), (method, path)
            if "{" in path and path.startswith("/api/"):
                assert "404" in codes, (method, path)
            for code, response in operation["responses"].items():
                if code.startswith(("4", "5")) and "content" in response and path != "/healthz":
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorBody"), (method, path, code)
    for path in ("/api/drafts/{draft_id}/approve", "/api/drafts/{draft_id}/reject", "/api/templates"):
        assert "409" in paths[path]["post"]["responses"]
    assert list(paths["/metrics"]["get"]["responses"]["200"]["content"]) == ["text/plain"]
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert schema["TemplateUpdate"]["properties"]["enabled"] == {"type": "boolean", "title": "Enabled"}


def _same(route: str, template: str) -> bool:
    parts, pattern = route.split("/"), template.split("/")
    return len(parts) == len(pattern) and all(
        a == b or (b.startswith("{") and b.endswith("}")) for a, b in zip(parts, pattern, strict=True)
    )
