"""The figures a user of a trusted system expects, measured by the chaos suite (tests/chaos/) at
its long scale: forged deliveries refused, parser fuzz cases without a crash, API calls answered
as documented, acknowledged deliveries lost and replies posted twice under SIGKILL, good
deliveries failed or stalled by poison, secrets in logs.

    .venv/bin/python bench/reliability.py            # the long run (about an hour on 2 cores)
    .venv/bin/python bench/reliability.py --short    # what `make test` runs in CI
    .venv/bin/python bench/reliability.py -k forgery # one part

Each figure is printed as the tests record it, with the test that produced it; the exit status is
pytest's (non-zero when a check failed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="the CI scale instead of the long one")
    parser.add_argument("-k", default=None, help="pytest -k expression: run only matching checks")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "figures.jsonl"
        env = {
            **os.environ,
            "RELAIS_CHAOS_SCALE": "short" if args.short else "long",
            "RELAIS_CHAOS_REPORT": str(report),
        }
        command = [
            sys.executable,
            "-m",
            "pytest",
            "tests/chaos",
            "-q",
            "-p",
            "no:cacheprovider",
            "--timeout",
            "7200",
        ]
        if args.k:
            command += ["-k", args.k]
        started = time.monotonic()
        code = subprocess.call(command, cwd=ROOT, env=env)
        elapsed = time.monotonic() - started
        rows = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
    scale = "short" if args.short else "long"
    print(f"\nreliability figures ({scale} scale, {elapsed:.0f} s, pytest exit {code})")
    for row in rows:
        test = row.pop("test")
        name = row.pop("name")
        values = ", ".join(f"{k} {v}" for k, v in row.items())
        print(f"- {name}: {values}\n    ({test})")
    return code


if __name__ == "__main__":
    sys.exit(main())
