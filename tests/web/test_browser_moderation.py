"""The moderation buttons in Debian's Chromium (French browser), against a real uvicorn server
(a server of this module's own: the actions change the queue): Masquer then Réafficher, Spam then
Rouvrir, Terminé, sans réponse, and Supprimer, which the browser refuses until the box saying it is
final is ticked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from app import db
from app.models import OutboxItem, User
from app.users import service as users
from tests.web.conftest import PASSWORD
from tests.web.test_browser import DESKTOP, PHONE, Server, browser, server

pytestmark = pytest.mark.browser
__all__ = ["browser", "server"]  # fixtures used here

from playwright.sync_api import Browser, Page, expect  # noqa: E402


def actions(server: Server) -> list[tuple[str, str]]:
    engine = db.make_engine(server.settings)
    try:
        with db.make_sessionmaker(engine)() as s:
            return [(o.action, o.status) for o in s.scalars(select(OutboxItem).order_by(OutboxItem.id))]
    finally:
        engine.dispose()


@pytest.fixture
def admin_page(server: Server, browser: Browser) -> Iterator[Page]:
    engine = db.make_engine(server.settings)
    with db.make_sessionmaker(engine)() as s:
        if s.scalar(select(User.id).where(User.name == "ada")) is None:
            users.create(s, name="ada", role="admin", password=PASSWORD)
            s.commit()
    engine.dispose()
    context = browser.new_context(viewport=DESKTOP, locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(server.url + "/login")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/")
    try:
        yield page
    finally:
        context.close()


def test_hide_then_show_again(server: Server, admin_page: Page) -> None:
    page, did = admin_page, server.draft_of("7001_2")
    page.goto(f"{server.url}/drafts/{did}")
    page.get_by_role("button", name="Masquer").click()
    expect(page.locator(".flash-ok")).to_have_text("Le commentaire est en cours de masquage.")
    expect(page.locator("#moderation-pending")).to_contain_text("masquage")
    page.get_by_role("button", name="Réafficher").click()
    expect(page.locator(".flash-ok")).to_have_text("Le commentaire est en cours de réaffichage.")
    assert actions(server)[-2:] == [("hide", "queued"), ("unhide", "queued")]


def test_spam_then_reopen_and_done_without_a_reply(server: Server, admin_page: Page) -> None:
    page = admin_page
    spam, done = server.draft_of("7001_3"), server.draft_of("7001_4")
    page.goto(f"{server.url}/drafts/{spam}")
    page.get_by_role("button", name="Spam").click()
    expect(page.locator(".flash-ok")).to_contain_text("Clos comme spam")
    assert (server.draft(spam).status, server.draft(spam).reason) == ("closed", "spam")
    page.goto(f"{server.url}/drafts/{spam}")
    page.get_by_role("button", name="Rouvrir").click()
    expect(page.locator(".flash-ok")).to_have_text("De retour dans la file.")
    assert server.draft(spam).status == "pending"
    page.goto(f"{server.url}/drafts/{done}")
    page.get_by_role("button", name="Terminé, sans réponse").click()
    expect(page.locator(".flash-ok")).to_contain_text("rien ne sera envoyé")
    assert (server.draft(done).status, server.draft(done).reason) == ("closed", "no_reply")


def test_delete_asks_for_its_confirmation_on_a_phone(server: Server, admin_page: Page) -> None:
    page, did = admin_page, server.draft_of("7001_1")
    page.set_viewport_size(PHONE)
    page.goto(f"{server.url}/drafts/{did}")
    expect(page.locator("#delete-form")).to_contain_text("La suppression est définitive")
    before = actions(server)
    page.get_by_role("button", name="Supprimer").click()  # the box is not ticked: the browser refuses
    assert page.url.endswith(f"/drafts/{did}") and actions(server) == before
    page.check("#confirm-delete")
    page.get_by_role("button", name="Supprimer").click()
    expect(page.locator(".flash-ok")).to_have_text("Le commentaire est en cours de suppression.")
    assert actions(server)[-1] == ("delete", "queued")
    assert (server.draft(did).status, server.draft(did).reason) == ("closed", "deleted")
    expect(page.get_by_role("button", name="Supprimer")).to_have_count(0)
