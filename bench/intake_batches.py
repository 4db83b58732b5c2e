"""Where the intake child's CPU goes, by batch size: what a batch costs whatever its size, what
each delivery adds, and how many SQLite WAL pages each commit writes (by table and index).

    .venv/bin/python bench/intake_batches.py [--sizes 2,8,16,32] [--deliveries 6000]
    .venv/bin/python bench/intake_batches.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench

Runs the intake child's own steps in-process, with the shipped model and the signed Meta comments
of bench/ingest_throughput.py, on a fresh SQLite file (or a fresh database on the given local
PostgreSQL server, whose backend's CPU is then shown too, read from /proc): decoding the frames
of parsed deliveries (`app.intake.wire`), `ThreadIntake.prepare` (classify, draft),
`ThreadIntake.commit` (write, COMMIT), batch after batch. Times
are CPU of the working thread (time.thread_time), in microseconds per delivery; "fixed" and
"per delivery" come from a least-squares fit of cost = per_delivery + fixed / batch_size over
the sizes. Under wrk with 32 connections the live child's batches average about 16 deliveries.

Under `relais serve` the web process classifies (`ProcessIntake`, one call per loop turn) and the
intake process does the rest: the "classify" row is then the web process's share, the other rows
the intake process's. Here every stage runs in one thread, as with `RELAIS_INTAKE_PROCESS=false`.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import os
import shutil
import sqlite3
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import orjson  # noqa: E402
from ingest_throughput import bodies, fresh_postgres_database  # noqa: E402

from app import db, platforms  # noqa: E402
from app.config import Settings  # noqa: E402
from app.drafts.service import Drafter  # noqa: E402
from app.intake import Delivery, wire  # noqa: E402
from app.intake import batch as intake_module  # noqa: E402
from app.intake.thread import ThreadIntake  # noqa: E402
from app.platforms.types import AdapterContext  # noqa: E402
from app.review import conversation, team  # noqa: E402
from app.triage import ModelHolder  # noqa: E402

STAGES = [
    "decode",
    "classify",
    "draft",
    "insert events",
    "insert messages",
    "insert drafts",
    "insert all three",  # PostgreSQL: the one statement (app.intake.bulk.ChainedInsert)
    "conversation owner",  # app.review.team.inherit
    "returning customers",  # app.review.conversation.redraft_returning
    "write rest",
]


class Timers:
    """CPU seconds of the current thread spent in each stage."""

    def __init__(self) -> None:
        self.spent: collections.Counter[str] = collections.Counter()

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spent[label] += time.thread_time() - started

        return timed


def instrument(timers: Timers) -> None:
    """Time the three intake inserts and the one statement that replaces them on PostgreSQL
    (module-level objects: done once for the whole run)."""
    for name, statement in [
        ("events", intake_module.EVENTS_INSERT),
        ("messages", intake_module.MESSAGES_INSERT),
        ("drafts", intake_module.drafts_service.DRAFTS_INSERT),
    ]:
        statement.run = timers.wrap(f"insert {name}", statement.run)  # type: ignore[method-assign]
    chain = intake_module.INTAKE_CHAIN
    chain.run = timers.wrap("insert all three", chain.run)  # type: ignore[method-assign]


def payloads(folder: Path, count: int) -> list[bytes]:
    """The child's frames without their length, as a web process sends them (`wire`)."""
    path = folder / "bodies.txt"
    bodies(path, count)
    out = []
    meta = platforms.REGISTRY["meta"]
    for k, line in enumerate(path.read_text().splitlines()):
        body = line.split(" ", 1)[1].encode()
        parsed = meta.parse({}, orjson.loads(body), AdapterContext())
        d = Delivery("meta", hashlib.sha256(body).hexdigest(), None, {}, body, parsed)
        out.append(wire.encode_delivery(k, d, None)[wire.LENGTH.size :])
    return out


def wal_pages(database: str) -> collections.Counter[str]:
    """WAL frames by the table or index that owns their page (a 32-byte header, then frames of
    24 + page-size bytes)."""
    conn = sqlite3.connect(database)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    owner = dict((p, n) for n, p in conn.execute("SELECT name, pageno FROM dbstat"))
    conn.close()
    frames: collections.Counter[str] = collections.Counter()
    with open(database + "-wal", "rb") as wal:
        wal.seek(32)
        while len(header := wal.read(24)) == 24:
            (page,) = struct.unpack_from(">I", header)
            frames[owner.get(page, "(new pages)")] += 1
            wal.seek(page_size, os.SEEK_CUR)
    return frames


def fresh_database(url: str | None, folder: Path, size: int, *, create: bool = True) -> Settings:
    """A new SQLite file, or a scratch database on the PostgreSQL server of `url` (dropped and,
    with `create`, made anew and migrated)."""
    if url is None:
        settings = Settings(database_url=f"sqlite:///{folder / 'relais.db'}")
    else:
        settings = Settings(database_url=url.rsplit("/", 1)[0] + f"/relais_intake_batches_{size}")
        fresh_postgres_database(settings.database_url, create=create)
    if create:
        db.upgrade(settings)
    return settings


def backend_cpu(engine: Any) -> Callable[[], float]:
    """CPU seconds of the PostgreSQL backend serving the engine's (single) connection."""
    with engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    tick = os.sysconf("SC_CLK_TCK")

    def read() -> float:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / tick

    return read


def run_size(
    size: int, count: int, url: str | None
) -> tuple[dict[str, float], float, collections.Counter[str]]:
    folder = Path(tempfile.mkdtemp(prefix="relais-intake-bench-"))
    settings = fresh_database(url, folder, size)
    sqlite = settings.is_sqlite
    # as in the child: one connection, SQLite checkpoints by hand
    engine = db.make_engine(settings.model_copy(update={"db_pool_size": 1}), autocheckpoint=False)
    holder = ModelHolder(settings.models_dir, settings.confidence_threshold)
    intake = ThreadIntake(
        db.make_sessionmaker(engine),
        holder,
        Drafter(settings),
        read_factory=db.make_sessionmaker(engine, readonly=True),
    )
    timers = TIMERS
    timers.spent.clear()
    holder.classify = timers.wrap("classify", holder.classify)  # type: ignore[method-assign]
    intake.drafter.draft_row = timers.wrap("draft", intake.drafter.draft_row)  # type: ignore[method-assign]
    # the two steps that read what came before (the write calls them through their modules)
    intake_module.team.inherit = timers.wrap("conversation owner", team.inherit)  # type: ignore[attr-defined]
    intake_module.conversation.redraft_returning = timers.wrap(  # type: ignore[attr-defined]
        "returning customers", conversation.redraft_returning
    )
    inner = ("insert", "conversation owner", "returning customers")
    frames = payloads(folder, count)
    batches = [frames[i : i + size] for i in range(0, len(frames), size)]
    database = str(folder / "relais.db")
    checkpoint = sqlite3.connect(database, isolation_level=None) if sqlite else None
    server = None if sqlite else backend_cpu(engine)

    def one(batch: list[bytes]) -> None:
        started = time.thread_time()
        deliveries = [wire.decode_delivery(frame)[1] for frame in batch]
        timers.spent["decode"] += time.thread_time() - started
        prepared = intake.prepare(deliveries)
        inserts = sum(v for k, v in timers.spent.items() if k.startswith(inner))
        started = time.thread_time()
        outcomes = intake.commit(deliveries, prepared)
        spent = time.thread_time() - started
        # the rest of the write: the session, BEGIN IMMEDIATE, the channel touch, COMMIT
        timers.spent["write rest"] += spent - (
            sum(v for k, v in timers.spent.items() if k.startswith(inner)) - inserts
        )
        assert not any(isinstance(o, BaseException) for o in outcomes), outcomes[:1]

    warm = max(1, len(batches) // 5)
    for batch in batches[:warm]:  # the model's caches, the statements, the first pages
        one(batch)
    if checkpoint is not None:
        checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    timers.spent.clear()
    server_before = server() if server else 0.0
    measured = batches[warm:]
    delivered = sum(len(b) for b in measured)
    started = time.thread_time()
    for batch in measured:
        one(batch)
    total = time.thread_time() - started
    if server is not None:
        timers.spent["postgres"] = server() - server_before
    pages = wal_pages(database) if checkpoint is not None else collections.Counter()
    if checkpoint is not None:
        checkpoint.close()
    holder.stop()
    engine.dispose()
    shutil.rmtree(folder, ignore_errors=True)
    if url is not None:
        fresh_database(url, folder, size, create=False)  # drop the scratch database
    per = {stage: timers.spent[stage] / delivered * 1e6 for stage in [*STAGES, "postgres"]}
    for stage in pages:
        pages[stage] = pages[stage] / len(measured)  # type: ignore[assignment]
    return per, total / delivered * 1e6, pages


TIMERS = Timers()


def fit(sizes: list[int], costs: list[float]) -> tuple[float, float]:
    """(per delivery, fixed per batch) of cost = a + F / size, least squares."""
    xs = [1 / s for s in sizes]
    mx, my = sum(xs) / len(xs), sum(costs) / len(costs)
    var = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, costs, strict=True)) / var if var else 0.0
    return my - slope * mx, slope


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="2,8,16,32")
    ap.add_argument("--deliveries", type=int, default=6000)
    ap.add_argument("--database-url", default=None, help="PostgreSQL; default: a SQLite file")
    args = ap.parse_args()
    os.environ.setdefault("RELAIS_META_APP_SECRET", "bench")
    sizes = [int(s) for s in args.sizes.split(",")]
    instrument(TIMERS)
    rows, totals, pages = [], [], {}
    for size in sizes:
        per, total, frames = run_size(size, args.deliveries, args.database_url)
        rows.append(per)
        totals.append(total)
        pages[size] = frames
    print("CPU per delivery (us) by batch size; fit: per delivery + fixed per batch")
    print(f"{'stage':18s}" + "".join(f"{s:>8d}" for s in sizes) + f"{'per dlv':>10s}{'fixed':>9s}")
    for stage in [*STAGES, "total", *(["postgres"] if args.database_url else [])]:
        costs = totals if stage == "total" else [r[stage] for r in rows]
        if not any(costs):
            continue  # a stage of the other database
        a, fixed = fit(sizes, costs)
        print(f"{stage:18s}" + "".join(f"{c:8.1f}" for c in costs) + f"{a:10.1f}{fixed:9.0f}")
    if args.database_url:
        return
    print("\nSQLite WAL pages written per batch (every COMMIT appends each page it changed)")
    names = sorted({n for f in pages.values() for n in f}, key=lambda n: -pages[sizes[-1]].get(n, 0))
    print(f"{'table or index':30s}" + "".join(f"{s:>8d}" for s in sizes))
    for name in names:
        print(f"{name:30s}" + "".join(f"{pages[s].get(name, 0):8.1f}" for s in sizes))
    print(f"{'all':30s}" + "".join(f"{sum(pages[s].values()):8.1f}" for s in sizes))


if __name__ == "__main__":
    main()
