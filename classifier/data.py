"""Training rows: loaders for the shipped public sets and the team's own social-media set.

Every loader returns `Row(text, label, lang, source, id)` with `label` one of `CATEGORIES`; rows
whose source label does not decide a class are dropped. The held-out split is a hash of the
source and the casefolded text, fixed once: it never changes across retrainings, and a message
that appears twice in a source (same text, two ids) is always on one side only.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from classifier.mappings import banking77_label, clinc150_label

CATEGORIES: tuple[str, ...] = ("question", "complaint", "suggestion", "other")

SHIPPED_PUBLIC: dict[str, str] = {
    "tizard2019_vlc_forum": "tizard2019_vlc_forum.csv",
    "miam_loria_fr": "miam_loria_fr.csv",
    "banking77": "banking77.csv",
    "clinc150": "clinc150.csv",
}
# Development and measurement only (licence): never in data/, never in the shipped model.
DEV_ONLY: dict[str, str] = {
    "scalabrino2017_clap": "scalabrino2017_clap.csv",
    "semeval2019t9": "semeval2019t9.csv",
    "dailydialog_acts": "dailydialog_acts.csv",
}
# Real French customer traffic without a licence: measurement and development-time study only,
# never in data/, never a token of the shipped model (vocabulary, vectors, statistics).
REAL_FR: dict[str, str] = {
    "engie_tweets_fr": "engie_tweets_fr.csv",
    "cdiscount_reviews_fr": "cdiscount_reviews_fr.csv",
}
REAL_FR_UNLABELLED = "cdiscount_reviews_fr_unlabelled.csv"
SOCIAL_SOURCE = "relais_social"
SOCIAL_GLOB = "relais_social_*.csv"
TEST_FRACTION = 0.2


class Row(NamedTuple):
    text: str
    label: str
    lang: str
    source: str
    id: str


def split_key(source: str, text: str) -> str:
    """The string the held-out split hashes: source and casefolded, space-collapsed text."""
    return f"{source}:{' '.join(text.casefold().split())}"


def hash_fraction(row: Row) -> float:
    """Where the row's split key falls in [0, 1): fixed, the same in every training."""
    digest = hashlib.sha1(split_key(row.source, row.text).encode("utf-8")).hexdigest()
    return int(digest[:8], 16) / 0x1_0000_0000


def is_test(row: Row) -> bool:
    """True for the fixed held-out ~20 % of rows."""
    return hash_fraction(row) < TEST_FRACTION


def split_rows(rows: Iterable[Row]) -> tuple[list[Row], list[Row]]:
    """(train, test) by the fixed hash split."""
    train: list[Row] = []
    test: list[Row] = []
    for row in rows:
        (test if is_test(row) else train).append(row)
    return train, test


def _public_label(source: str, record: dict[str, str]) -> str:
    if source == "banking77":
        return banking77_label(record["label_orig"])
    if source == "clinc150":
        return clinc150_label(record["label_orig"])
    return record["label4"].strip()


def load_public(path: Path, *, keep_unlabelled: bool = False) -> list[Row]:
    """Rows of one file in the shared public format (source,id,split,lang,text,label_orig,label4)."""
    rows: list[Row] = []
    with path.open(newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            source = record["source"]
            label = _public_label(source, record)
            if label not in CATEGORIES and not keep_unlabelled:
                continue
            rows.append(Row(record["text"], label, record["lang"], source, record["id"]))
    return rows


def load_social(path: Path) -> list[Row]:
    """Rows of one of the team's own files (id,lang,kind,sector,text,label)."""
    rows: list[Row] = []
    with path.open(newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            label = (record.get("label") or "").strip().lower()
            text = record.get("text") or ""
            if label in CATEGORIES and text.strip():
                rows.append(Row(text, label, (record.get("lang") or "").strip(), SOCIAL_SOURCE, record["id"]))
    return rows


def load_labelled_csv(path: Path) -> list[Row]:
    """Rows of any CSV with at least `text,label` columns (for evaluation of exported labels)."""
    rows: list[Row] = []
    with path.open(newline="", encoding="utf-8") as handle:
        for index, record in enumerate(csv.DictReader(handle)):
            label = (record.get("label") or record.get("label4") or "").strip().lower()
            if label in CATEGORIES:
                source = record.get("source") or path.stem
                rows.append(
                    Row(
                        record["text"],
                        label,
                        (record.get("lang") or record.get("language") or "").strip().lower(),
                        source,
                        record.get("id") or str(index),
                    )
                )
    return rows


def load_training_rows(data_dir: Path) -> list[Row]:
    """All shippable labelled rows under `data_dir` (public sets present + own social files)."""
    never = [*DEV_ONLY.values(), *REAL_FR.values(), REAL_FR_UNLABELLED]
    forbidden = [name for name in never if (data_dir / name).exists()]
    if forbidden:
        raise ValueError(f"development-only data must not be in {data_dir}: {', '.join(forbidden)}")
    rows: list[Row] = []
    for filename in SHIPPED_PUBLIC.values():
        path = data_dir / filename
        if path.exists():
            rows.extend(load_public(path))
    for path in sorted(data_dir.glob(SOCIAL_GLOB)):
        rows.extend(load_social(path))
    return rows


def fingerprint(rows: Iterable[tuple[str, str, str, str]]) -> str:
    """sha256 over (text, label, source, id) of the rows, in order."""
    digest = hashlib.sha256()
    for text, label, source, row_id in rows:
        digest.update("\x1f".join((text, label, source, row_id)).encode("utf-8"))
        digest.update(b"\x1e")
    return digest.hexdigest()


def counts_by_source(rows: Sequence[Row]) -> dict[str, int]:
    """Number of rows per source, sorted by source name."""
    return dict(sorted(Counter(row.source for row in rows).items()))


def sample_weights(
    rows: Sequence[Row],
    source_shares: dict[str, float],
    default_share: float,
    class_power: float,
    *,
    by_language: bool = False,
) -> list[float]:
    """Weights so each source contributes its share of the total, with classes partly rebalanced.

    A source's rows share `source_shares[source]` (or `default_share`) of the total weight,
    whatever their number; class totals are then flattened by
    `(mean class total / class total) ** class_power`, within each language when `by_language`
    (each language keeps its total weight: French text is not pulled towards the class its
    largest source labels most). Weights are scaled to a mean of 1.
    """
    per_source = Counter(row.source for row in rows)
    weights = [source_shares.get(r.source, default_share) / per_source[r.source] for r in rows]

    def group(row: Row) -> tuple[str, str]:
        return (row.lang if by_language else "", row.label)

    totals: dict[tuple[str, str], float] = {}
    for row, weight in zip(rows, weights, strict=True):
        totals[group(row)] = totals.get(group(row), 0.0) + weight
    factors: dict[tuple[str, str], float] = {}
    for language in {lang for lang, _ in totals}:
        keys = [key for key in totals if key[0] == language]
        mean_total = sum(totals[key] for key in keys) / len(keys)
        factors.update({key: (mean_total / totals[key]) ** class_power for key in keys})
    weights = [w * factors[group(r)] for r, w in zip(rows, weights, strict=True)]
    scale = len(weights) / sum(weights)
    return [w * scale for w in weights]
