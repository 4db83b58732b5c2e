"""Webhook intake under load: `relais serve` against a bare FastAPI endpoint, same machine, same run.

Signed, unique Meta comment deliveries are replayed by wrk (1 thread, 32 connections), alternating
bare and relais for several rounds; every delivery is verified, stored, classified and drafted
before its 200. Prints both req/s, their ratio, relais' p50/p99 latency, non-200 answers, and the CPU
time each process (web, intake child, wrk) spent per request: the figure that says where the
cycles go, and that noise from other programs on the machine barely moves.

    .venv/bin/python bench/ingest_throughput.py                      # SQLite default, 1 server
    .venv/bin/python bench/ingest_throughput.py --workers 2 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1/bench # PostgreSQL, 2 workers

Each run starts from an empty database, as a SQLite run starts from a new file: on PostgreSQL,
the database named in the URL is dropped and created again, and dropped at the end (do not point
it at real data).

Needs `wrk` (Debian package `wrk`).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from processes import stop  # noqa: E402 - bench/ is the script's folder

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SECRET = "bench-meta-secret"
PHRASES = [
    "Bonjour, ma commande {n} n'est pas arrivée, que se passe-t-il ?",
    "Ce serait bien d'ajouter le paiement en plusieurs fois",
    "Service client injoignable depuis trois jours, je suis très déçu",
    "How do I change the delivery address of order {n}?",
    "Love the new collection, well done!",
    "Could you add a vegan option to the menu?",
]


def bodies(path: Path, count: int) -> None:
    """`count` signed deliveries, each a new comment: ids carry the time of the run, so a second run
    against the same PostgreSQL database stores new messages instead of counting duplicates."""
    rng = random.Random(7)
    run = int(time.time())
    with open(path, "w") as f:
        for k in range(count):
            cid = f"{run}{k:07d}_{rng.randrange(10**6):06d}"
            b = json.dumps(
                {
                    "object": "page",
                    "entry": [
                        {
                            "id": "1111",
                            "time": 1732400000,
                            "changes": [
                                {
                                    "field": "feed",
                                    "value": {
                                        "from": {"id": f"9{k}", "name": "Client Test"},
                                        "message": rng.choice(PHRASES).format(n=k),
                                        "post_id": "1111_2222",
                                        "comment_id": cid,
                                        "parent_id": "1111_2222",
                                        "created_time": 1732400000,
                                        "item": "comment",
                                        "verb": "add",
                                    },
                                }
                            ],
                        }
                    ],
                },
                ensure_ascii=False,
                separators=(",", ":"),
            )
            sig = hmac.new(SECRET.encode(), b.encode(), hashlib.sha256).hexdigest()
            f.write(f"sha256={sig} {b}\n")


def fresh_postgres_database(url: str, *, create: bool = True) -> None:
    """Drop (and create again) the database of `url`, through the server's `postgres` database."""
    import psycopg

    base, name = url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)
    name = name.split("?", 1)[0]
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"{url} never became healthy")


def start(cmd: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_healthy(f"http://127.0.0.1:{port}", proc)
    return proc


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants (uvicorn workers, intake children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return out


def role_of(stat: str) -> str:
    """ "intake" or "web", from the text of /proc/<pid>/stat (the intake child names itself)."""
    return "intake" if "(relais-intake)" in stat else "web"


def status_kb(pid: int, field: str) -> int | None:
    """A "... kB" field of /proc/<pid>/status (VmRSS, VmHWM), None once the process is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    m = re.search(rf"{field}:\s+(\d+) kB", status)
    return int(m.group(1)) if m else None


def cpu_seconds(pid: int) -> dict[str, float]:
    """User + system CPU seconds of each process of the tree, keyed "name pid"."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for p in process_tree(pid):
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        out[f"{role_of(stat)} {p}"] = (int(fields[11]) + int(fields[12])) / tick
    return out


def postgres_cpu_seconds() -> float:
    """User + system CPU seconds of every PostgreSQL server process (backends, WAL writer...)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if "(postgres)" in text:
            fields = text[text.rindex(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])
    return total / tick


def wrk(url: str, bodies_file: Path, offset: int, seconds: int, connections: int) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(HERE / "signed.lua"),
            url,
            "--",
            str(offset),
        ],
        env={**os.environ, "BODIES": str(bodies_file)},
        capture_output=True,
        text=True,
    ).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)

    def ms(label: str) -> float:
        m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", out)
        return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)] if m else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50": ms("50%"),
        "p99": ms("99%"),
        "requests": float(total.group(1)) if total else 0.0,
        "non200": float(bad.group(1)) if bad else 0.0,
        "wrk_cpu": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
    }


def peak_rss_mb(pid: int) -> float:
    """Largest resident set (VmHWM) of the process and its children, in MB."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    peaks = [kb / 1024 for kb in (status_kb(p, "VmHWM") for p in pids) if kb is not None]
    return max(peaks) if peaks else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    python = str(ROOT / ".venv" / "bin" / "python")
    relais = str(ROOT / ".venv" / "bin" / "relais")
    tmp = Path(tempfile.mkdtemp(prefix="relais-bench-"))
    per_run = 100_000
    bodies_file = tmp / "bodies.txt"
    bodies(bodies_file, per_run * args.rounds)
    if args.database_url:
        fresh_postgres_database(args.database_url)
    env = {
        **os.environ,
        "RELAIS_META_APP_SECRET": SECRET,
        "RELAIS_DATABASE_URL": args.database_url or f"sqlite:///{tmp / 'relais.db'}",
    }
    bare_port, relais_port = 18090, 18091
    bare = start(
        [
            python,
            "-m",
            "uvicorn",
            "bare_fastapi:app",
            "--app-dir",
            str(HERE),
            "--port",
            str(bare_port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env,
        bare_port,
    )
    server = start(
        [relais, "serve", "--port", str(relais_port), "--workers", str(args.workers)], env, relais_port
    )
    results: list[tuple[dict[str, float], dict[str, float]]] = []
    try:
        for r in range(args.rounds):
            b = wrk(f"http://127.0.0.1:{bare_port}", bodies_file, 0, args.seconds, args.connections)
            cpu_before = cpu_seconds(server.pid)
            pg_before = postgres_cpu_seconds()
            p = wrk(
                f"http://127.0.0.1:{relais_port}", bodies_file, r * per_run, args.seconds, args.connections
            )
            cpu_after = cpu_seconds(server.pid)
            cpu_after["postgres"] = postgres_cpu_seconds()
            cpu_before["postgres"] = pg_before
            results.append((b, p))
            per_request: dict[str, float] = {}  # by role, all processes of a role together
            for name in cpu_after:
                role = name.split()[0]
                spent = (cpu_after[name] - cpu_before.get(name, 0.0)) / max(p["requests"], 1) * 1e6
                per_request[role] = per_request.get(role, 0.0) + spent
            print(
                f"round {r + 1}: bare {b['rps']:.0f} req/s | relais {p['rps']:.0f} req/s "
                f"(p50 {p['p50']:.1f} ms, p99 {p['p99']:.1f} ms, non-200 {p['non200']:.0f})",
                flush=True,
            )
            cpu = ", ".join(f"{role} {us:.0f}" for role, us in sorted(per_request.items()) if us > 1)
            print(
                f"  CPU per request (us): {cpu}; wrk {p['wrk_cpu'] / max(p['requests'], 1) * 1e6:.0f} "
                f"(bare: wrk {b['wrk_cpu'] / max(b['requests'], 1) * 1e6:.0f})",
                flush=True,
            )
        rss = peak_rss_mb(server.pid)
    finally:
        stop(server)
        stop(bare)
        shutil.rmtree(tmp, ignore_errors=True)
        if args.database_url:
            fresh_postgres_database(args.database_url, create=False)
    ratio = statistics.median(p["rps"] / b["rps"] for b, p in results)
    print(
        f"database {'sqlite' if not args.database_url else args.database_url.split('@')[-1]}, "
        f"{args.workers} worker(s), {args.connections} connections: "
        f"relais {statistics.median(p['rps'] for _, p in results):.0f} req/s, "
        f"bare FastAPI {statistics.median(b['rps'] for b, _ in results):.0f} req/s, ratio {ratio:.2f}; "
        f"relais p99 {max(p['p99'] for _, p in results):.1f} ms; "
        f"non-200 {sum(p['non200'] for _, p in results):.0f}; peak RSS of a relais process {rss:.0f} MB"
    )


if __name__ == "__main__":
    main()
