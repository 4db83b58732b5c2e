"""The context pass, on SQLite and PostgreSQL, against a fake Graph API on loopback: a Messenger
DM gets its sender's name (once per sender), a failed or slow look-up leaves no name and no error,
an order number given earlier in the conversation is not asked again, and a message too short to
tell its language takes its conversation's, else its account's."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from app import db
from app.drafts.context import REFINE, ContextPass
from app.models import Draft, DraftEvent, Message, utcnow
from classifier import CATEGORIES, TriageModel
from classifier.refine import RefineHead
from tests.conftest import deliver, meta_headers, platform_client
from tests.fakes.platforms import FakePlatforms


@pytest.fixture
def app_client(database_url: str, fake: FakePlatforms) -> Iterator[TestClient]:
    yield from platform_client(
        database_url,
        fake,
        meta_access_token="page-token-123",
        profile_lookup_timeout_s=0.5,
        account_languages={"meta:2222": "en"},
    )


def dm(client: TestClient, mid: str, text: str, *, psid: str = "24000001", page: str = "1111") -> None:
    body = json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": page,
                    "time": int(time.time() * 1000),
                    "messaging": [
                        {
                            "sender": {"id": psid},
                            "recipient": {"id": page},
                            "timestamp": int(time.time() * 1000),
                            "message": {"mid": mid, "text": text},
                        }
                    ],
                }
            ],
        }
    ).encode()
    r = client.post("/webhooks/meta", content=body, headers=meta_headers(body))
    assert r.status_code == 200, r.text


def passed(client: TestClient) -> ContextPass:
    """Run the pass until nothing is marked (as its thread would)."""
    context = ContextPass(client.app.state.settings, client.app.state.sessions, client.app.state.drafter)
    try:
        while context.run_once():
            pass
    finally:
        context.client.close()
    return context


def stored(client: TestClient, external_id: str) -> tuple[Message, Draft, list[str]]:
    with db.transaction(client.app.state.sessions) as s:
        m = s.scalar(select(Message).where(Message.external_id == external_id))
        assert m is not None
        d = s.scalar(select(Draft).where(Draft.message_id == m.id))
        assert d is not None
        events = list(s.scalars(select(DraftEvent.action).where(DraftEvent.draft_id == d.id)))
        s.expunge_all()
        return m, d, events


def profile_calls(fake: FakePlatforms, psid: str) -> list[dict[str, Any]]:
    return [c for c in fake.calls if c["method"] == "GET" and c["path"].startswith(f"/v21.0/{psid}?")]


def test_a_messenger_dm_gets_its_senders_name_once(app_client: TestClient, fake: FakePlatforms) -> None:
    fake.script(200, {"first_name": "Camille", "last_name": "Martin", "id": "24000001"}, match="/24000001")
    dm(app_client, "m_ctx_1", "Bonjour, ma commande 45907 n'est jamais arrivée")
    m, d, _ = stored(app_client, "m_ctx_1")
    assert m.author_name is None and d.text.startswith("Bonjour,"), d.text  # intake: no name, no "Bonjour ,"
    passed(app_client)
    m, d, events = stored(app_client, "m_ctx_1")
    assert m.author_name == "Camille Martin"
    assert d.text.startswith("Bonjour Camille,") and "45907" in d.text, d.text
    assert d.version == 2 and events == ["completed"]
    [call] = profile_calls(fake, "24000001")
    assert "fields=first_name%2Clast_name" in call["path"]
    assert call["headers"]["authorization"] == "Bearer page-token-123"
    # the sender's next message: the name is known, the platform is not asked again
    dm(app_client, "m_ctx_2", "Toujours rien reçu, vous pouvez regarder ?")
    passed(app_client)
    m, d, _ = stored(app_client, "m_ctx_2")
    assert m.author_name == "Camille Martin" and "Camille" in d.text, d.text
    assert len(profile_calls(fake, "24000001")) == 1


@pytest.mark.parametrize("failure", ["error", "timeout", "garbage"])
def test_a_failed_look_up_means_no_name_never_an_error(
    app_client: TestClient, fake: FakePlatforms, failure: str
) -> None:
    if failure == "error":
        fake.script(400, {"error": {"code": 100, "message": "no such user"}}, match="/24000002")
    elif failure == "timeout":
        fake.delay(2.0, match="/24000002")
    else:
        fake.script(200, "<html>oops</html>", match="/24000002")
    dm(app_client, "m_ctx_3", "Bonjour, ma commande 45907 n'est jamais arrivée", psid="24000002")
    before = stored(app_client, "m_ctx_3")[1].text
    started = time.monotonic()
    passed(app_client)
    assert time.monotonic() - started < 1.8  # the look-up's own timeout, not the platform's delay
    m, d, events = stored(app_client, "m_ctx_3")
    assert m.author_name is None and m.context_due == 0
    assert d.text == before and d.text.startswith("Bonjour,") and d.version == 1 and events == [], d.text


def test_an_order_number_given_earlier_is_not_asked_again(app_client: TestClient) -> None:
    deliver(app_client, "8001_1", "Ma commande 45907 devait arriver mardi")
    deliver(app_client, "8001_2", "Toujours rien, c'est inadmissible ! Personne ne répond")
    m, d, _ = stored(app_client, "8001_2")
    # the intake renders a returning customer's draft in its conversation already
    assert "45907" in d.text and "numéro de commande" not in d.text, d.text
    passed(app_client)
    m, d, events = stored(app_client, "8001_2")
    assert "45907" in d.text and "numéro de commande" not in d.text, d.text
    assert events == []  # the pass found nothing to complete: the intake had it all
    # another customer's order number in the same thread is not theirs
    deliver(
        app_client,
        "8001_3",
        "Et moi toujours rien non plus, c'est honteux !",
        author="6666",
        name="Jules Petit",
    )
    passed(app_client)
    _, d, _ = stored(app_client, "8001_3")
    assert "45907" not in d.text, d.text


def test_a_short_message_takes_its_conversations_then_its_accounts_language(app_client: TestClient) -> None:
    deliver(app_client, "8002_1", "Bonjour, est-ce que vous livrez le dimanche dans le quartier ?")
    deliver(app_client, "8002_2", "Ok")  # same post, same author: French
    m, d, _ = stored(app_client, "8002_2")
    assert m.language == "fr" and m.language_guessed  # the account's (RELAIS_LANGUAGE) at intake
    # an English page (RELAIS_ACCOUNT_LANGUAGES): a lone emoji is English there
    deliver(app_client, "9002_1", "Premier ! 😎", page="2222")
    m, d, _ = stored(app_client, "9002_1")
    assert m.language == "en" and d.language == "en"
    # an English conversation on the French page: its short reply is English once the pass has read it
    deliver(app_client, "8003_1", "Hello, do you ship to Canada and how long does it take?", author="7777")
    deliver(app_client, "8003_2", "Ok", author="7777")
    passed(app_client)
    m, d, events = stored(app_client, "8003_2")
    assert m.language == "en" and d.language == "en" and events == ["completed"]
    m, d, _ = stored(app_client, "8002_2")
    assert m.language == "fr" and d.language == "fr"


# -- the refine pass -------------------------------------------------------------------------------


def refining(client: TestClient, category: str) -> ContextPass:
    """A pass whose model's refining head always says `category`, with the real encoder: the
    pipeline is the shipped one, the head's weights are zero but for `category`'s intercept, and
    the pipeline's opinion weighs nothing in the pooling."""
    holder = client.app.state.holder
    model = holder.model
    assert model is not None and model.head is not None  # the shipped model refines
    intercept = np.full(len(CATEGORIES), -4.0, dtype=np.float32)
    intercept[CATEGORIES.index(category)] = 4.0
    head = RefineHead(np.zeros_like(model.head.coef), intercept, fast_weight=0.0, complaint_bias=0.0)
    holder._model = TriageModel(model.pipeline, model.metadata, head)
    return ContextPass(
        client.app.state.settings, client.app.state.sessions, client.app.state.drafter, holder=holder
    )


def run(context: ContextPass) -> None:
    try:
        while context.run_once():
            pass
    finally:
        context.client.close()


def test_the_refined_category_moves_the_draft_and_re_suggests_it(app_client: TestClient) -> None:
    deliver(app_client, "8101_1", "Ma commande 45907 n'est jamais arrivée, c'est inadmissible !")
    m, d, _ = stored(app_client, "8101_1")
    assert m.category == "complaint" and d.priority == 0 and m.context_due & REFINE
    before = d.text
    run(refining(app_client, "suggestion"))
    m, d, events = stored(app_client, "8101_1")
    assert m.context_due == 0
    assert m.category == m.predicted_category == d.category == "suggestion"
    assert d.priority == 2 and not d.to_sort and m.confidence is not None and m.confidence > 0.9
    assert d.text != before and d.version == 2 and events == ["completed"], d.text
    assert m.scores is not None and max(m.scores, key=m.scores.__getitem__) == "suggestion"


def test_refining_to_the_same_category_keeps_the_draft(app_client: TestClient) -> None:
    deliver(app_client, "8102_1", "Ma commande 45907 n'est jamais arrivée, c'est inadmissible !")
    _, before, _ = stored(app_client, "8102_1")
    run(refining(app_client, "complaint"))
    m, d, events = stored(app_client, "8102_1")
    assert m.category == "complaint" and m.confidence is not None and m.confidence > 0.9  # the pooled one
    assert d.text == before.text and d.version == 1 and events == []


@pytest.mark.parametrize("touched", ["relabelled", "claimed", "approved"])
def test_what_a_reviewer_touched_keeps_its_category(app_client: TestClient, touched: str) -> None:
    deliver(app_client, "8103_1", "Ma commande 45907 n'est jamais arrivée, c'est inadmissible !")
    with db.transaction(app_client.app.state.sessions) as s:
        m = s.scalar(select(Message).where(Message.external_id == "8103_1"))
        assert m is not None
        d = s.scalar(select(Draft).where(Draft.message_id == m.id))
        assert d is not None
        if touched == "relabelled":  # as review.service.relabel leaves it
            m.category = d.category = "question"
        elif touched == "claimed":
            d.claimed_by, d.claimed_until = 1, utcnow() + dt.timedelta(minutes=5)
        else:
            d.status = "approved"
    run(refining(app_client, "suggestion"))
    m, d, _ = stored(app_client, "8103_1")
    assert m.context_due == 0 and m.category == ("question" if touched == "relabelled" else "complaint")
    assert d.category == m.category and m.predicted_category == "complaint"


def test_no_refine_mark_when_refining_is_off(database_url: str, fake: FakePlatforms) -> None:
    for client in platform_client(database_url, fake, refine=False):
        deliver(client, "8104_1", "Ma commande 45907 n'est jamais arrivée, c'est inadmissible !")
        m, _, _ = stored(client, "8104_1")
        assert m.category == "complaint" and not m.context_due & REFINE


def test_the_shipped_head_refines_a_message_with_the_real_encoder(app_client: TestClient) -> None:
    deliver(app_client, "8105_1", "Vous pourriez ajouter le paiement en plusieurs fois, ce serait top")
    context = ContextPass(
        app_client.app.state.settings,
        app_client.app.state.sessions,
        app_client.app.state.drafter,
        holder=app_client.app.state.holder,
    )
    run(context)
    m, _, _ = stored(app_client, "8105_1")
    assert m.context_due == 0 and m.category == "suggestion" and m.scores is not None
    assert abs(sum(m.scores.values()) - 1.0) < 1e-3


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="thread niceness is Linux's")
def test_the_encoder_runs_at_the_lowest_priority_and_the_writes_at_the_normal_one(
    app_client: TestClient,
) -> None:
    """A thread at the lowest priority never holds SQLite's write lock: it is descheduled under
    load while a reviewer's approve waits for it."""
    deliver(app_client, "8108_1", "Ma commande 45907 n'est jamais arrivée, c'est inadmissible !")
    context = refining(app_client, "suggestion")
    holder = context.holder
    assert holder is not None
    seen: dict[str, list[int]] = {"encoding": [], "commit": []}

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    real_refine = holder.refine

    def refine(texts: Sequence[str]) -> Any:
        seen["encoding"].append(niceness())
        return real_refine(texts)

    def before_commit(session: Any) -> None:
        if threading.current_thread().name == ContextPass.name:
            seen["commit"].append(niceness())

    holder.refine = refine  # type: ignore[method-assign]
    event.listen(app_client.app.state.sessions, "before_commit", before_commit)
    base = niceness()
    try:
        context.start_thread()  # as a server runs it
        deadline = time.monotonic() + 120
        while stored(app_client, "8108_1")[0].category != "suggestion" and time.monotonic() < deadline:
            time.sleep(0.05)
        context.stop()
    finally:
        event.remove(app_client.app.state.sessions, "before_commit", before_commit)
    assert seen["encoding"] == [19]
    assert seen["commit"] and set(seen["commit"]) == {base}, seen
    m, _, _ = stored(app_client, "8108_1")
    assert m.category == "suggestion" and m.context_due == 0


def test_the_pass_waits_while_the_intake_is_busy_and_loses_no_mark(app_client: TestClient) -> None:
    for i in range(3):
        deliver(app_client, f"8106_{i}", f"Ma commande 4590{i} n'est jamais arrivée, c'est inadmissible !")
    state = app_client.app.state
    waiting = ContextPass(
        state.settings, state.sessions, state.drafter, holder=state.holder, busy=lambda: True
    )
    assert waiting.run_once() == 0
    waiting.client.close()
    assert all(stored(app_client, f"8106_{i}")[0].context_due & REFINE for i in range(3))
    # deliveries arrive after the first message of a round: the others get their marks back
    calls = iter([False, False, True])
    context = ContextPass(
        state.settings, state.sessions, state.drafter, holder=state.holder, busy=lambda: next(calls, True)
    )
    assert context.run_once() == 3
    context.client.close()
    dues = [stored(app_client, f"8106_{i}")[0].context_due for i in range(3)]
    assert dues[0] == 0 and all(d & REFINE for d in dues[1:]), dues
    run(ContextPass(state.settings, state.sessions, state.drafter, holder=state.holder))
    assert all(stored(app_client, f"8106_{i}")[0].context_due == 0 for i in range(3))


def test_a_message_left_to_sort_and_sure_once_refined_gets_its_draft(app_client: TestClient) -> None:
    deliver(app_client, "8107_1", "Ma commande 45907 n'est jamais arrivée, c'est inadmissible !")
    with db.transaction(app_client.app.state.sessions) as s:  # as intake leaves an unsure message
        m = s.scalar(select(Message).where(Message.external_id == "8107_1"))
        assert m is not None
        d = s.scalar(select(Draft).where(Draft.message_id == m.id))
        assert d is not None
        m.to_sort = d.to_sort = True
        d.text, d.template_id, d.source_kind = "", None, None
    run(refining(app_client, "complaint"))  # same category, now sure
    m, d, events = stored(app_client, "8107_1")
    assert m.category == "complaint" and not m.to_sort and not d.to_sort
    assert d.text and "45907" in d.text and events == ["completed"], d.text
    # and the other way: unsure once refined, it goes to *to sort* and keeps no template text
    deliver(app_client, "8107_2", "Ma commande 45908 n'est jamais arrivée, c'est inadmissible !")
    holder = app_client.app.state.holder
    context = refining(app_client, "complaint")
    model = holder.model
    assert model is not None and model.head is not None
    flat = np.zeros(len(CATEGORIES), dtype=np.float32)  # every class as likely: 0.25 < threshold
    holder._model = TriageModel(
        model.pipeline,
        model.metadata,
        RefineHead(model.head.coef * 0, flat, fast_weight=0.0, complaint_bias=0.0),
    )
    run(context)
    m, d, _ = stored(app_client, "8107_2")
    assert m.to_sort and d.to_sort and m.confidence is not None and m.confidence < 0.3
    assert d.source_kind != "template" and (d.text == "" or d.source_kind in ("answer", "past_reply")), d.text
