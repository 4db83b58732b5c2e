"""False positives of the spam and abuse rules (app/spam.py) on real traffic, where almost nothing
is spam: every flagged message is printed to be judged, with the share of real complaints flagged.

    .venv/bin/python bench/spam_rules.py [--shared /work/shared/data]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.spam import is_spam  # noqa: E402

SOURCES = (
    "engie_tweets_fr",
    "cdiscount_reviews_fr",
    "cdiscount_reviews_fr_unlabelled",
    "cdiscount_replies_fr",
    "scalabrino2017_clap",
    "tizard2019_vlc_forum",
    "semeval2019t9",
    "miam_loria_fr",
    "banking77",
    "clinc150",
    "dailydialog_acts",
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=Path("/work/shared/data"))
    args = parser.parse_args()
    csv.field_size_limit(10**8)
    total = flagged_total = complaints = flagged_complaints = 0
    for name in SOURCES:
        path = args.shared / f"{name}.csv"
        if not path.exists():
            continue
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        flagged = [r for r in rows if is_spam(r["text"])]
        n_complaints = sum(r.get("label4") == "complaint" for r in rows)
        n_flagged_complaints = sum(r.get("label4") == "complaint" for r in flagged)
        total, flagged_total = total + len(rows), flagged_total + len(flagged)
        complaints, flagged_complaints = complaints + n_complaints, flagged_complaints + n_flagged_complaints
        print(
            f"{name}: {len(rows)} messages, {len(flagged)} flagged "
            f"({n_flagged_complaints} of {n_complaints} complaints)"
        )
        for r in flagged:
            print(f"    {r.get('label4') or '-':10} | {r['text'][:150]!r}")
    print(
        f"all: {flagged_total} of {total} flagged; complaints flagged: {flagged_complaints} of {complaints}"
    )


if __name__ == "__main__":
    main()
