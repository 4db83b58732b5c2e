"""A reviewer's approve while the refine pass reads new messages again, on a machine kept busy.

`relais serve` (SQLite, the embedded default) takes a burst of signed Meta comments; once the
burst is over its refine pass encodes them in the background (app/drafts/context.py). Meanwhile
`--burners` processes keep every core busy, as other programs on a shared machine would, and a
reviewer approves the drafts one after the other through the API. Prints the approve's p50 / p99 /
max latency and how many messages the pass refined meanwhile.

    .venv/bin/python bench/review_latency.py [--messages 300] [--burners 2]

An approve writes to SQLite; so does the pass when it stores a round. The figure says whether a
reviewer waits for the pass.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

from ingest_throughput import SECRET, bodies, start  # noqa: E402 - bench/ is the script's folder
from processes import stop  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PORT = 18093


def call(method: str, path: str, token: str, body: dict[str, object] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def deliver(line: str) -> None:
    signature, body = line.split(" ", 1)
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}/webhooks/meta",
        data=body.encode(),
        method="POST",
        headers={"X-Hub-Signature-256": signature, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as r:
        assert r.status == 200


def marked(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("select count(*) from messages where context_due > 0").fetchone()[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--burners", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    relais = str(ROOT / ".venv" / "bin" / "relais")
    tmp = Path(tempfile.mkdtemp(prefix="relais-bench-"))
    db = tmp / "relais.db"
    env = {
        **os.environ,
        "RELAIS_META_APP_SECRET": SECRET,
        "RELAIS_DATABASE_URL": f"sqlite:///{db}",
        # the server's own sender and refine pass, as `make run` has them; the replies go to a
        # closed local port (refused at once, retried later): the approve alone is timed
        "RELAIS_META_GRAPH_URL": "http://127.0.0.1:9/v21.0",
    }
    server = start([relais, "serve", "--port", str(PORT)], env, PORT)
    burners: list[subprocess.Popen[bytes]] = []
    try:
        token = subprocess.run(
            [relais, "users", "add", "bench", "--role", "reviewer"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[-1]
        bodies(tmp / "bodies.txt", args.messages)
        for line in (tmp / "bodies.txt").read_text(encoding="utf-8").splitlines():
            deliver(line)
        drafts = []
        cursor = None
        while True:
            query = f"/api/drafts?limit=200{f'&cursor={cursor}' if cursor else ''}"
            page = json.loads(call("GET", query, token)[1])
            drafts += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                break
        # the pass at work (its encoder loaded, a first round stored) before the machine gets busy
        deadline = time.monotonic() + 180
        while marked(db) >= args.messages and time.monotonic() < deadline:
            time.sleep(0.1)
        burners = [
            subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
            for _ in range(args.burners)
        ]
        before = marked(db)
        latencies, codes = [], []
        for d in drafts:
            started = time.perf_counter()
            # the draft as a reviewer sees it now (the pass may have re-suggested it), then approve
            current = json.loads(call("GET", f"/api/drafts/{d['id']}", token)[1])
            code, _ = call(
                "POST",
                f"/api/drafts/{d['id']}/approve",
                token,
                {"version": current["version"], "text": "Merci, nous regardons."},
            )
            latencies.append((time.perf_counter() - started) * 1000)
            codes.append(code)
        after = marked(db)
    finally:
        for b in burners:
            b.kill()
        stop(server)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    print(
        f"{len(latencies)} approves (read the draft, then approve) with {args.burners} busy cores: "
        f"p50 {statistics.median(latencies):.1f} ms, p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms; "
        f"answers {dict(sorted(Counter(codes).items()))}; "
        f"messages left to refine {before} -> {after}"
    )


if __name__ == "__main__":
    main()
