"""Intake in its own process (the default of `relais serve`): the same guarantees as in-process,
and a dead child costs 503s (the platforms retry), never a lost or duplicated message."""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from app import platforms
from app.main import create_app
from app.models import Draft, Message
from app.platforms.types import AdapterContext, Parsed
from tests.conftest import fb_comment, make_settings, meta_headers


def parse_meta(body: bytes) -> Parsed:
    """The records the webhook endpoint hands to the intake for a Meta body."""
    return platforms.REGISTRY["meta"].parse({}, json.loads(body), AdapterContext())


def counts(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    with Session(engine) as s:
        out = (
            s.scalar(select(func.count()).select_from(Message)) or 0,
            s.scalar(select(func.count()).select_from(Draft)) or 0,
        )
    engine.dispose()
    return out


def test_child_process_stores_classifies_and_deduplicates(database_url: str) -> None:
    settings = make_settings(database_url, intake_process=True)
    with TestClient(create_app(settings)) as client:
        assert client.app.state.intake._process.is_alive()
        bodies = [fb_comment(f"ip_{i}", f"Ma commande {i} n'est pas arrivée") for i in range(20)]
        with ThreadPoolExecutor(8) as ex:
            results = list(
                ex.map(
                    lambda b: client.post("/webhooks/meta", content=b, headers=meta_headers(b)),
                    bodies + bodies,
                )
            )
        assert all(r.status_code == 200 for r in results)
        assert sum(r.json()["stored"] for r in results) == 20
        assert sum(r.json()["duplicates"] for r in results) == 20
        bad = client.post("/webhooks/meta", content=bodies[0], headers={"X-Hub-Signature-256": "sha256=00"})
        assert bad.status_code == 401
    assert counts(database_url) == (20, 20)
    engine = create_engine(database_url)
    with Session(engine) as s:
        versions = set(s.scalars(select(Message.model_version)))
    engine.dispose()
    assert versions == {client.app.state.holder.version}


def test_a_killed_child_gives_503_then_a_new_child_takes_over(sqlite_url: str, tmp_path: Path) -> None:
    settings = make_settings(sqlite_url, intake_process=True)
    with TestClient(create_app(settings)) as client:
        intake = client.app.state.intake
        first = intake._process
        os.kill(first.pid, signal.SIGKILL)
        first.join(5)
        body = fb_comment("after_kill", "Bonjour, vous livrez en Corse ?")
        codes = []
        deadline = time.time() + 30
        while time.time() < deadline:
            r = client.post("/webhooks/meta", content=body, headers=meta_headers(body))
            codes.append(r.status_code)
            if r.status_code == 200:
                break
            assert r.status_code == 503 and r.headers.get("retry-after")
            time.sleep(0.2)
        assert codes[-1] == 200 and intake._process is not first and intake._process.is_alive()
    assert counts(sqlite_url) == (1, 1)


def test_database_down_in_the_child_is_503(pg_url: str) -> None:
    from tests.conftest import drop_pg_database

    settings = make_settings(pg_url, intake_process=True)
    with TestClient(create_app(settings)) as client:
        drop_pg_database(pg_url.rsplit("/", 1)[1])  # the database vanishes under both processes
        body = fb_comment("down", "hello")
        r = client.post("/webhooks/meta", content=body, headers=meta_headers(body))
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"
        assert r.headers.get("retry-after")


def test_a_stalled_child_holds_back_the_requests_not_their_copies(sqlite_url: str) -> None:
    """Back-pressure: while the child reads nothing, the web process keeps at most about
    BACKLOG_BYTES of frames for it (the requests wait with their bodies); nothing is lost."""
    import asyncio
    import hashlib
    import json

    from app.intake import Delivery
    from app.intake.process import BACKLOG_BYTES, ProcessIntake

    settings = make_settings(sqlite_url, intake_process=True)
    padding = "x" * 300_000
    bodies = []
    for i in range(40):  # 12 MB in all, three times the backlog
        payload = json.loads(fb_comment(f"big_{i}", f"Commande {i} pas arrivée"))
        payload["entry"][0]["changes"][0]["value"]["attachment_note"] = padding
        bodies.append(json.dumps(payload).encode())

    async def scenario() -> tuple[int, list[int]]:
        client = ProcessIntake(settings)
        await client.start()
        child = client._process
        os.kill(child.pid, signal.SIGSTOP)
        try:
            tasks = [
                asyncio.create_task(
                    client.submit(Delivery("meta", hashlib.sha256(b).hexdigest(), None, {}, b, parse_meta(b)))
                )
                for b in bodies
            ]
            await asyncio.sleep(1.0)
            held = client._backlog()
            assert not any(t.done() for t in tasks)
        finally:
            os.kill(child.pid, signal.SIGCONT)
        results = await asyncio.wait_for(asyncio.gather(*tasks), 60)
        await client.stop()
        return held, [r.stored for r in results]

    held, stored = asyncio.run(scenario())
    assert held <= BACKLOG_BYTES + len(bodies[0]) + 1024
    assert stored == [1] * 40
    assert counts(sqlite_url) == (40, 40)


def test_workers_share_one_intake_process_which_comes_back_after_a_crash(sqlite_url: str) -> None:
    """`relais serve --workers N`: every worker's client talks to the one IntakeServer process;
    duplicates sent through different workers are stored once; if that process dies, the
    workers answer 503 until it is back, then connect to it again."""
    import asyncio
    import hashlib

    from app.intake import DatabaseUnavailable, Delivery
    from app.intake.process import IntakeServer, ProcessIntake

    base = make_settings(sqlite_url, intake_process=True)
    server = IntakeServer(base).start()
    settings = base.model_copy(update={"intake_socket": server.path})

    def delivery(body: bytes) -> Delivery:
        return Delivery("meta", hashlib.sha256(body).hexdigest(), None, {}, body, parse_meta(body))

    async def scenario() -> tuple[list[int], list[str], int]:
        workers = [ProcessIntake(settings), ProcessIntake(settings)]
        for w in workers:
            await w.start()
        assert all(w._process is None for w in workers)  # no child of their own
        bodies = [fb_comment(f"shared_{i}", f"Ma commande {i} n'est pas arrivée") for i in range(20)]
        results = await asyncio.gather(
            *(workers[k % 2].submit(delivery(b)) for k, b in enumerate(bodies + bodies))
        )
        stored = [r.stored for r in results]
        first = server._process
        os.kill(first.pid, signal.SIGKILL)
        outcomes = []
        for i in range(200):  # 503 while it is gone, then the new process answers
            try:
                await workers[i % 2].submit(delivery(fb_comment(f"after_{i}", "Bonjour")))
                outcomes.append("ok")
                if outcomes.count("ok") >= 2:
                    break
            except DatabaseUnavailable:
                outcomes.append("503")
                await asyncio.sleep(0.1)
        for w in workers:
            await w.stop()
        return stored, outcomes, first.pid

    try:
        stored, outcomes, first_pid = asyncio.run(scenario())
        assert sum(stored) == 20
        assert outcomes[0] == "503" and outcomes[-2:] == ["ok", "ok"]
        assert server._process.pid != first_pid and server._process.is_alive()
    finally:
        server.stop()
    assert not server._process.is_alive() and not os.path.exists(server.path)
    assert counts(sqlite_url) == (22, 22)


def test_the_web_process_classifies_and_the_intake_process_uses_its_triage(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Each turn's deliveries are classified in the web process (one call); the intake process
    stores that triage instead of classifying again, and classifies itself when the web process
    could not (a failing model)."""
    from app.triage import ModelHolder
    from classifier import artifacts
    from tests.test_hot_reload import twin_models

    # the web process's model: the shipped one under another version name
    models, shipped, renamed = twin_models(tmp_path)
    artifacts.promote(models, renamed)
    settings = make_settings(sqlite_url, intake_process=True)
    with TestClient(create_app(settings)) as client:
        intake = client.app.state.intake
        assert client.app.state.holder.version == shipped
        intake.holder = ModelHolder(models, settings.confidence_threshold)
        bodies = [fb_comment(f"wc_{i}", f"Ma commande {i} n'est pas arrivée") for i in range(12)]
        with ThreadPoolExecutor(6) as ex:
            results = list(
                ex.map(lambda b: client.post("/webhooks/meta", content=b, headers=meta_headers(b)), bodies)
            )
        assert [r.status_code for r in results] == [200] * 12

        class Broken(ModelHolder):
            def classify(self, texts):  # type: ignore[no-untyped-def]
                raise RuntimeError("a broken model")

        intake.holder = Broken(models, settings.confidence_threshold)
        late = fb_comment("wc_late", "Vous pourriez ajouter le paiement en trois fois ?")
        assert client.post("/webhooks/meta", content=late, headers=meta_headers(late)).status_code == 200
        texts = [f"Ma commande {i} n'est pas arrivée" for i in range(12)]
        texts.append("Vous pourriez ajouter le paiement en trois fois ?")
        expected = [t.category for t in client.app.state.holder.classify(texts)]
    engine = create_engine(sqlite_url)
    with Session(engine) as s:
        rows = dict(s.execute(select(Message.external_id, Message.model_version)).all())
        categories = dict(s.execute(select(Message.external_id, Message.category)).all())
    engine.dispose()
    assert shipped != renamed
    assert {v for k, v in rows.items() if k != "wc_late"} == {renamed}
    assert rows["wc_late"] == shipped
    # the same model under another name: the categories the intake process would give
    assert [categories[f"wc_{i}"] for i in range(12)] + [categories["wc_late"]] == expected


def test_workers_sharing_an_intake_process_leave_classification_to_it(sqlite_url: str) -> None:
    """With `--workers N` (a shared intake socket) each worker's turns are small: the shared
    intake process classifies; a web process with a child of its own classifies itself."""
    from app.intake.process import ProcessIntake
    from app.triage import ModelHolder

    settings = make_settings(sqlite_url, intake_process=True)
    holder = ModelHolder(settings.models_dir, settings.confidence_threshold)
    assert ProcessIntake(settings, holder).holder is holder
    shared = settings.model_copy(update={"intake_socket": "/run/relais/intake.sock"})
    assert ProcessIntake(shared, holder).holder is None


def test_the_web_process_drafts_and_an_edited_template_reaches_the_next_drafts(sqlite_url: str) -> None:
    """With a child of its own, the web process renders each draft from its triage (the frame
    carries it; the child writes it as given) with the same templates and text as the intake
    process would, and a template edited in the database reaches the next deliveries' drafts."""
    import json

    from sqlalchemy import update

    from app import platforms
    from app.drafts.service import Drafter
    from app.intake import Delivery
    from app.models import ReplyTemplate
    from app.platforms.types import AdapterContext

    settings = make_settings(sqlite_url, intake_process=True)
    complaint = "Ma commande n'est pas arrivée, c'est inadmissible, je suis très déçue"
    with TestClient(create_app(settings)) as client:
        source = client.app.state.intake.templates
        assert source is not None
        deadline = time.monotonic() + 10
        while source.current() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert source.current() is not None
        body = fb_comment("wd_1", complaint, name="Camille Martin")
        assert client.post("/webhooks/meta", content=body, headers=meta_headers(body)).json()["stored"] == 1
        engine = create_engine(sqlite_url)
        with Session(engine) as s:
            draft, message = s.execute(
                select(Draft, Message).join(Message, Message.id == Draft.message_id)
            ).one()
            templates = Drafter(settings).templates(s)
        assert message.category == "complaint"
        expected = Drafter(settings).suggest_for(
            templates, message, category=message.category, language=message.language, to_sort=message.to_sort
        )
        assert (
            draft.text,
            draft.template_id,
            (draft.source_kind, draft.source_id, draft.source_score),
        ) == expected
        assert draft.text.startswith("Bonjour Camille") and draft.template_id is not None
        # what the web process puts in the frame for that delivery
        intake = client.app.state.intake
        parsed = platforms.REGISTRY["meta"].parse({}, json.loads(body), AdapterContext())
        sent = Delivery("meta", "0" * 64, None, {}, body, parsed)
        [[proposal]] = intake._propose([sent])
        assert proposal.draft == expected

        with Session(engine) as s, s.begin():
            s.execute(
                update(ReplyTemplate)
                .where(ReplyTemplate.id == draft.template_id)
                .values(body="Nouvelle version pour {{ first_name }}", version=ReplyTemplate.version + 1)
            )
        time.sleep(1.6)  # the web process reads them every 0.5 s, the child caches them for 1 s
        body = fb_comment("wd_2", complaint, name="Camille Martin")
        assert client.post("/webhooks/meta", content=body, headers=meta_headers(body)).json()["stored"] == 1
        with Session(engine) as s:
            texts = s.scalars(select(Draft.text).order_by(Draft.id)).all()
        engine.dispose()
    assert texts[1] == "Nouvelle version pour Camille"


def test_the_intake_writes_the_drafts_it_is_given(sqlite_url: str) -> None:
    """Proposals rendered by the web process are written as given; a delivery without them is
    drafted by the intake itself."""
    import hashlib
    import json

    from app import platforms
    from app.drafts.service import Drafter
    from app.intake import Delivery, Proposal
    from app.intake.batch import prepare_batch
    from app.platforms.types import AdapterContext
    from app.reply_templates.rendering import TemplateRow
    from app.triage import ModelHolder

    settings = make_settings(sqlite_url)
    holder = ModelHolder(settings.models_dir, settings.confidence_threshold)
    deliveries, proposals = [], []
    for i, given in enumerate([[("drafted by the web process", 7, ("template", 7, 0.0))], None]):
        body = fb_comment(f"given_{i}", "Ma commande n'est pas arrivée, c'est inadmissible")
        parsed = platforms.REGISTRY["meta"].parse({}, json.loads(body), AdapterContext())
        triages = holder.classify([m.text for m in parsed.messages])
        deliveries.append(Delivery("meta", hashlib.sha256(body).hexdigest(), None, {}, body, parsed))
        drafts = given or [None] * len(triages)
        proposals.append([Proposal(t, d) for t, d in zip(triages, drafts, strict=True)])
    template = TemplateRow(3, 1, "complaint-fr", "complaint", "fr", "any", "any", "Désolés {{ first_name }}")
    prepared = prepare_batch(
        deliveries, holder=holder, drafter=Drafter(settings), templates=[template], proposals=proposals
    )
    holder.stop()
    rows = [(r["text"], r["template_id"]) for r in prepared.draft_rows]
    assert rows == [("drafted by the web process", 7), ("Désolés Camille", 3)]
