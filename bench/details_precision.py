"""How often the customer-details extractor (app/drafts/details.py) finds each kind on real French
traffic, whether an order number ever overlaps a price, a date or a phone number, and a random
sample of order numbers in their context to judge by eye.

    .venv/bin/python bench/details_precision.py [--shared /work/shared/data] [--sample 40]
"""

from __future__ import annotations

import argparse
import collections
import csv
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.drafts.details import _AMOUNT, _DATE, _PHONE_FR, NAMES, extract  # noqa: E402

SOURCES = (
    "cdiscount_reviews_fr",
    "engie_tweets_fr",
    "cdiscount_replies_fr",
    "cdiscount_reviews_fr_unlabelled",
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=Path("/work/shared/data"))
    parser.add_argument("--sample", type=int, default=40)
    args = parser.parse_args()
    csv.field_size_limit(10**8)
    sample: list[tuple[str, str]] = []
    overlaps = orders = 0
    for name in SOURCES:
        path = args.shared / f"{name}.csv"
        if not path.exists():
            continue
        with path.open(newline="") as f:
            texts = [r["text"] for r in csv.DictReader(f)]
        found: collections.Counter[str] = collections.Counter()
        for text in texts:
            d = extract(text)
            found.update(n for n in NAMES if getattr(d, n))
            if d.order_number:
                orders += 1
                i = text.find(d.order_number)
                spans = [m.span() for p in (_AMOUNT, _DATE, _PHONE_FR) for m in p.finditer(text)]
                if any(a <= i < b or a < i + len(d.order_number) <= b for a, b in spans):
                    overlaps += 1
                sample.append((d.order_number, text[max(0, i - 40) : i + len(d.order_number) + 20]))
        share = ", ".join(f"{n} {found[n]} ({found[n] / len(texts):.1%})" for n in NAMES)
        print(f"{name}: {len(texts)} texts; {share}")
    print(f"order numbers: {orders}, overlapping a price, date or phone number: {overlaps}")
    random.seed(0)
    for order, context in random.sample(sample, min(args.sample, len(sample))):
        print(f"  {order!r:24} | {context.replace(chr(10), ' ')}")


if __name__ == "__main__":
    main()
