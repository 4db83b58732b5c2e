"""Poison isolation: malformed or hostile deliveries that are nonetheless authentic (correctly
signed) mixed into a burst of good ones, against `relais serve`, on SQLite and PostgreSQL. Every
good delivery is answered 200 within the platforms' acknowledgement deadline and stored; the
latencies of the good ones with and without poison are recorded."""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.chaos.channels import CHANNELS
from tests.chaos.conftest import LONG, scaled
from tests.chaos.harness import Server, relais_env

GOOD = scaled(200, 3_000)
POISON = scaled(60, 1_000)
ACK_DEADLINE_S = 10.0  # X's; Meta asks for 5-20 s, Slack 3 s for its own small events
DEFECT_2_OPEN = False  # issue 20 defect 2 (platforms): NUL and over-long ids answer 503 on PostgreSQL


def poisons() -> list[tuple[str, bytes]]:
    """(channel, body): each authentic once signed, each hostile in its own way."""
    meta, generic = CHANNELS["meta"], CHANNELS["generic"]
    nul = meta.build("p-nul", "NUL \u0000 in the text")
    nul["entry"][0]["changes"][0]["value"]["from"]["name"] = "Ca\u0000mille"
    long_id = meta.build("p-" + "9" * 400, "an id longer than any column")
    whatsapp_obj = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "9",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "metadata": {"phone_number_id": "555"},
                            "messages": [
                                {"from": "3361", "id": "wamid.P", "timestamp": "1700000000", "type": {"a": 1}}
                            ],
                        },
                    }
                ],
            }
        ],
    }
    many = meta.build("p-many", "x")
    many["entry"] = [meta.build(f"p-many{i}", f"batch {i}")["entry"][0] for i in range(1000)]
    items: list[tuple[str, Any]] = [
        ("meta", nul),
        ("meta", long_id),
        ("meta", whatsapp_obj),
        ("meta", many),
        ("generic", {**generic.build("p-big", "x"), "created_at": 1.5e308}),
        ("generic", {**generic.build("p-kind", "x"), "kind": ["comment"]}),
        ("generic", {**generic.build("p-nul2", "x"), "text": "\u0000" * 100, "id": "g-\u0000"}),
        ("telegram", {"update_id": 2**70, "message": {"message_id": -1, "chat": {"id": "x"}, "date": 1e30}}),
        (
            "x",
            {
                "for_user_id": "42",
                "tweet_create_events": [{"id_str": "1" * 10_000, "text": "@b", "user": {"id_str": "7"}}],
            },
        ),
        (
            "slack",
            {
                "type": "event_callback",
                "event_id": "Ev" + "\u0000",
                "event": {"type": "message", "text": None},
            },
        ),
        ("meta", [1, 2, 3]),
        ("generic", "just a string"),
    ]
    out = [(ch, json.dumps(p).encode()) for ch, p in items]
    out += [
        ("meta", b"[" * 5_000 + b"]" * 5_000),
        ("meta", b'{"object": "page", "entry": ' + b"[" * 3_000 + b"]" * 3_000 + b"}"),
    ]
    out += [("meta", b"\xff\xfe not utf-8 \x00"), ("meta", b"{" * 10_000), ("meta", b" " * 3_000_000 + b"{}")]
    return out


def stored_ids(database_url: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return {row[0] for row in conn.execute(text("SELECT external_id FROM messages"))}
    finally:
        engine.dispose()


def run_burst(
    server: Server, good: list[str], poison: list[tuple[str, bytes]]
) -> tuple[dict[str, tuple[int, float]], Counter[int]]:
    meta = CHANNELS["meta"]
    results: dict[str, tuple[int, float]] = {}
    poison_statuses: Counter[int] = Counter()
    lock = threading.Lock()
    local = threading.local()

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=server.url, timeout=60)
        return local.client  # type: ignore[no-any-return]

    def post_good(uid: str) -> None:
        signed = meta.sign(meta.build(uid, f"Bonjour, commande {uid}"))
        started = time.monotonic()
        try:
            status = client().post(meta.route, content=signed.body, headers=meta.headers(signed)).status_code
        except httpx.HTTPError:
            status = 0
        with lock:
            results[uid] = (status, time.monotonic() - started)

    def post_poison(item: tuple[str, bytes]) -> None:
        ch = CHANNELS[item[0]]
        signed = ch.sign(item[1])
        try:
            status = client().post(ch.route, content=signed.body, headers=ch.headers(signed)).status_code
        except httpx.HTTPError:
            status = 0
        with lock:
            poison_statuses[status] += 1

    with ThreadPoolExecutor(12) as pool:
        n = max(1, len(good) // max(1, len(poison))) if poison else 0
        for i, uid in enumerate(good):
            pool.submit(post_good, uid)
            if poison and i % n == 0:
                pool.submit(post_poison, poison[(i // n) % len(poison)])
    return results, poison_statuses


# PostgreSQL is where one poison could fail a whole intake batch; the long run adds SQLite.
@pytest.mark.parametrize("database_url", ["sqlite", "postgres"] if LONG else ["postgres"], indirect=True)
def test_poison_never_fails_nor_stalls_the_good_deliveries(
    database_url: str, tmp_path: Path, figures: Callable[..., None]
) -> None:
    (tmp_path / "models").mkdir()
    env = relais_env(database_url, models_dir=str(tmp_path / "models"))
    server = Server(env, tmp_path / "serve.log").start()
    try:
        baseline, _ = run_burst(server, [f"base{i}" for i in range(GOOD)], [])
        hostile = poisons()
        mixed, poison_statuses = run_burst(
            server, [f"good{i}" for i in range(GOOD)], hostile * (POISON // len(hostile) + 1)
        )
    finally:
        server.stop()
    stored = stored_ids(database_url)
    failed = {uid: s for uid, (s, _) in mixed.items() if s != 200}
    missing = [uid for uid, (s, _) in mixed.items() if s == 200 and f"1111_{uid}" not in stored]
    slow = [uid for uid, (_, t) in mixed.items() if t > ACK_DEADLINE_S]

    def p(latencies: list[float], q: float) -> float:
        return round(statistics.quantiles(latencies, n=100)[int(q) - 1] * 1000, 1)

    base_t = [t for _, t in baseline.values()]
    mixed_t = [t for _, t in mixed.values()]
    figures(
        name=f"poison isolation ({database_url.split(':')[0]})",
        good=len(mixed),
        poison_sent=sum(poison_statuses.values()),
        poison_statuses=dict(poison_statuses),
        good_failed=len(failed),
        good_lost=len(missing),
        good_p50_ms={"without poison": p(base_t, 50), "with poison": p(mixed_t, 50)},
        good_p99_ms={"without poison": p(base_t, 99), "with poison": p(mixed_t, 99)},
        good_max_ms=round(max(mixed_t) * 1000, 1),
    )
    assert not failed, dict(list(failed.items())[:10])
    assert not missing, missing[:10]
    assert not slow, slow[:10]
    assert 500 not in poison_statuses, poison_statuses


def test_each_poison_alone_is_stored_or_refused_with_a_reason(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Authentic input is stored (200) or refused with a 4xx that says why: never a 5xx, which the
    platform would retry for days (issue 20, defect 2: NUL and over-long strings on PostgreSQL)."""
    if DEFECT_2_OPEN and database_url.startswith("postgresql"):
        request.applymarker(
            pytest.mark.xfail(
                strict=True, reason="issue 20 defect 2: NUL and over-long ids answer 503 on PostgreSQL"
            )
        )
    from fastapi.testclient import TestClient

    from app.main import create_app
    from tests.conftest import make_settings

    answers = {}
    with TestClient(
        create_app(make_settings(database_url, models_dir=tmp_path)), raise_server_exceptions=False
    ) as c:
        for i, (channel, body) in enumerate(poisons()):
            ch = CHANNELS[channel]
            signed = ch.sign(body)
            r = c.post(ch.route, content=signed.body, headers=ch.headers(signed))
            answers[f"{i}:{channel}:{body[:60]!r}"] = (r.status_code, r.text[:200])
    bad = {k: v for k, v in answers.items() if v[0] >= 500 or (v[0] >= 400 and "error" not in v[1])}
    assert not bad, bad
