"""Command functions behind the `relais` CLI (the CLI itself lives in the app)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from classifier import artifacts, encoder
from classifier.artifacts import current_version, load_current, load_version, save_model
from classifier.data import load_labelled_csv, load_training_rows, split_rows
from classifier.evaluate import evaluation_report, format_report
from classifier.model import Scorer, TriageModel
from classifier.promotion import Verdict, judge
from classifier.refine import reading
from classifier.train import Extra, Judged, held_out_keys, split_extra, split_judged, train_model


class NoModel(SystemExit):
    """Raised (exit code 1) when a command needs a model and none is promoted."""


# Embeddings of the texts trained and measured on that the shipped cache lacks (the reviewers'
# corrections, a CSV's rows), kept beside the versions between trainings.
LOCAL_CACHE_FILE = "encoder-cache.npz"
# The received messages the promotion gate predicts with both versions refined (`judge`'s
# dropped-class check): encoding is tens of milliseconds a text, the n-grams read 5,000.
REFINED_RECEIVED = 1000


def embedding_cache(models_dir: Path, refine: bool) -> encoder.EmbeddingCache | None:
    """The encoder's cache for `models_dir`, or None when refining is off or not installed."""
    if not refine or not encoder.available():
        return None
    return encoder.EmbeddingCache(models_dir / LOCAL_CACHE_FILE)


def _current(models_dir: Path) -> TriageModel:
    model = load_current(models_dir)
    if model is None:
        print(f"error: no promoted model in {models_dir} (train one first)", file=sys.stderr)
        raise NoModel(1)
    return model


def classify_stream(
    models_dir: Path, infile: TextIO, outfile: TextIO, batch_size: int = 4096, *, refine: bool = True
) -> int:
    """One message per input line -> one JSON object per output line, in order; returns the count.

    With `refine` (and a model with a head) each category is the refined one, as reviewers see it
    after the refine pass (tens of milliseconds a message); without, the intake's."""
    cache = embedding_cache(models_dir, refine)
    model = reading(_current(models_dir), cache)
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
    if cache is not None:
        cache.save_local()
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
    refine: bool = True,
) -> tuple[str, bool, str]:
    """Train on `data_dir`, save a new version, promote it if not worse than CURRENT (or `force`).

    CURRENT is measured on the same held-out rows, held-out corrections and held-out rows of the
    reviewed traffic (`judged`) as the new version, and both predict the `received` messages;
    `classifier.promotion.judge` decides, and the version's metadata records the verdict
    ("promotion"). `received` (texts of received messages, no
    labels) and `provenance` (recorded as "feedback") are passed to `train_model`. With `refine`
    the new version gets a refining head and both versions are judged refined (`classifier.refine`).
    Returns (version, promoted, report text including the promotion reason).
    """
    rows = load_training_rows(data_dir)
    if not rows:
        raise ValueError(f"no training rows in {data_dir}")
    cache = embedding_cache(models_dir, refine)
    model, report = train_model(
        rows,
        extra=extra or (),
        received=received,
        judged=judged,
        hyperparameters=hyperparameters,
        progress=progress,
        provenance=provenance,
        embeddings=cache,
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
        current_model: Scorer = reading(load_version(models_dir, current), cache)
        current_report = evaluation_report(current_model, test)
        if held_corrections:
            current_report["corrections"] = evaluation_report(current_model, held_corrections)
        verdict = judge(
            reading(model, cache),
            current_model,
            new_report=report,
            current_report=current_report,
            shipped=test,
            domain=split_judged(judged),
            # refined, each received text is encoded once (then cached): the latest ones suffice
            received=received if cache is None else list(received)[-REFINED_RECEIVED:],
            reviewed=[label for _, label in judged],
            from_reviewers=bool(extra or judged),
        )
    ok, reason = verdict.ok, verdict.reason
    model.metadata["promotion"] = {"compared_with": current, "ok": ok, "reason": reason, **verdict.details}
    save_model(models_dir, model.pipeline, model.metadata, model.head)
    if cache is not None:
        cache.save_local()
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


def evaluate_command(models_dir: Path, csv_path: Path, *, refine: bool = True) -> str:
    """Report of the current model (refined, as `classify_stream`) on any CSV with `text,label` columns."""
    model = _current(models_dir)
    rows = load_labelled_csv(csv_path)
    if not rows:
        raise ValueError(f"{csv_path} has no rows with a label among the four classes")
    cache = embedding_cache(models_dir, refine)
    report = format_report(evaluation_report(reading(model, cache), rows))
    if cache is not None:
        cache.save_local()
    return report
