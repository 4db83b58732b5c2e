"""The review queue with 1,000,000 messages in the database: latency of the first page, later
pages (keyset cursor), filtered pages and the counts, through the real app (in-process ASGI).

    .venv/bin/python bench/queue_listing.py                       # SQLite file in a temp folder
    .venv/bin/python bench/queue_listing.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench
    .venv/bin/python bench/queue_listing.py --messages 200000     # smaller

The data: N messages over 90 days, every one with its draft; 5 % still pending (the backlog), the
rest approved, sent or rejected, as in a team that keeps up. Prints p50/p95/max in milliseconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient  # noqa: E402

from app import db  # noqa: E402
from app.config import Settings  # noqa: E402
from app.drafts.service import DRAFTS_INSERT  # noqa: E402
from app.intake.batch import MESSAGES_INSERT  # noqa: E402
from app.main import create_app  # noqa: E402
from app.models import priority_of  # noqa: E402
from app.users import service as users  # noqa: E402

CATEGORIES = ["question", "complaint", "suggestion", "other"]
TEXTS = [
    "Ma commande n'est pas arrivée",
    "Vous livrez en Belgique ?",
    "Ajoutez le paiement en 3 fois",
    "Merci beaucoup !",
    "Where is my refund?",
    "Do you ship to Spain?",
    "Please add dark mode",
    "Love it",
]


def load(settings: Settings, n: int, chunk: int = 20_000) -> None:
    engine = db.make_engine(settings)
    factory = db.make_sessionmaker(engine)
    rng = random.Random(1)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=90)
    t0 = time.perf_counter()
    for base in range(0, n, chunk):
        with db.transaction(factory) as session:
            conn = session.connection()
            messages = []
            for k in range(base, min(n, base + chunk)):
                cat = rng.choice(CATEGORIES)
                at = start + dt.timedelta(seconds=k * 90 * 86400 / n)
                messages.append(
                    {
                        "platform": rng.choice(["meta", "meta", "x", "telegram"]),
                        "account_id": "1111",
                        "external_id": f"m{k}",
                        "kind": "comment",
                        "channel": "facebook",
                        "conversation_id": "p",
                        "reply_to_id": f"m{k}",
                        "parent_id": None,
                        "author_id": f"a{k % 50000}",
                        "author_name": "Client",
                        "author_handle": None,
                        "text": rng.choice(TEXTS),
                        "extra": {},
                        "created_at": at,
                        "received_at": at,
                        "event_id": None,
                        "language": rng.choice(["fr", "fr", "en"]),
                        "category": cat,
                        "predicted_category": cat,
                        "confidence": 0.9,
                        "scores": None,
                        "model_version": "bench",
                        "to_sort": rng.random() < 0.05,
                    }
                )
            ids = MESSAGES_INSERT.run(conn, messages)
            drafts = []
            for (mid, *_), m in zip(ids, messages, strict=True):
                pending = rng.random() < 0.05
                drafts.append(
                    {
                        "message_id": mid,
                        "version": 1,
                        "status": "pending" if pending else rng.choice(["sent", "sent", "rejected"]),
                        "text": "Bonjour",
                        "template_id": None,
                        "suggestions": [],
                        "edited": False,
                        "priority": priority_of(m["category"]),
                        "received_at": m["received_at"],
                        "category": m["category"],
                        "platform": m["platform"],
                        "language": m["language"],
                        "to_sort": m["to_sort"],
                        "created_at": m["received_at"],
                        "updated_at": m["received_at"],
                    }
                )
            DRAFTS_INSERT.run(conn, drafts)
        print(
            f"\rloaded {min(n, base + chunk):,} messages ({time.perf_counter() - t0:.0f} s)",
            end="",
            flush=True,
        )
    print()
    # the steady state of a live database: statistics gathered and, on PostgreSQL, the visibility
    # map set by (auto)vacuum so that counts can read the index alone
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE")
    engine.dispose()


def measure(
    client: TestClient, headers: dict[str, str], label: str, params: dict[str, str], pages: int, repeat: int
) -> None:
    first, later = [], []
    for _ in range(repeat):
        cursor = None
        for page in range(pages):
            q = dict(params, limit="50", **({"cursor": cursor} if cursor else {}))
            t = time.perf_counter()
            r = client.get("/api/drafts", params=q, headers=headers)
            elapsed = (time.perf_counter() - t) * 1000
            assert r.status_code == 200, r.text
            (first if page == 0 else later).append(elapsed)
            cursor = r.json()["next_cursor"]
            if not cursor:
                break

    def fmt(xs: list[float]) -> str:
        if not xs:
            return "-"
        xs = sorted(xs)
        return (
            f"p50 {statistics.median(xs):5.1f}  p95 {xs[int(0.95 * (len(xs) - 1))]:5.1f}  max {xs[-1]:5.1f}"
        )

    print(f"{label:34s} first page: {fmt(first)} | later pages: {fmt(later)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url")
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--skip-load", action="store_true", help="measure a database loaded by an earlier run")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="relais-queue-"))
    settings = Settings(
        database_url=args.database_url or f"sqlite:///{tmp / 'relais.db'}",
        outbox_in_process=False,
        environment="test",
    )
    db.upgrade(settings)
    if not args.skip_load:
        load(settings, args.messages)
    with TestClient(create_app(settings)) as client:
        with db.transaction(client.app.state.sessions) as session:
            _, token = users.create(session, name=f"bench-{time.time_ns()}", role="reviewer")
        h = {"Authorization": f"Bearer {token}"}
        measure(client, h, "pending queue", {"status": "pending"}, pages=20, repeat=10)
        measure(
            client,
            h,
            "pending complaints",
            {"status": "pending", "category": "complaint"},
            pages=20,
            repeat=10,
        )
        measure(client, h, "pending, platform x", {"status": "pending", "platform": "x"}, pages=20, repeat=10)
        measure(client, h, "pending, English", {"status": "pending", "language": "en"}, pages=20, repeat=10)
        measure(client, h, "pending, to sort", {"status": "pending", "to_sort": "true"}, pages=20, repeat=10)
        measure(client, h, "sent (history)", {"status": "sent"}, pages=20, repeat=5)
        measure(
            client, h, "pending with counts", {"status": "pending", "with_counts": "true"}, pages=1, repeat=30
        )


if __name__ == "__main__":
    main()
