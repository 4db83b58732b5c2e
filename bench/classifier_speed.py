"""Speed and memory of the shipped triage model on one core.

    OMP_NUM_THREADS=1 .venv/bin/python bench/classifier_speed.py [--models models] [--lines 100000]

Prints batch throughput (model.predict over 100,000 messages, batches of 4,096 as classify_stream
does), single-message latency p50/p99 (model.predict([text])), load time and RSS after load; then
the refine pass's cost (`--refine N`, default 2,000 messages): the encoder and the refining head
in batches of 32 on this one core (`ModelHolder.refine`, as the context pass calls it), and the
RSS of a process that serves the model and refines.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import random  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from classifier import load_current  # noqa: E402
from classifier.data import load_training_rows  # noqa: E402


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


_SERVER_PROBE = """
import sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from classifier import load_current
model = load_current(Path({models!r}))
model.predict(["Bonjour, ma commande n'est pas arrivée ?"] * 4096)
status = dict(l.split(":", 1) for l in Path("/proc/self/status").read_text().splitlines())
print(int(status["VmRSS"].split()[0]) // 1024, int(status["VmHWM"].split()[0]) // 1024)
"""

_REFINER_PROBE = """
import sys
from pathlib import Path
sys.path.insert(0, {repo!r})
import app.main
from app.triage import ModelHolder
holder = ModelHolder(Path({models!r}), 0.55, refine=True)
holder.classify(["Bonjour, ma commande n'est pas arrivée ?"] * 4096)
holder.refine(["Bonjour, ma commande n'est pas arrivée ?"] * 32)
status = dict(l.split(":", 1) for l in Path("/proc/self/status").read_text().splitlines())
print(int(status["VmRSS"].split()[0]) // 1024, int(status["VmHWM"].split()[0]) // 1024)
"""


def server_rss(models: Path, probe: str = _SERVER_PROBE) -> tuple[int, int]:
    """(RSS, peak RSS) in MB of a fresh process that only loads the model and predicts one batch
    (with `_REFINER_PROBE`: the whole app imported, and one batch refined too)."""
    code = probe.format(repo=str(REPO), models=str(models))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    rss, peak = out.split()
    return int(rss), int(peak)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=Path, default=REPO / "models")
    parser.add_argument("--data", type=Path, default=REPO / "data")
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--refine", type=int, default=2000, help="messages refined (0: skip)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    texts = [r.text for r in load_training_rows(args.data)]
    random.Random(0).shuffle(texts)
    stream = (texts * (args.lines // len(texts) + 1))[: args.lines]
    before = rss_mb()
    started = time.perf_counter()
    model = load_current(args.models)
    if model is None:
        raise SystemExit("no model in models/CURRENT")
    load_seconds = time.perf_counter() - started
    after_load = rss_mb()
    model.predict(stream[:2000])  # warm caches

    started = time.perf_counter()
    for i in range(0, len(stream), args.batch):
        model.predict(stream[i : i + args.batch])
    batch_seconds = time.perf_counter() - started

    latencies = []
    for text in stream[:3000]:
        t0 = time.perf_counter()
        model.predict([text])
        latencies.append(time.perf_counter() - t0)
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    size_mb = sum(f.stat().st_size for f in (args.models / model.version).iterdir()) / 1e6
    print(f"model {model.version}  ({size_mb:.1f} MB on disk)")
    print(f"load time                 {load_seconds:8.2f} s")
    server, server_peak = server_rss(args.models)
    print(
        f"server-like process RSS   {server:8d} MB (peak {server_peak} MB): "
        "import + load + one batch of 4,096"
    )
    print(
        f"this process: RSS before load {before:.1f} MB (benchmark data), after load {after_load:.1f} MB, "
        f"after the benchmark {rss_mb():.1f} MB"
    )
    print(
        f"batch throughput          {len(stream) / batch_seconds:8.0f} messages/s  "
        f"({len(stream)} messages, batches of {args.batch})"
    )
    print(f"single message latency    p50 {p50:.3f} ms   p99 {p99:.3f} ms")
    print(
        f"targets: >= 20,000 msg/s {'MET' if len(stream) / batch_seconds >= 20_000 else 'NOT MET'}; "
        f"p50 <= 1 ms {'MET' if p50 <= 1 else 'NOT MET'}; "
        f"RSS < 300 MB {'MET' if server_peak < 300 else 'NOT MET'}"
    )
    if args.refine:
        from app.triage import ModelHolder

        holder = ModelHolder(args.models, 0.55, refine=True)
        holder.refine(stream[:32])  # loads the encoder
        sample = stream[: args.refine]
        started = time.perf_counter()
        for i in range(0, len(sample), 32):
            holder.refine(sample[i : i + 32])
        seconds = time.perf_counter() - started
        refiner, refiner_peak = server_rss(args.models, _REFINER_PROBE)
        print(
            f"refine pass               {len(sample) / seconds:8.1f} messages/s on one core "
            f"({seconds / len(sample) * 1000:.1f} ms a message, batches of 32)"
        )
        print(
            f"serving + refining RSS    {refiner:8d} MB (peak {refiner_peak} MB): the app imported, "
            "one batch classified and one refined; target <= 350 MB "
            f"{'MET' if refiner_peak <= 350 else 'NOT MET'}"
        )


if __name__ == "__main__":
    main()
