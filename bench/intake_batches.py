"""Where the intake child's CPU goes, by batch size: what a batch costs whatever its size, what
each delivery adds, and how many SQLite WAL pages each commit writes (by table and index).

    .venv/bin/python bench/intake_batches.py [--sizes 2,8,16,32] [--deliveries 6000]

Runs the intake child's own steps in-process, on a fresh SQLite file with the shipped model and
the same signed Meta comments as bench/ingest_throughput.py: parse, `Intake.prepare` (classify,
draft), `Intake.commit` (write, COMMIT), batch after batch. Times are CPU of the working thread
(time.thread_time), in microseconds per delivery; "fixed" and "per delivery" come from a
least-squares fit of cost = per_delivery + fixed / batch_size over the sizes. Under wrk with 32
connections the live child's batches average about 16 deliveries.
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
from ingest_throughput import bodies  # noqa: E402

from app import db  # noqa: E402
from app import intake as intake_module  # noqa: E402
from app.config import Settings  # noqa: E402
from app.drafts.service import Drafter  # noqa: E402
from app.intake import Delivery, Intake  # noqa: E402
from app.triage import ModelHolder  # noqa: E402
from app.webhooks.router import PARSERS  # noqa: E402
from app.webhooks.types import AdapterContext  # noqa: E402

STAGES = ["parse", "classify", "draft", "insert events", "insert messages", "insert drafts", "write rest"]


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


def payloads(folder: Path, count: int) -> list[bytes]:
    """The child's frames without their length: metadata, NUL, raw body."""
    path = folder / "bodies.txt"
    bodies(path, count)
    out = []
    for k, line in enumerate(path.read_text().splitlines()):
        body = line.split(" ", 1)[1].encode()
        meta = orjson.dumps([k, "meta", hashlib.sha256(body).hexdigest(), None, {}])
        out.append(meta + b"\0" + body)
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


def run_size(size: int, count: int) -> tuple[dict[str, float], float, collections.Counter[str]]:
    folder = Path(tempfile.mkdtemp(prefix="relais-intake-bench-"))
    settings = Settings(database_url=f"sqlite:///{folder / 'relais.db'}")
    db.upgrade(settings)
    engine = db.make_engine(settings, autocheckpoint=False)  # as in the child; checkpoints by hand
    holder = ModelHolder(settings.models_dir, settings.confidence_threshold)
    intake = Intake(
        db.make_sessionmaker(engine),
        holder,
        Drafter(settings),
        read_factory=db.make_sessionmaker(engine, readonly=True),
    )
    timers = Timers()
    holder.classify = timers.wrap("classify", holder.classify)  # type: ignore[method-assign]
    intake.drafter.draft_row = timers.wrap("draft", intake.drafter.draft_row)  # type: ignore[method-assign]
    for name, statement in [
        ("events", intake_module.EVENTS_INSERT),
        ("messages", intake_module.MESSAGES_INSERT),
        ("drafts", intake_module.drafts_service.DRAFTS_INSERT),
    ]:
        statement.run = timers.wrap(f"insert {name}", statement.run)  # type: ignore[method-assign]
    context = AdapterContext()
    frames = payloads(folder, count)
    batches = [frames[i : i + size] for i in range(0, len(frames), size)]
    database = str(folder / "relais.db")
    checkpoint = sqlite3.connect(database, isolation_level=None)

    def one(batch: list[bytes]) -> None:
        started = time.thread_time()
        deliveries = []
        for frame in batch:
            meta, _, body = frame.partition(b"\0")
            _, platform, digest, delivery_id, headers = orjson.loads(meta)
            parsed = PARSERS[platform](headers, orjson.loads(body), context)
            deliveries.append(Delivery(platform, digest, delivery_id, headers, body, parsed))
        timers.spent["parse"] += time.thread_time() - started
        prepared = intake.prepare(deliveries)
        inserts = sum(v for k, v in timers.spent.items() if k.startswith("insert"))
        started = time.thread_time()
        outcomes = intake.commit(deliveries, prepared)
        spent = time.thread_time() - started
        # the rest of the write: the session, BEGIN IMMEDIATE, the channel touch, COMMIT
        timers.spent["write rest"] += spent - (
            sum(v for k, v in timers.spent.items() if k.startswith("insert")) - inserts
        )
        assert not any(isinstance(o, BaseException) for o in outcomes), outcomes[:1]

    warm = max(1, len(batches) // 5)
    for batch in batches[:warm]:  # the model's caches, the statements, the first pages
        one(batch)
    checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    timers.spent.clear()
    measured = batches[warm:]
    delivered = sum(len(b) for b in measured)
    started = time.thread_time()
    for batch in measured:
        one(batch)
    total = time.thread_time() - started
    pages = wal_pages(database)
    checkpoint.close()
    holder.stop()
    engine.dispose()
    shutil.rmtree(folder, ignore_errors=True)
    per = {stage: timers.spent[stage] / delivered * 1e6 for stage in STAGES}
    for stage in pages:
        pages[stage] = pages[stage] / len(measured)  # type: ignore[assignment]
    return per, total / delivered * 1e6, pages


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
    args = ap.parse_args()
    os.environ.setdefault("RELAIS_META_APP_SECRET", "bench")
    sizes = [int(s) for s in args.sizes.split(",")]
    rows, totals, pages = [], [], {}
    for size in sizes:
        per, total, frames = run_size(size, args.deliveries)
        rows.append(per)
        totals.append(total)
        pages[size] = frames
    print("CPU per delivery (us) by batch size; fit: per delivery + fixed per batch")
    print(f"{'stage':18s}" + "".join(f"{s:>8d}" for s in sizes) + f"{'per dlv':>10s}{'fixed':>9s}")
    for stage in [*STAGES, "total"]:
        costs = totals if stage == "total" else [r[stage] for r in rows]
        a, fixed = fit(sizes, costs)
        print(f"{stage:18s}" + "".join(f"{c:8.1f}" for c in costs) + f"{a:10.1f}{fixed:9.0f}")
    print("\nSQLite WAL pages written per batch (every COMMIT appends each page it changed)")
    names = sorted({n for f in pages.values() for n in f}, key=lambda n: -pages[sizes[-1]].get(n, 0))
    print(f"{'table or index':30s}" + "".join(f"{s:>8d}" for s in sizes))
    for name in names:
        print(f"{name:30s}" + "".join(f"{pages[s].get(name, 0):8.1f}" for s in sizes))
    print(f"{'all':30s}" + "".join(f"{sum(pages[s].values()):8.1f}" for s in sizes))


if __name__ == "__main__":
    main()
