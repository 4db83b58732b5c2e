"""Memory of `relais serve` while its model is swapped under load (the hot reload).

    .venv/bin/python bench/reload_memory.py [--models DIR] [--swaps 4] [--seconds 30] [--workers N]

Signed Meta deliveries are replayed by wrk (as in bench/ingest_throughput.py) while the current
model is switched back and forth with `relais models use`, each time waiting until /healthz names
the new version. Prints, per process of the server (web, intake child), the resident set before
the load and the peak resident set (VmHWM) at the end: during a reload the old model still answers
while the new one loads, so both are in memory for a moment. The issue's budget is 300 MB.

`--models DIR` is copied first (this script rewrites CURRENT) and must hold two versions or more:
for instance the work directory of `bench/learning_curve.py --keep DIR`, whose version retrained
with corrections is the larger model. By default, the shipped model and a copy of it under a
second version name.

Needs `wrk` (Debian package `wrk`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from ingest_throughput import (  # noqa: E402
    ROOT,
    SECRET,
    bodies,
    process_tree,
    role_of,
    start,
    status_kb,
    stop,
    wrk,
)

sys.path.insert(0, str(ROOT))

from classifier import artifacts  # noqa: E402


def relais_processes(server_pid: int) -> list[int]:
    """The server's Python processes (multiprocessing's resource tracker left out)."""
    out = []
    for p in process_tree(server_pid):
        try:
            cmdline = Path(f"/proc/{p}/cmdline").read_bytes()
        except OSError:
            continue
        if b"resource_tracker" not in cmdline:
            out.append(p)
    return out


def models_copy(source: Path | None, target: Path) -> list[str]:
    """A models directory in `target` with two versions or more; returns them, current first."""
    if source is not None:
        shutil.copytree(source, target)
    else:
        shutil.copytree(ROOT / "models", target)
        shipped = artifacts.current_version(target)
        if shipped is None:
            sys.exit("no shipped model in models/")
        clone = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-0e10ad00"
        shutil.copytree(target / shipped, target / clone)
        meta = json.loads((target / clone / "metadata.json").read_text())
        meta["version"] = clone
        (target / clone / "metadata.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    versions = [v["version"] for v in artifacts.list_versions(target)]
    current = artifacts.current_version(target)
    if len(versions) < 2 or current is None:
        sys.exit(f"{target} needs a current version and another one")
    others = [v for v in versions if v != current]
    return [current, others[-1]]


def health_version(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return json.loads(r.read()).get("model_version")
    except OSError:
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=Path, default=None, help="a models directory with two versions")
    ap.add_argument("--swaps", type=int, default=4)
    ap.add_argument("--seconds", type=int, default=30, help="how long wrk runs")
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    relais = str(ROOT / ".venv" / "bin" / "relais")
    tmp = Path(tempfile.mkdtemp(prefix="relais-reload-"))
    models = tmp / "models"
    first, second = models_copy(args.models, models)
    bodies_file = tmp / "bodies.txt"
    bodies(bodies_file, 150_000)
    env = {
        **os.environ,
        "RELAIS_META_APP_SECRET": SECRET,
        "RELAIS_DATABASE_URL": f"sqlite:///{tmp / 'relais.db'}",
        "RELAIS_MODELS_DIR": str(models),
    }
    port = 18092
    server = start([relais, "serve", "--port", str(port), "--workers", str(args.workers)], env, port)
    try:
        pids = relais_processes(server.pid)
        roles = {p: role_of(Path(f"/proc/{p}/stat").read_text()) for p in pids}
        before = {p: status_kb(p, "VmRSS") or 0 for p in pids}
        load: dict[str, float] = {}
        url = f"http://127.0.0.1:{port}"
        loader = threading.Thread(target=lambda: load.update(wrk(url, bodies_file, 0, args.seconds, 32)))
        loader.start()
        time.sleep(3)
        waits = []
        for k in range(args.swaps):
            target = second if k % 2 == 0 else first
            subprocess.run([relais, "models", "use", target], env=env, check=True, capture_output=True)
            asked = time.monotonic()
            while health_version(port) != target:
                if time.monotonic() - asked > 60:
                    sys.exit(f"the server did not pick up {target} within 60 s")
                time.sleep(0.1)
            waits.append(time.monotonic() - asked)
            time.sleep(1)
        loader.join()
        peak = {p: status_kb(p, "VmHWM") or 0 for p in pids}
    finally:
        stop(server)
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"models {first} <-> {second}: {args.swaps} swaps under load, each seen by /healthz after "
        f"{min(waits):.1f}-{max(waits):.1f} s"
    )
    print(f"wrk: {load.get('rps', 0):.0f} req/s, non-200 {load.get('non200', 0):.0f}")
    for p in pids:
        print(f"  {roles[p]:6s} pid {p}: RSS {before[p] / 1024:.0f} MB before the load, ", end="")
        print(f"peak {peak[p] / 1024:.0f} MB")
    print(f"largest peak {max(peak.values()) / 1024:.0f} MB (budget 300 MB)")


if __name__ == "__main__":
    main()
