from pathlib import Path

import pytest

from classifier.data import (
    CATEGORIES,
    Row,
    fingerprint,
    is_test,
    load_training_rows,
    sample_weights,
    split_rows,
)
from classifier.mappings import banking77_label, clinc150_label


def test_hash_split_is_stable_disjoint_and_about_a_fifth(data_dir: Path) -> None:
    rows = load_training_rows(data_dir)
    train, test = split_rows(rows)
    again_train, again_test = split_rows(list(reversed(rows)))
    assert {r.id + r.source for r in test} == {r.id + r.source for r in again_test}
    assert not {(r.source, r.id) for r in train} & {(r.source, r.id) for r in test}
    assert 0.17 < len(test) / len(rows) < 0.23
    # A text duplicated within a source never straddles the split.
    side: dict[tuple[str, str], bool] = {}
    for row in rows:
        key = (row.source, " ".join(row.text.casefold().split()))
        assert side.setdefault(key, is_test(row)) == is_test(row)


def test_split_does_not_depend_on_label_or_id() -> None:
    a = Row("My card is not working", "complaint", "en", "banking77", "1")
    b = Row("My card is not working", "question", "en", "banking77", "2")
    assert is_test(a) == is_test(b)


def test_labels_are_the_four_categories(data_dir: Path) -> None:
    rows = load_training_rows(data_dir)
    assert {r.label for r in rows} == set(CATEGORIES)


def test_dev_only_data_in_data_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "semeval2019t9.csv").write_text("source,id,split,lang,text,label_orig,label4\n")
    with pytest.raises(ValueError, match="development-only"):
        load_training_rows(tmp_path)


@pytest.mark.parametrize(
    "name", ["engie_tweets_fr.csv", "cdiscount_reviews_fr.csv", "cdiscount_reviews_fr_unlabelled.csv"]
)
def test_real_french_traffic_in_data_dir_is_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("source,id,split,lang,text,label_orig,label4\n")
    with pytest.raises(ValueError, match=name):
        load_training_rows(tmp_path)


def test_intent_mappings() -> None:
    assert banking77_label("transaction_charged_twice") == "complaint"
    assert banking77_label("declined_card_payment") == "complaint"
    assert banking77_label("card_arrival") == "question"
    assert clinc150_label("thank_you") == "other"
    assert clinc150_label("oos") == "other"
    assert clinc150_label("card_declined") == "complaint"
    assert clinc150_label("book_flight") == "question"


def test_fingerprint_changes_with_any_field() -> None:
    base = [("hello", "other", "s", "1")]
    assert fingerprint(base) == fingerprint(list(base))
    assert fingerprint(base) != fingerprint([("hello", "question", "s", "1")])
    assert fingerprint(base) != fingerprint([("hello", "other", "s", "2")])


def test_sample_weights_give_each_source_its_share() -> None:
    rows = [Row(f"a{i}", "question", "en", "big", str(i)) for i in range(900)]
    rows += [Row(f"b{i}", "question", "en", "small", str(i)) for i in range(100)]
    weights = sample_weights(rows, {"big": 0.5, "small": 0.5}, 0.1, 0.0)
    big = sum(w for r, w in zip(rows, weights, strict=True) if r.source == "big")
    small = sum(w for r, w in zip(rows, weights, strict=True) if r.source == "small")
    assert big == pytest.approx(small)
    assert sum(weights) == pytest.approx(len(rows))
