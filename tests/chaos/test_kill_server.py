"""SIGKILL of the whole server (web process, intake child) at random points under a burst of
deliveries sent up to 5 times each, on SQLite and PostgreSQL: every delivery that was answered
200 is stored, none twice. Deliveries not answered are sent again next round, as platforms do."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from tests.chaos.channels import CHANNELS
from tests.chaos.conftest import scaled
from tests.chaos.harness import Server, relais_env

ROUNDS = scaled(2, 16)
PER_ROUND = scaled(300, 2_000)
EMPTY_MODELS = "no-models"  # the intake's durability is under test, not the classifier: start faster


def stored_ids(database_url: str) -> list[str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return [row[0] for row in conn.execute(text("SELECT external_id FROM messages"))]
    finally:
        engine.dispose()


def burst(server: Server, deliveries: list[tuple[str, bytes, dict[str, str]]], acked: set[str]) -> None:
    """Post every delivery (copies included) from 16 threads until the server dies."""
    lock = threading.Lock()
    dead = threading.Event()

    def post(item: tuple[str, bytes, dict[str, str]], client: httpx.Client) -> None:
        if dead.is_set():
            return
        uid, body, headers = item
        try:
            r = client.post(server.url + "/webhooks/meta", content=body, headers=headers)
        except httpx.HTTPError:
            dead.set()
            return
        if r.status_code == 200:
            with lock:
                acked.add(uid)

    clients = [httpx.Client(timeout=15) for _ in range(16)]
    try:
        with ThreadPoolExecutor(16) as pool:
            for i, item in enumerate(deliveries):
                pool.submit(post, item, clients[i % 16])
    finally:
        for c in clients:
            c.close()


def test_sigkill_under_a_burst_loses_no_acknowledged_delivery(
    database_url: str, tmp_path: Path, figures: Callable[..., None]
) -> None:
    rng = random.Random()
    meta = CHANNELS["meta"]
    (tmp_path / EMPTY_MODELS).mkdir()
    env = relais_env(database_url, models_dir=str(tmp_path / EMPTY_MODELS))
    acked: set[str] = set()
    pending = [f"{n}" for n in range(ROUNDS * PER_ROUND)]
    sent_copies = kills = 0
    for round_no in range(ROUNDS):
        batch = pending[:PER_ROUND] if round_no < ROUNDS - 1 else pending
        deliveries = []
        for uid in batch:
            signed = meta.sign(meta.build(f"k{uid}", f"Ma commande {uid} n'est pas arrivée"))
            copies = rng.randint(1, 5)
            deliveries += [(uid, signed.body, meta.headers(signed))] * copies
        rng.shuffle(deliveries)
        sent_copies += len(deliveries)
        server = Server(env, tmp_path / "serve.log").start()
        before = len(acked)
        worker = threading.Thread(target=burst, args=(server, deliveries, acked))
        worker.start()
        deadline = time.monotonic() + 60
        while len(acked) == before and worker.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)  # the burst is being taken: now kill at a random point of it
        time.sleep(rng.uniform(0.0, 1.5))
        server.kill()
        kills += 1
        worker.join(120)
        pending = [uid for uid in pending if uid not in acked]
    stored = stored_ids(database_url)
    stored_uids = [s.removeprefix("1111_k") for s in stored]
    lost = acked - set(stored_uids)
    duplicates = len(stored_uids) - len(set(stored_uids))
    figures(
        name=f"server SIGKILL under a burst ({database_url.split(':')[0]})",
        rounds=ROUNDS,
        kills=kills,
        copies_sent=sent_copies,
        acknowledged=len(acked),
        lost=len(lost),
        duplicates=duplicates,
    )
    assert acked, "no delivery was acknowledged: the server never took the burst"
    assert not lost, sorted(lost)[:20]
    assert duplicates == 0
