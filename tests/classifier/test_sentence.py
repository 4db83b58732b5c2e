"""The sentence vectors the knowledge base is matched with: unit length, closer for the same
question asked in other words than for another question, statistics rebuilt byte for byte from
the shipped data without banking77."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from classifier import sentence
from classifier.data import load_training_rows

ROOT = Path(__file__).resolve().parents[2]


def test_vectors_are_unit_length_and_zero_for_no_known_token() -> None:
    out = sentence.shipped().encode(["where is my card?", "", "zzqxv"])
    assert np.allclose(np.linalg.norm(out[0]), 1.0, atol=1e-5)
    assert not out[1].any() and not out[2].any()


def test_a_paraphrase_is_nearer_than_another_question() -> None:
    a, b, c = sentence.shipped().encode(
        [
            "My card has not arrived yet",
            "I am still waiting for the card you sent me",
            "How do I change my password?",
        ]
    )
    assert a @ b > a @ c


def test_the_statistics_are_rebuilt_to_the_same_bytes_without_banking77(tmp_path: Path) -> None:
    rows = load_training_rows(ROOT / "data")
    texts = sentence.background_texts(ROOT / "data")
    assert any(r.source == "banking77" for r in rows)
    assert len(texts) == sum(r.source != "banking77" for r in rows)
    mean, whiten = sentence.statistics(texts)
    out = tmp_path / "sentence.npz"
    sentence.write_stats(out, {"mean": mean, "whiten": whiten})
    digest = hashlib.sha256(out.read_bytes()).hexdigest()  # a byte diff of 245 KB takes minutes to print
    assert digest == hashlib.sha256(sentence.STATS_FILE.read_bytes()).hexdigest()
