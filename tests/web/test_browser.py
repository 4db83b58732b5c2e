"""The review pages in a real browser: Debian's Chromium, headless, driven by Playwright, against a
real uvicorn server on loopback with a SQLite file. Messages arrive through the signed webhook; a
reviewer logs in, works the queue with the keyboard (approve, edit and approve, reject, change the
category), looks at the dashboard; a message full of XSS payloads stays inert; a form posted
without its CSRF token is refused. The browser is French (the screenshots in tests/screenshots/,
shown by the README, are the French pages); one pass in an English browser checks the English.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app import db
from app.config import Settings
from app.models import Draft, Message
from app.users import service as users
from tests.conftest import IN_CI, ROOT, SECRETS, fb_comment, meta_headers
from tests.web.conftest import PASSWORD, XSS

CHROMIUM = Path("/usr/bin/chromium")
# The README's screenshots; under CI (the landing checkout) they go to a temporary folder, so that a
# test run leaves the checkout as it found it.
SHOTS = Path(tempfile.mkdtemp(prefix="relais-screenshots-")) if IN_CI else ROOT / "tests" / "screenshots"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]

pytestmark = pytest.mark.browser

if not CHROMIUM.exists():
    if IN_CI:
        pytest.fail("Debian's chromium (/usr/bin/chromium) is required under CI", pytrace=False)
    pytest.skip("no /usr/bin/chromium: apt-get install -y chromium", allow_module_level=True)

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

MESSAGES = [
    ("7001_1", "Colis reçu cassé, je veux être remboursée immédiatement !", "Camille Martin"),
    ("7001_2", "Vous livrez en Corse ?", "Julien Bernard"),
    ("7001_3", "Ce serait génial d'avoir une appli pour suivre les colis.", "Nina Petit"),
    ("7001_4", "Deuxième fois que ma commande arrive en retard, c'est inadmissible.", "Léa Moreau"),
    ("7001_5", XSS, "Mallory <img src=x onerror=alert(1)>"),
]


@dataclass
class Server:
    url: str
    settings: Settings

    def draft(self, draft_id: int) -> Draft:
        engine = db.make_engine(self.settings)
        try:
            with db.make_sessionmaker(engine)() as s:
                d = s.get(Draft, draft_id)
                assert d is not None
                s.expunge(d)
                return d
        finally:
            engine.dispose()

    def draft_of(self, external_id: str) -> int:
        engine = db.make_engine(self.settings)
        try:
            with db.make_sessionmaker(engine)() as s:
                did = s.scalar(
                    select(Draft.id)
                    .join(Message, Message.id == Draft.message_id)
                    .where(Message.external_id == external_id)
                )
                assert did is not None
                return did
        finally:
            engine.dispose()

    def pending(self) -> int:
        """A pending draft that is not the XSS one (for the message screenshots)."""
        for cid, _, _ in MESSAGES[:-1]:
            did = self.draft_of(cid)
            if self.draft(did).status == "pending":
                return did
        return self.draft_of(MESSAGES[-1][0])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


@contextlib.contextmanager
def running_server(tmp: Path, **env_extra: str) -> Iterator[Server]:
    """uvicorn on a free loopback port with a SQLite file under `tmp` and the reviewer "camille"."""
    models = ROOT / "models" if (ROOT / "models" / "CURRENT").exists() else tmp / "no-models"
    env = {
        **os.environ,
        "RELAIS_DATABASE_URL": f"sqlite:///{tmp / 'relais.db'}",
        "RELAIS_ENVIRONMENT": "test",
        "RELAIS_OUTBOX_IN_PROCESS": "false",
        "RELAIS_MODELS_DIR": str(models),
        **{f"RELAIS_{k.upper()}": v for k, v in SECRETS.items()},
        **env_extra,
    }
    settings = Settings(database_url=env["RELAIS_DATABASE_URL"], models_dir=models)
    db.upgrade(settings)
    engine = db.make_engine(settings)
    with db.make_sessionmaker(engine)() as s:
        users.create(s, name="camille", role="reviewer", password=PASSWORD)
        s.commit()
    engine.dispose()
    port = free_port()
    log = open(tmp / "server.log", "w+")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                log.seek(0)
                pytest.fail("uvicorn did not start: " + log.read()[-1000:])
            time.sleep(0.2)
        yield Server(url, settings)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The shared server, with five messages."""
    with running_server(tmp_path_factory.mktemp("browser")) as srv:
        for cid, text, name in MESSAGES:
            body = fb_comment(cid, text, author=cid.replace("_", ""), name=name)
            assert post(srv.url + "/webhooks/meta", body, meta_headers(body)) == 200
        yield srv


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


@dataclass
class Session:
    page: Page
    dialogs: list[str]
    external: list[str]


@pytest.fixture
def session(server: Server, browser: Browser) -> Iterator[Session]:
    """A desktop page of a French browser, logged in through the login form."""
    context = browser.new_context(viewport=DESKTOP, locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(10_000)
    dialogs: list[str] = []
    external: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("request", lambda r: None if r.url.startswith((server.url, "data:")) else external.append(r.url))
    page.goto(server.url + "/")
    assert page.url.startswith(server.url + "/login")
    page.fill("input[name=username]", "camille")
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    page.wait_for_url(server.url + "/")
    yield Session(page, dialogs, external)
    assert not session_errors(dialogs, external)
    context.close()


def session_errors(dialogs: list[str], external: list[str]) -> list[str]:
    return [f"dialog: {d}" for d in dialogs] + [f"external request: {u}" for u in external]


def current_draft(page: Page, server: Server) -> int:
    path = page.url.removeprefix(server.url).split("?")[0]
    assert path.startswith("/drafts/"), page.url
    return int(path.rsplit("/", 1)[1])


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def phone_page(browser: Browser, desktop: Page) -> Page:
    context = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2, locale="fr-FR"
    )
    context.add_cookies(desktop.context.cookies())  # type: ignore[arg-type]
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def test_wrong_password_then_login(server: Server, browser: Browser) -> None:
    context = browser.new_context(viewport=DESKTOP, locale="fr-FR")
    page = context.new_page()
    page.goto(server.url + "/login")
    assert page.get_attribute("html", "lang") == "fr" and "Mot de passe" in page.inner_text("main")
    shoot(page, "login-desktop")
    page.fill("input[name=username]", "camille")
    page.fill("input[name=password]", "wrong password!")
    page.press("input[name=password]", "Enter")
    page.wait_for_load_state()
    assert "Wrong username or password" in page.inner_text("body")
    context.close()


def test_work_the_queue_with_the_keyboard(session: Session, server: Server, browser: Browser) -> None:
    page = session.page
    assert "remboursée" in page.inner_text("#queue")
    shoot(page, "queue-desktop")
    phone = phone_page(browser, page)
    phone.goto(server.url + "/")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 400
    shoot(phone, "queue-phone")
    phone.context.close()

    # open the first message from the queue: j selects, Enter opens
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url("**/drafts/*")
    first = current_draft(page, server)

    # c: change the category (a pending draft is re-suggested from the templates)
    page.keyboard.press("c")
    assert page.evaluate("document.activeElement.id") == "category"
    page.select_option("#category", "complaint")
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert "Catégorie changée en Réclamation" in page.inner_text(".flash")  # the viewer's language
    assert server.draft(first).category == "complaint"
    assert page.input_value("#editor").strip()

    # ?: the help opens over the page (not at its bottom), ? or Esc closes it
    assert not page.is_visible("#shortcuts")
    page.keyboard.press("?")
    assert page.is_visible("#shortcuts")
    assert page.evaluate("getComputedStyle(document.getElementById('shortcuts')).position") == "fixed"
    box = page.locator("#shortcuts").bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= DESKTOP["height"]
    page.keyboard.press("Escape")
    assert not page.is_visible("#shortcuts")
    page.keyboard.press("?")
    page.keyboard.press("?")
    assert not page.is_visible("#shortcuts")

    # a: approve as shown; the next draft opens
    suggested = page.input_value("#editor")
    page.keyboard.press("a")
    page.wait_for_url(lambda url: f"/drafts/{first}" not in url)
    d = server.draft(first)
    assert d.status == "approved" and d.final_text == suggested.strip() and not d.edited
    assert "validé\u00a0: la réponse part" in page.inner_text(".flash")  # French, as the browser

    # e: edit, then Ctrl+Enter approves the edited text
    second = current_draft(page, server)
    page.keyboard.press("e")
    assert page.evaluate("document.activeElement.id") == "editor"
    page.keyboard.press("Control+a")
    page.keyboard.type("Bonjour, oui : nous livrons partout en France.")
    page.keyboard.press("Control+Enter")
    page.wait_for_url(lambda url: f"/drafts/{second}" not in url)
    d = server.draft(second)
    assert (
        d.status == "approved"
        and d.edited
        and d.final_text == "Bonjour, oui : nous livrons partout en France."
    )

    # r: reject with a reason (type it, Enter)
    third = current_draft(page, server)
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.id") == "reason"
    page.keyboard.type("Déjà répondu par téléphone")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: f"/drafts/{third}" not in url)
    d = server.draft(third)
    assert d.status == "rejected" and d.reason == "Déjà répondu par téléphone"

    # j goes to the next message, k back (or the other way round at the end of the queue)
    here = page.url
    there, back = ("j", "k") if page.locator("a[data-nav='next']").count() else ("k", "j")
    page.keyboard.press(there)
    page.wait_for_url(lambda url: url != here)
    page.keyboard.press(back)
    page.wait_for_url(here)


def test_xss_payload_is_inert(session: Session, server: Server, browser: Browser) -> None:
    page = session.page
    title = page.title()
    assert "onerror" in page.inner_text("#queue") and "<script>" in page.inner_text("#queue")
    page.goto(f"{server.url}/drafts/{server.draft_of('7001_5')}")
    page.wait_for_load_state("networkidle")
    text = page.inner_text("#customer-text")
    assert text == XSS  # shown as text, byte for byte, template syntax not evaluated
    assert page.title() == page.title().replace("pwned", "") and "pwned" not in title
    assert page.evaluate("document.querySelectorAll('img, main script, a[href^=\"javascript\"]').length") == 0
    assert not session.dialogs
    page.click("a[data-nav='up']")
    page.wait_for_load_state("networkidle")
    assert page.title() != "pwned"


def test_form_without_csrf_token_is_refused(session: Session, server: Server) -> None:
    page = session.page
    draft_id = server.pending()
    page.goto(f"{server.url}/drafts/{draft_id}")
    page.evaluate("document.querySelector('#reject-form input[name=csrf_token]').remove()")
    page.fill("#reason", "spam")
    with page.expect_navigation() as nav:
        page.click("#reject-form button[type=submit]")
    response = nav.value
    assert response is not None and response.status == 403
    assert "jeton de sécurité" in page.inner_text("main")
    assert server.draft(draft_id).status == "pending"


def test_screenshots_and_phone_layout(session: Session, server: Server, browser: Browser) -> None:
    desktop = session.page
    draft_id = server.pending()
    desktop.goto(f"{server.url}/drafts/{draft_id}")
    shoot(desktop, "message-desktop")
    desktop.goto(server.url + "/dashboard")
    assert desktop.locator("svg.chart").count() >= 4
    assert "délai de première réponse" in desktop.inner_text("main").lower()
    shoot(desktop, "dashboard-desktop")

    phone = phone_page(browser, desktop)
    widths: dict[str, Any] = {}
    for name, path in [
        ("queue", "/"),
        ("message", f"/drafts/{draft_id}"),
        ("dashboard", "/dashboard"),
        ("outbox", "/outbox"),
        ("message-xss", f"/drafts/{server.draft_of('7001_5')}"),
    ]:
        phone.goto(server.url + path)
        phone.wait_for_load_state("networkidle")
        widths[name] = phone.evaluate("document.documentElement.scrollWidth")
        if name in ("message", "dashboard"):
            shoot(phone, f"{name}-phone")
    assert all(w <= 400 for w in widths.values()), widths
    # big enough to tap: the approve button on a phone
    box = phone.locator("#approve").bounding_box() if phone.locator("#approve").count() else None
    if box is not None:
        assert box["height"] >= 40
    phone.context.close()
    for name in (
        "queue-desktop",
        "queue-phone",
        "message-desktop",
        "message-phone",
        "dashboard-desktop",
        "dashboard-phone",
    ):
        assert (SHOTS / f"{name}.png").stat().st_size > 5000


def test_the_pages_in_an_english_browser(server: Server, browser: Browser) -> None:
    context = browser.new_context(viewport=DESKTOP, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(server.url + "/")
    assert page.get_attribute("html", "lang") == "en" and "Password" in page.inner_text("main")
    page.fill("input[name=username]", "camille")
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    page.wait_for_url(server.url + "/")
    assert "Log out" in page.inner_text("header") and "Keyboard shortcuts" in page.text_content("main")
    page.goto(f"{server.url}/drafts/{server.draft_of(MESSAGES[1][0])}")
    main = page.inner_text("main")
    assert "Change category" in main and "waiting" in main
    # the viewer's own choice beats the browser's: French pages in an English browser
    page.goto(server.url + "/account")
    page.select_option("#language", "fr")
    page.click("#account-form button[type=submit]")
    page.wait_for_url(server.url + "/account")
    assert page.get_attribute("html", "lang") == "fr" and "Enregistré." in page.inner_text(".flash")
    page.goto(server.url + "/")
    assert "Raccourcis clavier" in (page.text_content("main") or "")
    page.goto(server.url + "/account")
    page.select_option("#language", "")
    page.click("#account-form button[type=submit]")
    page.wait_for_url(server.url + "/account")
    assert page.get_attribute("html", "lang") == "en"
    context.close()


# -- team work: assign to me with m, a note, the mine filter, bulk approve, the new-message banner --


def _team_page(browser: Browser, server: Server, locale: str, viewport: dict[str, int]) -> Page:
    context = browser.new_context(
        viewport=viewport, locale=locale, is_mobile=viewport is PHONE, has_touch=viewport is PHONE
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(server.url + "/login")
    page.fill("input[name=username]", "camille")
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    page.wait_for_url(server.url + "/")
    return page


def _deliver(server: Server, cid: str, text: str, author: str, page_id: str = "1111") -> None:
    body = fb_comment(cid, text, author=author, name="Inès Garnier", page=page_id)
    assert post(server.url + "/webhooks/meta", body, meta_headers(body)) == 200


@pytest.mark.parametrize(
    "locale,viewport,words",
    [
        ("fr-FR", DESKTOP, {"mine": "à moi", "assigned": "Conversation assignée à", "news": "nouveau"}),
        ("en-US", PHONE, {"mine": "mine", "assigned": "Conversation assigned to", "news": "new message"}),
    ],
    ids=["french-desktop", "english-phone"],
)
def test_team_work_in_the_browser(
    server: Server, browser: Browser, locale: str, viewport: dict[str, int], words: dict[str, str]
) -> None:
    tag = "fr" if locale.startswith("fr") else "en"
    post_page = "7771" if tag == "fr" else "7772"
    for k in range(3):  # a post of its own, so that the other tests' drafts stay as they are
        _deliver(
            server,
            f"77{tag}_{k}",
            f"Question {tag} {k} : vous livrez le dimanche ?",
            f"88{tag}{k}",
            post_page,
        )
    page = _team_page(browser, server, locale, viewport)
    first = server.draft_of(f"77{tag}_0")

    # m on the message page: the conversation is mine, every pending draft of it follows
    page.goto(f"{server.url}/drafts/{first}")
    with page.expect_navigation():
        if viewport is DESKTOP:
            page.keyboard.press("m")
        else:
            page.click("#assign-me")
    assert words["assigned"] in page.inner_text(".flash")
    me = server.draft(first).assignee_id
    assert me is not None and all(
        server.draft(server.draft_of(f"77{tag}_{k}")).assignee_id == me for k in range(3)
    )

    # a note: on the page with its author, never sent
    page.fill("#note", "Client fidèle <b>VIP</b>, rappeler")
    page.click("#add-note")
    page.wait_for_url("**#notes")
    assert "Client fidèle <b>VIP</b>, rappeler" in page.inner_text("#notes-list")
    assert "camille" in page.inner_text("#notes-list")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"] + 10

    # the mine filter, then bulk approve two of mine
    page.goto(server.url + "/")
    page.click("#mine")
    page.wait_for_url("**assignee=me**")
    assert words["mine"] in page.inner_text("#mine")
    cards = page.locator("li.item")
    assert cards.count() >= 3
    second, third = server.draft_of(f"77{tag}_1"), server.draft_of(f"77{tag}_2")
    page.check(f"input.pick[value='{second}']")
    page.check(f"input.pick[value='{third}']")
    with page.expect_navigation():
        page.click("#bulk-approve")
    assert server.draft(second).status == "approved" and server.draft(third).status == "approved"
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"] + 10

    # a new message of my conversation: a banner says so without a reload, "show" shows it
    page.goto(server.url + "/?assignee=me")
    page.evaluate("window.__same_page = true")
    _deliver(server, f"77{tag}_9", "Et le samedi aussi ?", f"88{tag}9", post_page)
    page.wait_for_selector("#news:not(.hidden)", timeout=15_000)
    assert words["news"] in page.inner_text("#news")
    assert page.evaluate("window.__same_page") is True  # no reload happened
    page.click("#news-show")
    page.wait_for_load_state()
    assert "Et le samedi aussi ?" in page.inner_text("#queue")
    page.context.close()


def test_m_in_the_queue_assigns_the_selected_message_to_me(server: Server, browser: Browser) -> None:
    _deliver(server, "7799_1", "Vous êtes ouverts le 1er mai ?", "87991", "7799")
    target = server.draft_of("7799_1")
    page = _team_page(browser, server, "fr-FR", DESKTOP)
    page.goto(server.url + "/?assignee=none")
    link = page.locator(f"a.item-link[href^='/drafts/{target}']")
    link.focus()
    with page.expect_navigation():
        page.keyboard.press("m")
    assert server.draft(target).assignee_id is not None
    assert "1 message assigné." in page.inner_text(".flash")
    page.context.close()


def _dm(psid: str, mid: str, text: str) -> bytes:
    """A Messenger DM from `psid` to the page 1111, as Meta signs and sends it."""
    item = {
        "sender": {"id": psid},
        "recipient": {"id": "1111"},
        "timestamp": int(time.time() * 1000),
        "message": {"mid": mid, "text": text},
    }
    return json.dumps({"object": "page", "entry": [{"id": "1111", "messaging": [item]}]}).encode()


def test_the_conversation_shows_our_sent_reply_between_the_customers_two_dms(
    tmp_path: Path, browser: Browser
) -> None:
    """A customer's DM, our reply approved in the page and sent by the server's own sender to the
    fake Graph API, then the customer's second DM: its page shows all three, in order, with who
    sent ours and when, in the viewer's zone."""
    from tests.fakes.platforms import FakePlatforms

    with (
        FakePlatforms() as fake,
        running_server(
            tmp_path,
            RELAIS_OUTBOX_IN_PROCESS="true",
            RELAIS_META_GRAPH_URL=fake.url + fake.GRAPH_PREFIX,
            RELAIS_META_ACCESS_TOKEN="page-token",
            RELAIS_TIMEZONE="Europe/Paris",
        ) as srv,
    ):
        body = _dm("8080", "m.first", "Bonjour, ma commande 12345 n'est pas arrivée.")
        assert post(srv.url + "/webhooks/meta", body, meta_headers(body)) == 200
        context = browser.new_context(viewport=DESKTOP, locale="fr-FR")
        page = context.new_page()
        page.set_default_timeout(10_000)
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(srv.url + "/login")
        page.fill("input[name=username]", "camille")
        page.fill("input[name=password]", PASSWORD)
        page.press("input[name=password]", "Enter")
        page.wait_for_url(srv.url + "/")

        first = srv.draft_of("m.first")
        page.goto(f"{srv.url}/drafts/{first}")
        reply = "Bonjour, nous regardons la commande 12345 tout de suite."
        page.keyboard.press("e")
        page.keyboard.press("Control+a")
        page.keyboard.type(reply)
        page.keyboard.press("Control+Enter")
        page.wait_for_url(lambda url: f"/drafts/{first}" not in url)
        deadline = time.time() + 20
        while srv.draft(first).status != "sent":
            assert time.time() < deadline, f"not sent: {srv.draft(first).status}"
            time.sleep(0.1)
        assert [c["json"]["message"]["text"] for c in fake.calls if c["path"].endswith("/1111/messages")] == [
            reply
        ]

        body = _dm("8080", "m.second", "Merci ! Et elle arrive quand ?")
        assert post(srv.url + "/webhooks/meta", body, meta_headers(body)) == 200
        page.goto(f"{srv.url}/drafts/{srv.draft_of('m.second')}")
        entries = page.locator(".timeline > li")
        assert entries.count() == 3
        sides = [entries.nth(i).get_attribute("data-side") for i in range(3)]
        assert sides == ["customer", "brand", "customer"]
        assert "commande 12345 n'est pas arrivée" in entries.nth(0).inner_text()
        ours = entries.nth(1).inner_text()
        assert reply in ours and "camille (équipe) · envoyé" in ours
        sent_at = srv.draft(first).sent_at
        assert sent_at is not None
        paris = sent_at.astimezone(zoneinfo.ZoneInfo("Europe/Paris")).strftime("%H:%M")
        assert paris in ours  # the viewer's zone, not UTC
        last = entries.nth(2)
        assert "Et elle arrive quand ?" in last.inner_text() and last.get_attribute("aria-current") == "true"
        assert not dialogs
        context.close()


def test_a_saved_answer_picked_in_the_editor_is_sent_and_learned(session: Session, server: Server) -> None:
    from app.answers import service as answers
    from app.models import AnswerUse

    engine = db.make_engine(server.settings)
    try:
        with db.make_sessionmaker(engine)() as s:
            answer = answers.save(
                s,
                server.settings,
                answer=None,
                values={
                    "title": "Horaires de la boutique",
                    "body": "Bonjour {{ first_name }}, nous sommes ouverts du mardi au samedi, 10 h - 19 h",
                    "language": "fr",
                    "examples": ["Quels sont vos horaires ?"],
                },
                user_id=None,
            )
            answer_id = answer.id
            s.commit()
    finally:
        engine.dispose()
    asked = "Le rayon bricolage de Lyon est accessible pendant le pont du 15 août ?"
    _deliver(server, "7990_1", asked, "87990")
    target = server.draft_of("7990_1")
    page = session.page
    page.goto(f"{server.url}/drafts/{target}")
    page.select_option("#answer-picker", str(answer_id))
    assert page.input_value("#editor").startswith("Bonjour Inès, nous sommes ouverts du mardi au")
    assert page.input_value("#answer-id") == str(answer_id)
    shoot(page, "message-saved-answer")
    with page.expect_navigation():
        page.click("#approve")
    approved = server.draft(target)
    assert (
        approved.status == "approved" and approved.source_kind == "answer" and approved.source_id == answer_id
    )
    engine = db.make_engine(server.settings)
    try:
        with db.make_sessionmaker(engine)() as s:
            assert s.scalars(select(AnswerUse.message_text)).all() == [asked]
    finally:
        engine.dispose()
