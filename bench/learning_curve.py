"""A community manager teaches Relais a domain it has never seen, through the API.

    .venv/bin/python bench/learning_curve.py [--domain NAME|PATH] [--steps 20,50,100,200,300]
                                             [--reviewer queue|corrects|label] [--keep DIR]

Starts from a copy of the shipped model in a temporary models directory and the app in-process
(`TestClient(create_app(settings))` on a temporary SQLite file). The domain (a development-only
set, `--domain` a name in /work/shared/data such as `cdiscount_reviews_fr` or `engie_tweets_fr`,
or a CSV path in the same format; never in `data/` nor in the shipped model) is split once, by a
hash of the text, into a pool and a fixed test part. The whole pool arrives through the signed
Meta webhook in a fixed random order (the test part never does: the model is measured on messages
it never received); a reviewer works the queue in arrival order:

- `queue`: a message whose category is wrong, or that was left *to sort*, gets its true label with
  `PATCH /api/messages/{id}` (a correction); one whose category is right has its draft approved
  unedited (`POST /api/drafts/{id}/approve`, a confirmation);
- `corrects`: the same corrections, and nothing done to the right ones (left as sorted);
- `label`: the first messages get their true label with `PATCH`, right or wrong, nothing approved;

until each step's number of corrections. After each step the code path of `relais train` runs:
`train_command(models_dir, data_dir, extra=feedback.examples, received=feedback.received,
judged=feedback.judged)` with `feedback = app.learning.feedback(settings)`, and the promotion gate
(`classifier.promotion`) decides. A step is measured on the **current** model after it (a refused
version leaves the figure where it was; the refused candidate's own figure is printed beside it):
macro-F1 over the classes present on the domain's test part, and on the shipped held-out rows.
Categories are the refined ones (classifier/refine.py): the context pass refines the pool after
it arrives, so the reviewer works what the queue shows, and models are measured refined; `--fast`
turns refining off everywhere (RELAIS_REFINE=false). If the pool runs out first, the last step is
the corrections reached. Results: docs/experiments/learning.md.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import select  # noqa: E402

from app import db, learning  # noqa: E402
from app.config import Settings  # noqa: E402
from app.drafts.context import ContextPass  # noqa: E402
from app.main import create_app  # noqa: E402
from app.models import Draft, Message  # noqa: E402
from app.users import service as users  # noqa: E402
from classifier import artifacts  # noqa: E402
from classifier.commands import LOCAL_CACHE_FILE, embedding_cache, train_command  # noqa: E402
from classifier.data import CATEGORIES, Row, load_public, load_training_rows, split_rows  # noqa: E402
from classifier.evaluate import evaluation_report  # noqa: E402
from classifier.model import Scorer  # noqa: E402
from classifier.refine import reading  # noqa: E402

SHARED = Path("/work/shared/data")
META_SECRET = "bench-meta-app-secret"
TEST_SHARE = 0.4


def fb_comment(comment_id: str, text: str) -> bytes:
    now = int(time.time())
    return json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": "1111",
                    "time": now,
                    "changes": [
                        {
                            "field": "feed",
                            "value": {
                                "from": {"id": "5555", "name": "Camille Martin"},
                                "message": text,
                                "post_id": "1111_2222",
                                "comment_id": comment_id,
                                "parent_id": "1111_2222",
                                "created_time": now,
                                "item": "comment",
                                "verb": "add",
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()


def meta_headers(body: bytes) -> dict[str, str]:
    sig = hmac.new(META_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={sig}"}


def domain_split(rows: list[Row]) -> tuple[list[Row], list[Row]]:
    """(pool in a fixed random order, test part): by a hash of the text, fixed across runs."""
    pool, test = [], []
    seen: set[str] = set()
    for row in rows:
        key = " ".join(row.text.casefold().split())
        if not key or key in seen:
            continue
        seen.add(key)
        digest = int(hashlib.sha1(f"learning-curve:{key}".encode()).hexdigest()[:8], 16) / 0x1_0000_0000
        (test if digest < TEST_SHARE else pool).append(row)
    random.Random(11).shuffle(pool)
    return pool, test


def per_class(report: dict[str, Any]) -> str:
    return " ".join(f"{k}={v['f1']:.3f}" for k, v in report["per_class"].items())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--domain", default="cdiscount_reviews_fr", help="a name in /work/shared/data or a CSV path"
    )
    parser.add_argument("--steps", default="20,50,100,200,300")
    parser.add_argument("--weight", type=float, default=None, help="override CORRECTION_WEIGHT")
    parser.add_argument(
        "--confirmation-weight", type=float, default=None, help="override CONFIRMATION_WEIGHT"
    )
    parser.add_argument(
        "--no-received",
        dest="received",
        action="store_false",
        help="fit the domain gate on the corrections only, not on every received message",
    )
    parser.add_argument(
        "--reviewer",
        choices=("queue", "corrects", "label"),
        default="queue",
        help="queue: she works the queue in arrival order, corrects a wrong (or unsure) category and "
        "approves the draft of a right one, until each step's number of corrections; corrects: the "
        "same without approving anything; label: she gives the first N messages their label, right "
        "or wrong",
    )
    parser.add_argument(
        "--no-retrain",
        dest="retrain",
        action="store_false",
        help="skip the model retrained without corrections (a reference line only)",
    )
    parser.add_argument("--data", type=Path, default=REPO / "data")
    parser.add_argument("--keep", type=Path, default=None, help="work in DIR and keep it")
    parser.add_argument("--fast", action="store_true", help="no refine pass: the intake's categories")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    if args.weight is not None:
        learning.CORRECTION_WEIGHT = args.weight
    if args.confirmation_weight is not None:
        learning.CONFIRMATION_WEIGHT = args.confirmation_weight

    path = Path(args.domain) if args.domain.endswith(".csv") else SHARED / f"{args.domain}.csv"
    domain = [r for r in load_public(path) if r.label in CATEGORIES]
    pool, domain_test = domain_split(domain)
    _, shipped_test = split_rows(load_training_rows(args.data))

    work = args.keep or Path(tempfile.mkdtemp(prefix="relais-curve-"))
    work.mkdir(parents=True, exist_ok=True)
    models_dir = work / "models"
    shipped = artifacts.current_version(REPO / "models")
    if shipped is None:
        raise SystemExit("no shipped model in models/")
    shutil.copytree(REPO / "models" / shipped, models_dir / shipped)
    artifacts.promote(models_dir, shipped)
    refine = not args.fast
    if refine and (REPO / "models" / LOCAL_CACHE_FILE).exists():  # embeddings computed before
        shutil.copy(REPO / "models" / LOCAL_CACHE_FILE, models_dir / LOCAL_CACHE_FILE)
    settings = Settings(
        database_url=f"sqlite:///{work / 'relais.db'}",
        environment="test",
        models_dir=models_dir,
        meta_app_secret=META_SECRET,
        intake_process=False,
        outbox_in_process=False,
        model_reload_interval_s=3600.0,
        refine=refine,
    )
    db.upgrade(settings)
    print(
        f"domain {path.stem} ({args.reviewer} reviewer): {len(pool)} pool rows, "
        f"{len(domain_test)} test rows; correction weight {learning.CORRECTION_WEIGHT:g}; work dir {work}"
    )

    results: list[dict[str, Any]] = []

    def measure(step: int, version: str, promoted: bool, reason: str, **extra: Any) -> dict[str, Any]:
        model: Scorer = reading(
            artifacts.load_version(models_dir, version), embedding_cache(models_dir, refine)
        )
        on_domain = evaluation_report(model, domain_test)
        on_shipped = evaluation_report(model, shipped_test)
        print(
            f"step {step:>4}: {version} domain macro-F1 {on_domain['macro_f1']:.4f} "
            f"({per_class(on_domain)}), shipped held-out macro-F1 {on_shipped['macro_f1']:.4f}",
            flush=True,
        )
        return {
            "step": step,
            "version": version,
            "promoted": promoted,
            "domain": on_domain,
            "shipped": on_shipped,
            "reason": reason,
            **extra,
        }

    results.append(measure(0, shipped, True, "shipped model", reviewed=0))
    retrained = None
    if args.retrain:
        # The same training code and data without corrections: a reference for what only the
        # corrections separate from each later step (the shipped model may predate the code or data).
        baseline, _, _ = train_command(
            models_dir, args.data, extra=[], promote=False, progress=False, refine=refine
        )
        retrained = measure(0, baseline, False, "retrained without corrections (not promoted)")
    with TestClient(create_app(settings)) as client:
        with db.transaction(client.app.state.sessions) as session:
            _, token = users.create(session, name="camille", role="reviewer")
        auth = {"Authorization": f"Bearer {token}"}
        # The whole pool arrives first (the test part never does); the reviewer corrects some of it.
        started = time.perf_counter()
        for index, row in enumerate(pool):
            body = fb_comment(f"curve_{index}", row.text)
            r = client.post("/webhooks/meta", content=body, headers=meta_headers(body))
            r.raise_for_status()
        if refine:  # the context pass refines the pool, as it would in the background
            context = ContextPass(
                settings, client.app.state.sessions, client.app.state.drafter, holder=client.app.state.holder
            )
            while context.run_once():
                pass
            context.client.close()
        # what the reviewer sees of each message: its id, category, whether it is left to sort, and
        # its draft (id, version)
        with db.transaction(client.app.state.sessions) as session:
            shown = {
                external_id: rest
                for external_id, *rest in session.execute(
                    select(
                        Message.external_id,
                        Message.id,
                        Message.category,
                        Message.to_sort,
                        Draft.id,
                        Draft.version,
                    ).join(Draft, Draft.message_id == Message.id)
                ).tuples()
            }
        print(f"  {len(pool)} pool messages received in {time.perf_counter() - started:.0f} s", flush=True)
        corrected = reviewed = approved = 0
        for step in steps:
            while corrected < step and reviewed < len(pool):
                message_id, category, to_sort, draft_id, version = shown[f"curve_{reviewed}"]
                row = pool[reviewed]
                reviewed += 1
                if args.reviewer != "label" and category == row.label and not to_sort:
                    if args.reviewer == "queue":  # right and sure: she approves the draft
                        approve = f"/api/drafts/{draft_id}/approve"
                        r = client.post(approve, json={"version": version}, headers=auth)
                        r.raise_for_status()
                        approved += 1
                    continue
                r = client.patch(f"/api/messages/{message_id}", json={"category": row.label}, headers=auth)
                r.raise_for_status()
                corrected += 1
            if corrected < step:
                print(f"  the pool ran out after {corrected} corrections ({reviewed} reviewed)", flush=True)
                if corrected <= results[-1].get("corrections", 0):
                    break
            print(f"  {reviewed} messages reviewed: {corrected} corrected, {approved} approved", flush=True)
            started = time.perf_counter()
            found = learning.feedback(settings) or learning.Feedback()
            received = found.received if args.received else []
            version, promoted, text = train_command(
                models_dir,
                args.data,
                extra=found.examples,
                received=received,
                judged=found.judged,
                progress=False,
                refine=refine,
            )
            reason = text.rsplit("\n\n", 1)[-1].replace("\n", "; ")
            print(
                f"  trained on {found.corrections} corrections and {found.confirmations} confirmations "
                f"(gate: {len(received)} received messages; judged on {len(found.judged)} reviewed, "
                f"{found.judged_decided} decided) in {time.perf_counter() - started:.0f} s: {reason}"
            )
            candidate = measure(corrected, version, promoted, reason)
            current = artifacts.current_version(models_dir)
            assert current is not None
            after = candidate if promoted else measure(corrected, current, True, "kept")
            after["candidate"] = candidate
            after["reviewed"] = reviewed
            after["corrections"] = corrected
            results.append(after)
            if corrected < step:
                break

    start_domain, start_shipped = results[0]["domain"]["macro_f1"], results[0]["shipped"]["macro_f1"]
    print()
    print(
        f"{'corrections':>11}  {'reviewed':>8}  {'domain F1':>9}  {'step':>7}  {'lift':>7}  "
        f"{'shipped F1':>10}  {'change':>7}  {'candidate':>9}  promoted"
    )
    rows = results[:1] + ([retrained] if retrained else []) + results[1:]
    previous = start_domain
    for index, result in enumerate(rows):
        name = "0 retrain" if result is retrained else ("0 shipped" if index == 0 else str(result["step"]))
        domain_f1, shipped_f1 = result["domain"]["macro_f1"], result["shipped"]["macro_f1"]
        candidate = result.get("candidate")
        print(
            f"{name:>11}  {result.get('reviewed', ''):>8}  {domain_f1:>9.4f}  "
            f"{domain_f1 - previous:>+7.4f}  {domain_f1 - start_domain:>+7.4f}  "
            f"{shipped_f1:>10.4f}  {shipped_f1 - start_shipped:>+7.4f}  "
            f"{candidate['domain']['macro_f1'] if candidate else domain_f1:>9.4f}  "
            f"{('yes' if candidate['promoted'] else 'no') if candidate else '':>8}"
        )
        if result is not retrained:
            previous = domain_f1
    steps_done = results[1:]
    fell = [
        r["step"]
        for i, r in enumerate(steps_done)
        if r["domain"]["macro_f1"] < results[i]["domain"]["macro_f1"]
    ]
    worst = min((r["shipped"]["macro_f1"] - start_shipped for r in steps_done), default=0.0)
    print(
        f"domain macro-F1 fell after a step: {fell or 'never'}; "
        f"shipped held-out at worst {worst:+.4f} against the shipped model"
    )
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
