"""The pages speak the viewer's language, and nothing on them escapes the catalogs.

The catalog check: every message of app/ (extracted as `pybabel extract` does) has a translation
in each language's .po, none fuzzy, none left over. The page check renders every page in French
and in English with each catalog's translations wrapped in markers of its own language (⟦fr⟧,
⟪en⟫); any word outside the markers that is not the customer's data, a number, a date from the
locale or a proper name is interface text that bypassed the catalog, and any text in the other
language's markers was translated for the wrong viewer.
"""

from __future__ import annotations

import gettext
import json
import re
import time
import zoneinfo
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from babel import Locale
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from app import i18n
from app.config import Settings
from app.main import create_app
from app.models import Answer, Channel, Draft, Message, Note, OutboxItem, ReplyTemplate, SavedFilter, User
from app.reply_templates import service as reply_templates
from classifier import artifacts
from tests.conftest import ROOT, make_settings, meta_headers
from tests.web.conftest import csrf, db, feed, login, make_user, parse

WORD = re.compile(r"[^\W\d_]{2,}")
MARKS = {"fr": ("⟦", "⟧"), "en": ("⟪", "⟫")}
# Words that are the same in every language: the product, the platforms, units, codes.
PROPER = {"Relais", "UTC", "ISO", "CSRF", "Jinja2", "macro", "F1", "P90", "min", "Ctrl", "v1", "v2"}


# -- the catalogs ----------------------------------------------------------------------------------


def source_messages() -> set[str | tuple[str, str]]:
    """Every msgid of app/, extracted with the project's own configuration (pyproject.toml)."""
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    keywords = {
        "_": None,
        "gettext": None,
        "ngettext": (1, 2),
        "N_": None,
        "t": (2,),
        "tn": (2, 3),
        "_say": None,
    }
    found: set[str | tuple[str, str]] = set()
    for _, _, message, _, _ in extract_from_dir(str(ROOT / "app"), method_map, keywords=keywords):
        found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_the_catalog_translates_every_message_and_only_those(language: str) -> None:
    with (i18n.LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = read_po(f, locale=language)
    entries = {m.id if isinstance(m.id, str) else tuple(m.id): m for m in catalog if m.id}
    wanted = source_messages()
    assert wanted, "no message extracted"
    missing = sorted(map(str, wanted - set(entries)))
    assert not missing, f"not in {language}/messages.po (pybabel extract, then pybabel update): {missing}"
    stale = sorted(map(str, set(entries) - wanted))
    assert not stale, f"no longer in the code, remove from {language}/messages.po: {stale}"
    untranslated = [
        str(k)
        for k, m in entries.items()
        if m.fuzzy or not (m.string if isinstance(m.string, str) else all(m.string))
    ]
    assert not untranslated, f"fuzzy or empty in {language}/messages.po: {untranslated}"
    # the same %(variables)s on both sides
    for key, m in entries.items():
        ids = [key] if isinstance(key, str) else list(key)
        strings = [m.string] if isinstance(m.string, str) else list(m.string)
        names = {n for i in ids for n in re.findall(r"%\((\w+)\)", i)}
        for s in strings:
            assert set(re.findall(r"%\((\w+)\)", s)) <= names | {"num"}, (key, s)


def test_language_negotiation() -> None:
    assert i18n.negotiate("en-US,en;q=0.9,fr;q=0.8") == "en"
    assert i18n.negotiate("de-DE,fr;q=0.5,en;q=0.7") == "en"
    assert i18n.negotiate("fr-CA") == "fr"
    assert i18n.negotiate("de, *;q=0.1", default="en") == "en"
    assert i18n.negotiate(None) == "fr"
    assert i18n.negotiate("en;q=0, fr;q=0.1") == "fr"


# -- every page, both languages --------------------------------------------------------------------


class Marked(gettext.NullTranslations):
    """A real catalog whose translations come back between its language's markers."""

    def __init__(self, language: str) -> None:
        super().__init__()
        self.real = i18n.translations.__wrapped__(language)  # type: ignore[attr-defined]
        with (i18n.LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as f:
            catalog = read_po(f, locale=language)
        self.known = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id and m.string}
        self.left, self.right = MARKS[language]

    def _mark(self, msgid: str, text: str) -> str:
        return f"{self.left}{text}{self.right}" if msgid in self.known else text

    def gettext(self, message: str) -> str:
        return self._mark(message, self.real.gettext(message))

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return self._mark(msgid1, self.real.ngettext(msgid1, msgid2, n))

    def pgettext(self, context: str, message: str) -> str:
        return self._mark(message, self.real.pgettext(context, message))

    def npgettext(self, context: str, msgid1: str, msgid2: str, n: int) -> str:
        return self._mark(msgid1, self.real.npgettext(context, msgid1, msgid2, n))


@pytest.fixture
def marked(monkeypatch: pytest.MonkeyPatch) -> None:
    catalogs = {language: Marked(language) for language in i18n.LANGUAGES}
    lookup: Callable[[str], gettext.NullTranslations] = lambda language: catalogs.get(  # noqa: E731
        language, gettext.NullTranslations()
    )
    monkeypatch.setattr(i18n, "translations", lookup)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The shipped model, so that the message page explains its category."""
    models = ROOT / "models" if (ROOT / "models" / "CURRENT").exists() else tmp_path / "no-models"
    return make_settings(database_url, models_dir=models)


@pytest.fixture
def busy(client: TestClient) -> Iterator[TestClient]:
    """Messages in the queue, one approved then dead in the outbox, a paused channel, an admin."""
    make_user(client, name="ada", role="admin")
    feed(client, "19_1", "Toujours pas de remboursement, rien ne marche !", name="Camille Martin")
    feed(client, "19_2", "Vous livrez en Corse ?", author="5555", name="Julien Bernard")
    feed(client, "19_3", "Merci beaucoup, super équipe", author="5556", name="Nina Petit")
    assert login(client, "ada").status_code == 200
    with db(client) as s:
        first = s.scalars(select(Draft).order_by(Draft.id)).first()
        assert first is not None
        first_id, version = first.id, first.version
    r = client.post(
        f"/drafts/{first_id}/approve",
        data={"csrf_token": csrf(client), "version": str(version), "text": "Bonjour, c'est fait."},
        follow_redirects=False,
    )
    assert r.status_code == 303
    client.get(r.headers["location"])  # the flash is read once
    # the team's part: the second message's conversation assigned, a note, a saved filter
    for path, data in (
        ("/drafts/2/assign", {"user": "me"}),
        ("/drafts/2/notes", {"text": "Client fidèle, rappeler"}),
        ("/filters", {"name": "Mes questions", "q": "category=question&assignee=me"}),
    ):
        assert client.post(path, data={"csrf_token": csrf(client), **data}).status_code == 200
    with db(client) as s:
        s.execute(update(OutboxItem).values(status="dead", attempts=8, last_error="connection refused"))
        s.execute(update(Channel).values(paused=True, pause_reason="token expired", token_state="expired"))
        s.commit()
    yield client


def words(text: str) -> set[str]:
    """The words of a text as the check splits them (letters only, lower case)."""
    return {w.lower() for w in WORD.findall(text)}


def data_words(client: TestClient) -> set[str]:
    """Every word the customers, the team and the templates wrote: shown as they are."""
    texts: list[str] = []
    with db(client) as s:
        for m in s.scalars(select(Message)):
            texts += [
                m.text,
                m.author_name or "",
                m.author_handle or "",
                m.account_id,
                m.conversation_id or "",
            ]
            texts += [m.external_id, m.model_version or ""]
        for d in s.scalars(select(Draft)):
            texts += [d.text or "", d.final_text or "", d.reason or ""]
        for t in s.scalars(select(ReplyTemplate)):
            texts += [t.name, t.body]
        for o in s.scalars(select(OutboxItem)):
            texts += [o.text, o.last_error or ""]
        for c in s.scalars(select(Channel)):
            texts += [c.pause_reason or "", c.account_id]
        texts += list(s.scalars(select(User.name)))
        texts += list(s.scalars(select(Note.text))) + list(s.scalars(select(SavedFilter.name)))
        for a in s.scalars(select(Answer)):
            texts += [a.title, a.body, *a.examples]
    texts += list(reply_templates.SAMPLES.values())  # the editor's sample customer messages
    for version in artifacts.list_versions(ROOT / "models"):
        texts.append(str(version.get("version", "")))
    return {w for t in texts for w in words(t)}


def locale_words(language: str) -> set[str]:
    """Month and day names, language names: the locale's own data (Babel), not the catalog's."""
    loc = Locale.parse(language)
    found: set[str] = set()
    for table in (loc.months["format"], loc.days["format"]):
        for width in table.values():
            for name in width.values():
                found |= words(name)
    for name in loc.languages.values():
        found |= words(name)
    for zone in zoneinfo.available_timezones():  # IANA names
        found |= words(zone)
    return found


def visible_text(html: str) -> list[str]:
    """Text nodes and the attributes a person reads (title, aria-label, placeholder)."""
    page = parse(html)
    texts = [t for t in page.text if t.strip()]
    for _, attrs in page.tags:
        texts += [attrs[a] or "" for a in ("title", "aria-label", "placeholder", "alt") if attrs.get(a)]
    return texts


def strays(texts: list[str], language: str, allowed: set[str]) -> list[str]:
    """Words outside this language's markers that are not allowed, and text in the other's markers."""
    left, right = MARKS[language]
    other = next(m for lang, m in MARKS.items() if lang != language)
    joined = "\n".join(texts)
    found = [
        f"other language: {m}"
        for m in re.findall(re.escape(other[0]) + r"[^\n]*?" + re.escape(other[1]), joined)
    ]
    inner = re.compile(re.escape(left) + r"[^" + re.escape(left + right) + r"]*" + re.escape(right))
    while True:
        stripped = inner.sub(" ", joined)
        if stripped == joined:
            break
        joined = stripped
    for word in WORD.findall(joined):
        if word.lower() not in allowed and word not in PROPER:
            found.append(word)
    return found


PAGES = [
    "/",
    "/?status=rejected",
    "/?category=question&platform=facebook&language=fr&to_sort=yes",
    "/?assignee=me",
    "/drafts/1",
    "/drafts/2",
    "/dashboard",
    "/outbox",
    "/templates",
    "/templates/new",
    "/templates/1",
    "/answers",
    "/answers/new",
    "/drafts/999999",
    "/account",
]


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_page_is_in_the_viewers_language(busy: TestClient, marked: None, language: str) -> None:
    with db(busy) as s:
        s.execute(update(User).where(User.name == "ada").values(language=language))
        s.commit()
    allowed = data_words(busy) | locale_words(language) | {p.lower() for p in i18n.PLATFORM_NAMES.values()}
    problems: dict[str, list[str]] = {}
    for path in PAGES:
        r = busy.get(path, headers={"Accept-Language": "de"})
        assert r.status_code in (200, 404), (path, r.status_code)
        assert f'<html lang="{language}">' in r.text, path
        code = {w for c in re.findall(r"<code>([^<]*)</code>", r.text) for w in words(c)}  # identifiers
        found = strays(visible_text(r.text), language, allowed | code)
        if found:
            problems[path] = found
    busy.post("/logout", data={"csrf_token": csrf(busy)})
    for path in ("/login", "/login?next=/dashboard"):
        r = busy.get(path, headers={"Accept-Language": f"{language};q=0.9"})
        found = strays(visible_text(r.text), language, allowed)
        if found:
            problems[path] = found
    assert not problems, "\n".join(f"{k}: {sorted(set(v))}" for k, v in problems.items())


def test_the_language_follows_the_user_then_the_browser_then_the_setting(database_url: str) -> None:
    with TestClient(create_app(make_settings(database_url, language="en"))) as c:
        assert '<html lang="en">' in c.get("/login").text  # RELAIS_LANGUAGE
        assert '<html lang="fr">' in c.get("/login", headers={"Accept-Language": "fr-FR"}).text
        make_user(c)
        assert login(c).status_code == 200
        page = c.get("/", headers={"Accept-Language": "fr-FR,fr"})
        assert '<html lang="fr">' in page.text and "Se déconnecter" in page.text
        with db(c) as s:
            s.execute(update(User).where(User.name == "camille").values(language="en"))
            s.commit()
        page = c.get("/", headers={"Accept-Language": "fr-FR,fr"})
        assert '<html lang="en">' in page.text and "Log out" in page.text


def test_the_explanation_speaks_the_customers_words(busy: TestClient) -> None:
    page = busy.get("/drafts/1").text
    words = re.findall(r'<span class="word">([^<]+)</span>', page)
    assert words, "no explanation shown"
    assert not [w for w in words if ":" in w or w.startswith("'")], words  # no cue:..., no 'gram'
    text = "toujours pas de remboursement, rien ne marche !"
    assert all(w.lower() in text or w == "le point d’exclamation" for w in words), words
    assert "Mots qui ont pesé" in page


# -- every form action, both languages -------------------------------------------------------------


def _messenger_dm(client: TestClient) -> None:
    """A Messenger DM: a message no platform can hide."""
    item = {
        "sender": {"id": "PSID19"},
        "recipient": {"id": "1111"},
        "timestamp": int(time.time() * 1000),
        "message": {"mid": "m_19_dm", "text": "Bonjour, une question en privé"},
    }
    body = json.dumps({"object": "page", "entry": [{"id": "1111", "messaging": [item]}]}).encode()
    assert client.post("/webhooks/meta", content=body, headers=meta_headers(body)).status_code == 200


def _version(client: TestClient, draft_id: int) -> str:
    with db(client) as s:
        draft = s.get(Draft, draft_id)
        return str(draft.version) if draft is not None else "1"


# Each form action of the pages, done (or refused) as a person would: (path, fields), the fields
# "version" taken from the draft of the path when given as "current". Refusals are the point:
# a conflict, a stale version, an empty reply, a reason or category that does not exist, a
# platform that cannot hide, an unknown assignee, an empty note, a bad template, a dead letter
# sent again twice, ... each answered by a flash or an error page in the viewer's language.
FORM_ACTIONS: list[tuple[str, dict[str, Any]]] = [
    ("/drafts/1/approve", {"version": "current", "text": "Encore"}),  # already approved
    ("/drafts/2/approve", {"version": "999", "text": "Bonjour"}),  # a stale version
    ("/drafts/2/approve", {"version": "current", "text": "   "}),  # an empty reply
    ("/drafts/2/approve", {"version": "pas un nombre"}),  # a field refused by the form
    ("/drafts/2/reject", {"version": "current", "reason": ""}),  # no reason
    ("/drafts/2/category", {"category": "nope"}),
    ("/drafts/3/category", {"category": "complaint"}),
    ("/drafts/3/close", {"version": "current", "reason": "bogus"}),
    ("/drafts/3/hide", {}),
    ("/drafts/3/unhide", {}),
    ("/drafts/3/delete", {}),  # the box not ticked
    ("/drafts/4/hide", {}),  # a Messenger DM: not supported
    ("/drafts/3/close", {"version": "current", "reason": "spam"}),
    ("/drafts/3/reopen", {"version": "current"}),
    ("/drafts/3/reopen", {"version": "current"}),  # not closed any more
    ("/drafts/4/close", {"version": "current", "reason": "no_reply"}),
    ("/drafts/2/assign", {"user": "99999"}),  # nobody
    ("/drafts/2/assign", {"user": "none"}),
    ("/drafts/2/assign", {"user": "me"}),
    ("/drafts/2/notes", {"text": "   "}),
    ("/drafts/2/notes", {"text": "Rappeler demain"}),
    ("/queue/bulk", {"action": "hide"}),  # nothing ticked
    ("/queue/bulk", {"action": "hide", "ids": ["2", "4", "999999"]}),  # a DM, a closed one, none
    ("/queue/bulk", {"action": "no_reply", "ids": ["1", "3"]}),
    ("/queue/bulk", {"action": "assign", "ids": ["3"], "assignee": "me"}),
    ("/filters", {"name": "", "q": "status=pending"}),
    ("/filters", {"name": "Tout", "q": "status=pending"}),
    ("/filters/1/delete", {}),
    ("/outbox/1/resend", {}),
    ("/outbox/1/resend", {}),  # already resent once
    ("/channels/meta/1111/resume", {}),
    ("/channels/meta/9999/resume", {}),  # no such channel
    ("/templates/1", {"name": "x", "category": "question", "language": "fr", "body": "{{ prenom"}),
    (
        "/templates/1",
        {"name": "Question fr", "category": "question", "language": "fr", "body": "Bonjour", "version": "0"},
    ),
    (
        "/templates",
        {"name": "Merci fr", "category": "other", "language": "fr", "body": "Merci {{ first_name }} !"},
    ),
    (
        "/templates",
        {"name": "Merci fr", "category": "other", "language": "fr", "body": "Merci !", "action": "preview"},
    ),
    ("/answers", {"title": "", "body": "", "language": "français"}),
    ("/answers", {"title": "Livraison en Corse", "body": "Oui, en 3 jours.", "language": "fr"}),
    ("/answers/1", {"title": "Livraison en Corse", "body": "Oui.", "language": "fr", "version": "99"}),
    ("/answers/1/delete", {"version": "99"}),
    ("/answers/1/delete", {"version": "1"}),
    ("/drafts/999999/approve", {"version": "1", "text": "Bonjour"}),  # no such draft
    ("/account", {"language": "same", "timezone": "Europe/Paris"}),
]


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_form_action_answers_in_the_viewers_language(
    busy: TestClient, marked: None, language: str
) -> None:
    _messenger_dm(busy)
    with db(busy) as s:
        s.execute(update(User).where(User.name == "ada").values(language=language))
        s.commit()
        assert s.get(Draft, 4) is not None and s.get(Message, 4).channel == "messenger"  # type: ignore[union-attr]
    known = locale_words(language) | {p.lower() for p in i18n.PLATFORM_NAMES.values()}
    problems: dict[str, list[str]] = {}
    flashes = 0
    for path, fields in FORM_ACTIONS:
        data = {"csrf_token": csrf(busy), **fields}
        if data.get("version") == "current":
            data["version"] = _version(busy, int(path.split("/")[2]))
        if data.get("language") == "same":
            data["language"] = language
        r = busy.post(path, data=data, headers={"Accept-Language": "de"})
        assert r.status_code in (200, 404, 409, 422), (path, fields, r.status_code)
        assert f'<html lang="{language}">' in r.text, (path, fields)
        flashes += 'class="flash' in r.text
        code = {w for c in re.findall(r"<code>([^<]*)</code>", r.text) for w in words(c)}
        typed = words(" ".join(map(str, fields.values())))  # what the form sent, shown back
        found = strays(visible_text(r.text), language, known | data_words(busy) | code | typed)
        if found:
            problems[f"POST {path} {fields}"] = found
    assert flashes >= len(FORM_ACTIONS) - 3, "the actions should say what they did"
    assert not problems, "\n".join(f"{k}: {sorted(set(v))}" for k, v in problems.items())
