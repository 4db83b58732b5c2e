"""Helpers for the page tests: users with passwords, logging in through the form, messages fed
through the signed Meta webhook, and a small HTML inspector (stdlib `html.parser`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.config import Settings
from app.users import service as users
from tests.conftest import fb_comment, make_settings, meta_headers

PASSWORD = "correct horse battery staple"
XSS = (
    "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>"
    "<a href=\"javascript:document.title='pwned'\">lien</a> {{7*7}}"
)


def db(client: TestClient) -> Session:
    return client.app.state.sessions()  # type: ignore[attr-defined, no-any-return]


def make_user(
    client: TestClient, name: str = "camille", role: str = "reviewer", password: str = PASSWORD
) -> int:
    with db(client) as session:
        user, _ = users.create(session, name=name, role=role, password=password)
        session.commit()
        return user.id


def login_token(client: TestClient, path: str = "/login") -> str:
    r = client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
    assert match, r.text[:500]
    return match.group(1)


def login(client: TestClient, name: str = "camille", password: str = PASSWORD, *, follow: bool = True) -> Any:
    token = login_token(client)
    return client.post(
        "/login",
        data={"username": name, "password": password, "csrf_token": token, "next": "/"},
        follow_redirects=follow,
    )


def csrf(client: TestClient, path: str = "/") -> str:
    """The session's CSRF token, read from a page like a browser would."""
    r = client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
    assert match, r.text[:500]
    return match.group(1)


def feed(client: TestClient, comment_id: str, text: str, **kw: Any) -> None:
    body = fb_comment(comment_id, text, **kw)
    r = client.post("/webhooks/meta", content=body, headers=meta_headers(body))
    assert r.status_code == 200, r.text


@dataclass
class Page(HTMLParser):
    """What the page tests check in the HTML: forms and their fields, scripts, attributes."""

    forms: list[dict[str, Any]] = field(default_factory=list)
    scripts: list[dict[str, str | None]] = field(default_factory=list)
    handlers: list[tuple[str, str]] = field(default_factory=list)  # (tag, on* attribute)
    styles: list[str] = field(default_factory=list)  # tags with a style attribute
    links: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    tags: list[tuple[str, dict[str, str | None]]] = field(default_factory=list)
    _in_script: bool = False

    def __post_init__(self) -> None:
        HTMLParser.__init__(self)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        for name, _ in attrs:
            if name.startswith("on"):
                self.handlers.append((tag, name))
        if "style" in a:
            self.styles.append(tag)
        if tag == "style":
            self.styles.append("<style>")
        if tag == "form":
            self.forms.append(
                {"method": (a.get("method") or "get").lower(), "action": a.get("action"), "fields": {}}
            )
        if tag in ("input", "textarea", "select", "button") and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value")
        if tag == "script":
            self.scripts.append(a)
            self._in_script = True
        for key in ("href", "src", "action"):
            if a.get(key):
                self.links.append(a[key] or "")
        if a.get("src"):
            self.sources.append(a["src"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def body_text(self) -> str:
        return "".join(self.text)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def assert_safe_page(html: str) -> Page:
    """Every POST form has a CSRF token, no inline script/style/handlers, nothing from elsewhere."""
    page = parse(html)
    for form in page.forms:
        if form["method"] == "post":
            assert form["fields"].get("csrf_token"), form
    assert all(s.get("src") for s in page.scripts), page.scripts
    assert not page.handlers, page.handlers
    assert not page.styles, page.styles
    for link in page.links:
        assert not link.strip().lower().startswith(("javascript:", "data:", "vbscript:")), link
    for src in page.sources:
        assert src.startswith("/") and not src.startswith("//"), src  # nothing loaded from outside
    return page


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """No trained model (an empty models folder): every message goes "to sort", deterministically."""
    return make_settings(database_url, models_dir=tmp_path / "no-models")
