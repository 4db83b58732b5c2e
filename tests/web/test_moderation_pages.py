"""The message page's moderation forms, on SQLite and PostgreSQL: in French by default, CSRF on
every one, Spam / Terminé, sans réponse / Rouvrir / Masquer / Réafficher for reviewers, Supprimer
for admins only and only once the box saying it is final is ticked."""

from __future__ import annotations

import json
import re
import time

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.models import Draft, OutboxItem
from tests.conftest import meta_headers
from tests.web.conftest import assert_safe_page, csrf, db, feed, login, make_user


def _draft(client: TestClient) -> Draft:
    with db(client) as s:
        draft = s.scalar(select(Draft))
        assert draft is not None
        s.expunge(draft)
        return draft


def _actions(client: TestClient) -> list[tuple[str, str]]:
    with db(client) as s:
        return [(o.action, o.status) for o in s.scalars(select(OutboxItem).order_by(OutboxItem.id))]


def test_a_reviewer_sees_the_moderation_buttons_in_french(client: TestClient) -> None:
    make_user(client)
    login(client)
    feed(client, "5_1", "Gagnez un iPhone ici")
    d = _draft(client)
    r = client.get(f"/drafts/{d.id}")
    assert r.status_code == 200
    page = assert_safe_page(r.text)
    assert {f"/drafts/{d.id}/close", f"/drafts/{d.id}/hide"} <= {f["action"] for f in page.forms}
    for text in ("Modération", "Masquer", "Spam", "Terminé, sans réponse"):
        assert text in r.text
    assert "Supprimer" not in r.text and "/delete" not in r.text  # admins only


def test_spam_then_reopen_then_show_again(client: TestClient) -> None:
    make_user(client)
    login(client)
    feed(client, "5_2", "Promo crypto")
    d = _draft(client)
    token = csrf(client, f"/drafts/{d.id}")
    assert (
        client.post(f"/drafts/{d.id}/close", data={"version": d.version, "reason": "spam"}).status_code == 403
    )  # no CSRF token
    r = client.post(
        f"/drafts/{d.id}/close",
        data={"csrf_token": token, "version": d.version, "reason": "spam"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    closed = _draft(client)
    assert (closed.status, closed.reason) == ("closed", "spam") and _actions(client) == [("hide", "queued")]
    page = client.get(f"/drafts/{d.id}").text
    assert "Clos comme spam : le commentaire est en cours de masquage." in page
    assert "Rouvrir" in page and "Réafficher" in page and "Motif : spam" in page
    assert "En cours d’envoi à Facebook : masquage." in page
    r = client.post(
        f"/drafts/{d.id}/reopen", data={"csrf_token": token, "version": closed.version}, follow_redirects=True
    )
    assert "De retour dans la file." in r.text and _draft(client).status == "pending"
    assert _actions(client) == [("hide", "queued"), ("unhide", "queued")]


def test_done_without_a_reply_sends_nothing_and_goes_to_the_next_draft(client: TestClient) -> None:
    make_user(client)
    login(client)
    feed(client, "5_3", "Merci beaucoup !")
    feed(client, "5_4", "Vous livrez le dimanche ?")
    with db(client) as s:
        first, second = s.scalars(select(Draft).order_by(Draft.id)).all()
        ids = (first.id, second.id, first.version)
    token = csrf(client, f"/drafts/{ids[0]}")
    r = client.post(
        f"/drafts/{ids[0]}/close",
        data={"csrf_token": token, "version": ids[2], "reason": "no_reply"},
        follow_redirects=False,
    )
    assert r.headers["location"].startswith(f"/drafts/{ids[1]}")
    assert _actions(client) == []
    stale = client.post(
        f"/drafts/{ids[0]}/close",
        data={"csrf_token": token, "version": ids[2], "reason": "no_reply"},
        follow_redirects=True,
    )
    assert "Pas fait" in stale.text


def test_delete_is_for_admins_and_only_once_confirmed(client: TestClient) -> None:
    make_user(client)
    make_user(client, "ada", "admin")
    feed(client, "5_5", "Insultes")
    d = _draft(client)
    login(client)
    token = csrf(client, f"/drafts/{d.id}")
    r = client.post(f"/drafts/{d.id}/delete", data={"csrf_token": token, "confirm": "yes"})
    assert r.status_code == 403 and _actions(client) == []
    client.cookies.clear()
    login(client, "ada")
    page = client.get(f"/drafts/{d.id}").text
    assert "Supprimer" in page and "La suppression est définitive" in page
    token = csrf(client, f"/drafts/{d.id}")
    r = client.post(f"/drafts/{d.id}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "Pas supprimé : cochez la case" in r.text and _actions(client) == []
    r = client.post(
        f"/drafts/{d.id}/delete", data={"csrf_token": token, "confirm": "yes"}, follow_redirects=True
    )
    assert "Le commentaire est en cours de suppression." in r.text
    assert _actions(client) == [("delete", "queued")]
    after = _draft(client)
    assert (after.status, after.reason) == ("closed", "deleted")
    page = client.get(f"/drafts/{d.id}").text
    assert f'action="/drafts/{d.id}/delete"' not in page and "Rouvrir" not in page


def _messenger_dm(client: TestClient) -> None:
    item = {
        "sender": {"id": "PSID55"},
        "recipient": {"id": "1111"},
        "timestamp": int(time.time() * 1000),
        "message": {"mid": "m_55", "text": "Bonjour, une question en privé"},
    }
    body = json.dumps({"object": "page", "entry": [{"id": "1111", "messaging": [item]}]}).encode()
    assert client.post("/webhooks/meta", content=body, headers=meta_headers(body)).status_code == 200


def test_a_message_that_cannot_be_hidden_has_no_hide_button_and_a_hide_is_refused(client: TestClient) -> None:
    make_user(client, "ada", "admin")
    login(client, "ada")
    _messenger_dm(client)
    d = _draft(client)
    page = assert_safe_page(client.get(f"/drafts/{d.id}").text)
    actions = {f["action"] for f in page.forms}
    assert f"/drafts/{d.id}/close" in actions  # spam and "no reply needed" still close it
    assert not {f"/drafts/{d.id}/hide", f"/drafts/{d.id}/unhide", f"/drafts/{d.id}/delete"} & actions
    token = csrf(client, f"/drafts/{d.id}")
    r = client.post(f"/drafts/{d.id}/hide", data={"csrf_token": token}, follow_redirects=True)
    assert "Pas fait\u00a0: le masquage n’est pas possible sur messenger." in r.text
    assert _actions(client) == []


def test_one_route_takes_the_moderations_and_only_those(client: TestClient) -> None:
    make_user(client)
    login(client)
    feed(client, "5_9", "Insultes")
    d = _draft(client)
    token = csrf(client, f"/drafts/{d.id}")
    for action in ("Hide", "bogus", "hide;"):
        r = client.post(f"/drafts/{d.id}/{action}", data={"csrf_token": token}, follow_redirects=False)
        assert r.status_code in (404, 405), (action, r.status_code)
    r = client.post(f"/drafts/{d.id}/delete", data={"csrf_token": token, "confirm": "yes"})
    assert r.status_code == 403 and "Seuls les admins peuvent supprimer un commentaire." in r.text
    r = client.post(f"/drafts/{d.id}/hide", data={"csrf_token": token}, follow_redirects=True)
    assert "Le commentaire est en cours de masquage." in r.text
    r = client.post(f"/drafts/{d.id}/unhide", data={"csrf_token": token}, follow_redirects=True)
    assert "Le commentaire est en cours de réaffichage." in r.text
    assert [a for a, _ in _actions(client)] == ["hide", "unhide"]


def test_the_queue_filters_and_marks_hidden_comments(client: TestClient) -> None:
    make_user(client)
    login(client)
    feed(client, "5_20", "Promo crypto")
    feed(client, "5_21", "Où est ma commande ?", author="5557")
    with db(client) as s:
        first, second = s.scalars(select(Draft).order_by(Draft.id)).all()
        s.add(
            OutboxItem(
                draft_id=first.id,
                action="hide",
                status="sent",
                platform="meta",
                account_id="1111",
                channel="facebook",
                target={},
                text="",
            )
        )
        s.commit()
        first_id, second_id = first.id, second.id
    page = client.get("/")
    assert "Masqués" in page.text and "seulement les commentaires masqués" in page.text
    cards = re.findall(r'href="/drafts/(\d+)[^"]*" data-nav="item">(.*?)</a>', page.text, re.S)
    marked = {int(i) for i, card in cards if 'class="chip chip-hidden">masqué<' in card}
    assert marked == {first_id}
    only = client.get("/?hidden=yes").text
    assert f'href="/drafts/{first_id}' in only and f'href="/drafts/{second_id}' not in only
    assert '<option value="yes" selected>' in only.split('name="hidden"')[1][:300]
    none = client.get("/?hidden=no").text
    assert f'href="/drafts/{second_id}' in none and f'href="/drafts/{first_id}' not in none
