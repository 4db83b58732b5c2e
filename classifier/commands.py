"""Command functions behind the `relais` CLI (the CLI itself lives in the app)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from classifier import artifacts
from classifier.artifacts import current_version, load_current, load_version, save_model
from classifier.data import load_labelled_csv, load_training_rows, split_rows
from classifier.evaluate import evaluation_report, format_report
from classifier.promotion import Verdict, judge
from classifier.train import Extra, Judged, held_out_keys, split_extra, split_judged, train_model


class NoModel(SystemExit):
    """Raised (exit code 1) when a command needs a model and none is promoted."""


def classify_stream(models_dir: Path, infile: TextIO, outfile: TextIO, batch_size: int = 4096) -> int:
    """One message per input line -> one JSON object per output line, in order; returns the count."""
    model = load_current(models_dir)
    if model is None:
        print(f"error: no promoted model in {models_dir} (train one first)", file=sys.stderr)
        raise NoModel(1)
    count = 0
    batch: list[str] = []

    def flush() -> None:
        for p in model.predict(batch):
            record = {
                "category": p.category,
                "confidence": p.confidence,
                "scores": p.scores,
                "language": p.language,
                "model_version": p.model_version,
            }
            outfile.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        batch.clear()

    for line in infile:
        batch.append(line.rstrip("\r\n"))
        count += 1
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    outfile.flush()
    return count


def train_command(
    models_dir: Path,
    data_dir: Path,
    *,
    extra: Sequence[Extra] | None = None,
    received: Sequence[str] = (),
    judged: Sequence[Judged] = (),
    force: bool = False,
    promote: bool = True,
    progress: bool = True,
    hyperparameters: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
) -> tuple[str, bool, str]:
    """Train on `data_dir`, save a new version, promote it if not worse than CURRENT (or `force`).

    CURRENT is measured on the same held-out rows, held-out corrections and held-out rows of the
    reviewed traffic (`judged`) as the new version, and both predict the `received` messages;
    `classifier.promotion.judge` decides, and the version's metadata records the verdict
    ("promotion"). `received` (texts of received messages, no
    labels) and `provenance` (recorded as "feedback") are passed to `train_model`.
    Returns (version, promoted, report text including the promotion reason).
    """
    rows = load_training_rows(data_dir)
    if not rows:
        raise ValueError(f"no training rows in {data_dir}")
    model, report = train_model(
        rows,
        extra=extra or (),
        received=received,
        judged=judged,
        hyperparameters=hyperparameters,
        progress=progress,
        provenance=provenance,
    )
    text = format_report(report)
    held_domain = report.get("domain")
    if held_domain:
        per = " ".join(f"{label}={v['f1']:.3f}" for label, v in held_domain["per_class"].items())
        text += (
            f"\n\nheld-out rows of the reviewers' domain (never trained on): {held_domain['rows']} rows, "
            f"accuracy {held_domain['accuracy']:.3f}, macro-F1 {held_domain['macro_f1']:.3f}  {per}"
        )
    current = current_version(models_dir)
    current_report = None
    if current is None:
        verdict = Verdict(True, "no current model", {})
    else:
        _, test = split_rows(rows)
        _, held_corrections = split_extra(extra or (), held=held_out_keys(judged))
        current_model = load_version(models_dir, current)
        current_report = evaluation_report(current_model, test)
        if held_corrections:
            current_report["corrections"] = evaluation_report(current_model, held_corrections)
        verdict = judge(
            model,
            current_model,
            new_report=report,
            current_report=current_report,
            shipped=test,
            domain=split_judged(judged),
            received=received,
            reviewed=[label for _, label in judged],
            from_reviewers=bool(extra or judged),
        )
    ok, reason = verdict.ok, verdict.reason
    model.metadata["promotion"] = {"compared_with": current, "ok": ok, "reason": reason, **verdict.details}
    save_model(models_dir, model.pipeline, model.metadata)
    promoted = promote and (ok or force)
    if promoted:
        artifacts.promote(models_dir, model.version)
        verdict_text = f"promoted {model.version}" + (" (forced)" if force and not ok else "") + f": {reason}"
    else:
        verdict_text = (
            f"kept {current} as current: {reason}" if promote else f"not promoted (promote=False): {reason}"
        )
    if current_report is not None:
        verdict_text += (
            f"\ncurrent {current} on the same held-out rows: macro-F1 {current_report['macro_f1']:.4f}"
        )
        held = current_report.get("corrections")
        if held:
            verdict_text += (
                f"; on the {held['rows']} held-out corrections: accuracy {held['accuracy']:.4f}, "
                f"macro-F1 {held['macro_f1']:.4f}"
            )
    return model.version, promoted, text + "\n\n" + verdict_text


def evaluate_command(models_dir: Path, csv_path: Path) -> str:
    """Report of the current model on any CSV with `text,label` columns."""
    model = load_current(models_dir)
    if model is None:
        print(f"error: no promoted model in {models_dir} (train one first)", file=sys.stderr)
        raise NoModel(1)
    rows = load_labelled_csv(csv_path)
    if not rows:
        raise ValueError(f"{csv_path} has no rows with a label among the four classes")
    return format_report(evaluation_report(model, rows))
