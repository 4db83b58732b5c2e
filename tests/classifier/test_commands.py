import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from classifier import CATEGORIES, current_version, list_versions
from classifier.commands import classify_stream, evaluate_command, train_command
from tests.conftest import social_rows


def test_classify_stream_keeps_order_and_shape(models_dir: Path) -> None:
    lines = ["Vous livrez le dimanche ?", "", "My order never arrived!!", "😡", "merci"] * 7
    out = io.StringIO()
    count = classify_stream(models_dir, io.StringIO("\n".join(lines) + "\n"), out, batch_size=4)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert count == len(lines) == len(records)
    version = current_version(models_dir)
    for record in records:
        assert set(record) == {"category", "confidence", "scores", "language", "model_version"}
        assert record["category"] in CATEGORIES
        assert list(record["scores"]) == list(CATEGORIES)
        assert record["model_version"] == version
    # Same input line -> same output, wherever it sits in a batch.
    assert records[0] == records[5] == records[30]
    assert records[1]["language"] == "und"


def test_classify_stream_without_model_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        classify_stream(tmp_path, io.StringIO("hello\n"), io.StringIO())
    assert exit_info.value.code == 1
    assert "no promoted model" in capsys.readouterr().err


def test_evaluate_command_on_a_text_label_csv(models_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("text,label\nVous livrez le dimanche ?,question\nmerci beaucoup,other\nnot a row,\n")
    report = evaluate_command(models_dir, path)
    assert "2 rows" in report and "macro-F1" in report


def test_evaluate_names_each_language_without_a_language_column(models_dir: Path, tmp_path: Path) -> None:
    """`relais evaluate` used to show the language as "?" for a plain text,label file (issue 19)."""
    path = tmp_path / "labels.csv"
    path.write_text(
        "text,label\nVous livrez le dimanche matin ?,question\nMa commande est arrivée cassée,complaint\n"
        "Do you deliver on Sundays?,question\nMy parcel arrived broken,complaint\n"
    )
    block = evaluate_command(models_dir, path).split("by language")[1].split("by source")[0]
    names = [line.split()[0] for line in block.strip().splitlines()[1:]]
    assert names == ["en", "fr"], block


def test_train_command_writes_promotes_and_refuses_worse(
    tmp_path: Path, write_social_csv: Callable[[Path, list[tuple[str, str, str]]], None]
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    models = tmp_path / "models"
    write_social_csv(data_dir / "relais_social_test.csv", social_rows())
    version, promoted, text = train_command(models, data_dir, progress=False)
    assert promoted and current_version(models) == version
    assert "promoted" in text and "confusion" in text
    # Identical data: not worse, so a retrain is promoted too.
    second, promoted_again, _ = train_command(models, data_dir, progress=False)
    assert promoted_again and current_version(models) == second
    # Corrections that flip every question to "other": worse, so CURRENT stays put.
    flipped = [(f"Vous livrez le dimanche ? {i}", "other", 50.0) for i in range(25)]
    flipped += [(f"Do you ship to Canada? {i}", "other", 50.0) for i in range(25)]
    third, promoted_third, text_third = train_command(models, data_dir, extra=flipped, progress=False)
    assert not promoted_third and current_version(models) == second
    assert "kept" in text_third
    assert [v["version"] for v in list_versions(models)] == sorted([version, second, third])
    # force promotes anyway.
    fourth, forced, _ = train_command(models, data_dir, extra=flipped, force=True, progress=False)
    assert forced and current_version(models) == fourth
