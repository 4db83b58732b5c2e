"""How a batch is written: on PostgreSQL the journal, the messages and the drafts usually go in one
statement in autocommit (`app.intake.bulk.ChainedInsert`); it must store exactly what the three separate
inserts in a transaction store, duplicates and redeliveries included."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app import db, platforms
from app.config import Settings
from app.drafts.service import Drafter
from app.intake import Delivery
from app.intake import batch as intake_module
from app.intake.batch import one_statement_fits
from app.intake.thread import ThreadIntake
from app.models import Channel, Draft, Event, Message
from app.platforms.types import AdapterContext
from app.triage import ModelHolder
from tests.conftest import (
    FIXTURES,
    _pg_url,
    drop_pg_database,
    fb_comment,
    fb_removal,
    make_settings,
    new_pg_database,
)


def delivery(body: bytes, platform: str = "meta") -> Delivery:
    parsed = platforms.REGISTRY[platform].parse({}, json.loads(body), AdapterContext())
    return Delivery(platform, hashlib.sha256(body).hexdigest(), None, {}, body, parsed)


def two_comments(first: str, second: str) -> bytes:
    payload = json.loads(fb_comment(first, "Ma commande n'est pas arrivée"))
    change = json.loads(json.dumps(payload["entry"][0]["changes"][0]))
    change["value"]["comment_id"] = second
    change["value"]["message"] = "Vous livrez en Belgique ?"
    payload["entry"][0]["changes"].append(change)
    return json.dumps(payload).encode()


def other_body(body: bytes) -> bytes:
    """Another body (another digest) carrying the same messages."""
    return json.dumps({**json.loads(body), "resent": True}).encode()


def make_intake(settings: Settings) -> ThreadIntake:
    engine = db.make_engine(settings)
    return ThreadIntake(
        db.make_sessionmaker(engine), ModelHolder(settings.models_dir, 0.55), Drafter(settings)
    )


def stored(url: str) -> dict[str, Any]:
    engine = create_engine(url)
    with Session(engine) as s:
        digests = dict(s.execute(select(Event.id, Event.digest)).all())
        out = {
            "events": sorted(digests.values()),
            "messages": sorted(
                (m.external_id, digests.get(m.event_id), m.category, m.text)
                for m in s.scalars(select(Message))
            ),
            "drafts": sorted(
                (m.external_id, d.status, d.text, d.priority)
                for d, m in s.execute(select(Draft, Message).join(Message, Message.id == Draft.message_id))
            ),
            "channels": sorted((c.platform, c.account_id) for c in s.scalars(select(Channel))),
        }
    engine.dispose()
    return out


def write(intake: ThreadIntake, batch: list[Delivery]) -> list[tuple[int, int, int, bool, int]]:
    outcomes = intake.commit(batch, intake.prepare(batch))
    assert not any(isinstance(o, BaseException) for o in outcomes), outcomes
    return [(r.stored, r.duplicates, r.ignored, r.duplicate_delivery, len(r.message_ids)) for r in outcomes]  # type: ignore[union-attr]


def spy(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the batches written as one statement (the real statement still runs)."""
    calls: list[int] = []
    run: Callable[..., Any] = intake_module.INTAKE_CHAIN.run

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(len(args[1]))
        return run(*args, **kwargs)

    monkeypatch.setattr(intake_module.INTAKE_CHAIN, "run", counted)
    return calls


@pytest.mark.postgres
def test_one_statement_stores_what_three_inserts_store(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    second = new_pg_database()
    try:
        urls = {"one statement": pg_url, "three inserts": _pg_url(second)}
        x = fb_comment("c0", "Remboursement toujours pas reçu, c'est inadmissible")
        y = fb_comment("c9", "Merci pour la réponse rapide !")
        d0 = fb_comment("c1", "Bonjour, quels sont vos horaires ?")
        delivered = (FIXTURES / "messenger_delivery.json").read_bytes()  # no message: ignored
        first = [delivery(x), delivery(y)]
        burst = [
            delivery(d0),
            delivery(d0),  # the same body twice in one batch
            delivery(other_body(d0)),  # another body, the same comment
            delivery(two_comments("c2", "c3")),
            delivery(other_body(x)),  # a comment stored by the previous batch, in a new body
            delivery(y),  # a body stored by the previous batch
            delivery(delivered),
        ]
        results = {}
        calls = spy(monkeypatch)
        for label, url in urls.items():
            intake = make_intake(make_settings(url))
            if label == "three inserts":
                monkeypatch.setattr(intake_module, "one_statement_fits", lambda *a: False)
            calls.clear()
            results[label] = (write(intake, first), write(intake, burst))
            if label == "one statement":
                # the first batch writes the channel's "last event" (a transaction), the next is one statement
                assert calls == [6]
            else:
                assert calls == []
        assert results["one statement"] == results["three inserts"]
        assert results["one statement"][1] == [
            (1, 0, 0, False, 1),
            (0, 1, 0, True, 0),
            (0, 1, 0, False, 0),
            (2, 0, 0, False, 2),
            (0, 1, 0, False, 0),
            (0, 1, 0, True, 0),
            (0, 0, 1, False, 0),
        ]
        one, three = stored(urls["one statement"]), stored(urls["three inserts"])
        assert one == three
        assert [m[0] for m in one["messages"]] == ["c0", "c1", "c2", "c3", "c9"]
        assert [d[0] for d in one["drafts"]] == ["c0", "c1", "c2", "c3", "c9"]
        assert all(m[1] is not None for m in one["messages"])  # each message points at its journal row
        assert len(one["events"]) == 2 + 5 and one["channels"] == [("meta", "1111")]
    finally:
        drop_pg_database(second)


@pytest.mark.postgres
def test_a_batch_of_only_duplicates_as_one_statement(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    intake = make_intake(make_settings(pg_url))
    body = fb_comment("dup", "Où en est ma commande ?")
    assert write(intake, [delivery(body)]) == [(1, 0, 0, False, 1)]
    calls = spy(monkeypatch)
    # nothing new: no message and no draft rows reach the statement's inner inserts
    assert write(intake, [delivery(body), delivery(other_body(body))]) == [
        (0, 1, 0, True, 0),
        (0, 1, 0, False, 0),
    ]
    assert calls == [2]
    assert len(stored(pg_url)["messages"]) == 1 and len(stored(pg_url)["events"]) == 2


def test_when_a_batch_takes_one_statement() -> None:
    plain = delivery(fb_comment("a", "Bonjour"))
    deletion = delivery(fb_removal("a"))
    assert deletion.parsed.deletions
    fresh: dict[tuple[str, str], float] = {}
    assert not one_statement_fits("postgresql", [plain], fresh)  # the channel's "last event" is due
    recent = {("meta", "1111"): time.monotonic()}
    assert one_statement_fits("postgresql", [plain], recent)
    assert not one_statement_fits("postgresql", [plain, deletion], recent)
    assert not one_statement_fits("sqlite", [plain], recent)


def test_sqlite_writes_in_a_transaction(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = spy(monkeypatch)
    intake = make_intake(make_settings(sqlite_url))
    body = fb_comment("s1", "Bonjour")
    assert write(intake, [delivery(body)]) == [(1, 0, 0, False, 1)]
    assert write(intake, [delivery(fb_comment("s2", "Merci"))]) == [(1, 0, 0, False, 1)]
    assert calls == [] and len(stored(sqlite_url)["drafts"]) == 2


@pytest.mark.postgres
def test_a_lost_connection_costs_one_batch_then_a_new_one_is_used(pg_url: str) -> None:
    """One-statement batches go on a connection kept between batches; if the server drops it, that
    batch is answered unavailable (the platform retries) and the next one gets a new connection."""
    import psycopg

    from app.intake import DatabaseUnavailable

    intake = make_intake(make_settings(pg_url))
    assert write(intake, [delivery(fb_comment("k0", "Bonjour"))]) == [(1, 0, 0, False, 1)]  # touches
    assert write(intake, [delivery(fb_comment("k1", "Merci"))]) == [(1, 0, 0, False, 1)]
    held = intake._held
    assert held is not None
    pid = held.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    admin = pg_url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", [pid])
        deadline = time.time() + 10  # the signal is sent; wait until the backend is gone
        while time.time() < deadline and conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]
        ).fetchone() != (0,):
            time.sleep(0.05)
    body = fb_comment("k2", "Vous livrez le dimanche ?")
    lost = intake.commit([delivery(body)], intake.prepare([delivery(body)]))
    assert isinstance(lost[0], DatabaseUnavailable) and intake._held is None
    assert write(intake, [delivery(body)]) == [(1, 0, 0, False, 1)]  # the platform's retry
    assert intake._held is not None and intake._held is not held
    assert [m[0] for m in stored(pg_url)["messages"]] == ["k0", "k1", "k2"]
    intake.close()
    assert intake._held is None
