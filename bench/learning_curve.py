"""A community manager teaches Relais a domain it has never seen, through the API.

    .venv/bin/python bench/learning_curve.py [--domain scalabrino2017_clap] [--steps 50,100,200]
                                             [--weight 20] [--keep DIR]

Starts from a copy of the shipped model in a temporary models directory and the app in-process
(`TestClient(create_app(settings))` on a temporary SQLite file). The domain (a development-only
set from /work/shared/data, never in the shipped model's training data) is split once, by a hash
of the text, into a pool and a fixed test part. The whole pool arrives through the signed Meta
webhook (the test part never does: the model is measured on messages it never received); a
reviewer works the queue in arrival order, as a community manager does: a message whose category
is wrong, or that was left *to sort*, gets its true label with `PATCH /api/messages/{id}` (a
correction), one whose category is right has its draft approved unedited
(`POST /api/drafts/{id}/approve`, a confirmation), until 50, 100, 200 corrections are made
(`--reviewer label` instead gives the first 50, 100, 200 messages their true label with `PATCH`,
right or wrong, and approves nothing: how it was measured before); after each step the same code
path as `relais train` runs: `train_command(models_dir,
data_dir, extra=feedback.examples, received=feedback.received)` with
`feedback = app.learning.feedback(settings)` (the corrections, and the received messages' text for
the domain gate; `--no-received` leaves the latter out).

Prints, per step: the domain's macro-F1 and per-class F1 on its test part, the held-out macro-F1
of the shipped data, whether the version was promoted and why. Lifts are measured against a model
retrained by the same code on the same data without corrections ("0 retrain"). `--weight` overrides
`app.learning.CORRECTION_WEIGHT` for this run (how the weight was tuned).

Measured (2 cores, macro-F1 on the domain's test part after 50 / 100 / 200 corrections, lift over
"0 retrain"; shipped held-out macro-F1 change at 200), the reviewer working the queue:
- scalabrino2017_clap: 170 / 310 / 609 messages reviewed (120 / 210 / 409 approved), 0.8098 /
  0.8089 / 0.8229, +0.109 / +0.108 / +0.122, shipped -0.0042. With `--confirmation-weight` 120 at
  200: 0.8186, shipped -0.0072; 250: 0.8217, shipped -0.0056, not promoted (the 50 kept).
  The ceiling is the model class, not the number of corrections: after 200, the errors left are
  complaints and other reviews taken for one another (56 of 1,106) and suggestions taken for
  complaints or other (65 of 169 suggestions); the best bias on the suggestion column, chosen on
  the test part itself, lifts macro-F1 only to 0.836, and a classifier on the same features trained
  on the domain's 1,629 pool labels alone reaches 0.853 (classifier/adapt.py), about the 0.85 that
  +0.15 needs. CLAP's labels are noisy ("please add password protection" is a BUG, "not showing
  contact list" a FEATURE).
- dailydialog_acts: 240 / 465 / 874 messages reviewed, 0.9668 / 0.9685 / 0.9676, +0.100 / +0.101 /
  +0.100 (0.8673 before: +0.15 is out of reach, the F1 would have to pass 1), shipped -0.0036.
The reviewer giving the first messages their label (`--reviewer label`):
- scalabrino2017_clap (1,106 test rows, 0.7005 before): 0.7701 / 0.7673 / 0.8084, +0.070 / +0.067 /
  +0.108, shipped -0.0014. With the domain gate fitted on the corrections only (g not squared):
  0.7449 / 0.7491 / 0.8056, +0.044 / +0.049 / +0.105, shipped -0.0026; before the corrections had
  their own feature copy (classifier.adapt) and evened-out classes: +0.036 / +0.065 / +0.085,
  shipped -0.0039.
- dailydialog_acts (4,832 test rows, 0.8673 before): 0.9595 / 0.9638 / 0.9668, +0.092 / +0.097 /
  +0.100, shipped -0.0022. Gate on the corrections only: 0.9244 / 0.9449 / 0.9582, +0.057 / +0.078
  / +0.091, shipped +0.0012; before the copy: +0.045 / +0.061 / +0.075, shipped +0.0006.
The +0.15 the issue asks for on CLAP is not reached; see README, "The learning loop".
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
from app.main import create_app  # noqa: E402
from app.models import Draft, Message  # noqa: E402
from app.users import service as users  # noqa: E402
from classifier import artifacts  # noqa: E402
from classifier.commands import train_command  # noqa: E402
from classifier.data import CATEGORIES, Row, load_public, load_training_rows, split_rows  # noqa: E402
from classifier.evaluate import evaluation_report  # noqa: E402
from classifier.model import TriageModel  # noqa: E402

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
    parser.add_argument("--domain", default="scalabrino2017_clap")
    parser.add_argument("--steps", default="50,100,200")
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
        choices=("queue", "label"),
        default="queue",
        help="queue: she works the queue in arrival order, corrects a wrong (or unsure) category and "
        "approves the draft of a right one, until each step's number of corrections; label: she "
        "gives the first N messages their label, right or wrong",
    )
    parser.add_argument("--data", type=Path, default=REPO / "data")
    parser.add_argument("--keep", type=Path, default=None, help="work in DIR and keep it")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    if args.weight is not None:
        learning.CORRECTION_WEIGHT = args.weight
    if args.confirmation_weight is not None:
        learning.CONFIRMATION_WEIGHT = args.confirmation_weight

    domain = [r for r in load_public(SHARED / f"{args.domain}.csv") if r.label in CATEGORIES]
    pool, domain_test = domain_split(domain)
    if len(pool) < max(steps):
        raise SystemExit(f"the pool has {len(pool)} rows, fewer than {max(steps)}")
    _, shipped_test = split_rows(load_training_rows(args.data))

    work = args.keep or Path(tempfile.mkdtemp(prefix="relais-curve-"))
    work.mkdir(parents=True, exist_ok=True)
    models_dir = work / "models"
    shipped = artifacts.current_version(REPO / "models")
    if shipped is None:
        raise SystemExit("no shipped model in models/")
    shutil.copytree(REPO / "models" / shipped, models_dir / shipped)
    artifacts.promote(models_dir, shipped)
    settings = Settings(
        database_url=f"sqlite:///{work / 'relais.db'}",
        environment="test",
        models_dir=models_dir,
        meta_app_secret=META_SECRET,
        intake_process=False,
        outbox_in_process=False,
        model_reload_interval_s=3600.0,
    )
    db.upgrade(settings)
    print(
        f"domain {args.domain}: {len(pool)} pool rows, {len(domain_test)} test rows; "
        f"correction weight {learning.CORRECTION_WEIGHT:g}; work dir {work}"
    )

    results: list[tuple[int, str, bool, dict[str, Any], dict[str, Any], str]] = []

    def measure(step: int, version: str, promoted: bool, reason: str) -> None:
        model: TriageModel = artifacts.load_version(models_dir, version)
        on_domain = evaluation_report(model, domain_test)
        on_shipped = evaluation_report(model, shipped_test)
        results.append((step, version, promoted, on_domain, on_shipped, reason))
        print(
            f"step {step:>4}: domain macro-F1 {on_domain['macro_f1']:.4f} ({per_class(on_domain)}), "
            f"shipped held-out macro-F1 {on_shipped['macro_f1']:.4f}, "
            f"{'promoted' if promoted else 'NOT promoted'}",
            flush=True,
        )

    measure(0, shipped, True, "shipped model")
    # The same training code and data without corrections: the baseline that only the corrections
    # separate from each later step (the shipped model may predate changes to the code or data).
    baseline, _, _ = train_command(models_dir, args.data, extra=[], promote=False, progress=False)
    measure(0, baseline, False, "retrained without corrections (not promoted)")
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
            while corrected < step:
                if reviewed >= len(pool):
                    raise SystemExit(f"the pool ran out after {corrected} corrections")
                message_id, category, to_sort, draft_id, version = shown[f"curve_{reviewed}"]
                row = pool[reviewed]
                reviewed += 1
                if args.reviewer == "queue" and category == row.label and not to_sort:
                    # Right category, sure enough to have its template: she approves the draft.
                    approve = f"/api/drafts/{draft_id}/approve"
                    r = client.post(approve, json={"version": version}, headers=auth)
                    r.raise_for_status()
                    approved += 1
                    continue
                r = client.patch(f"/api/messages/{message_id}", json={"category": row.label}, headers=auth)
                r.raise_for_status()
                corrected += 1
            print(f"  {reviewed} messages reviewed: {corrected} corrected, {approved} approved", flush=True)
            started = time.perf_counter()
            found = learning.feedback(settings) or learning.Feedback()
            received = found.received if args.received else []
            version, promoted, text = train_command(
                models_dir, args.data, extra=found.examples, received=received, progress=False
            )
            reason = text.rsplit("\n\n", 1)[-1].replace("\n", "; ")
            print(
                f"  trained on {found.corrections} corrections and {found.confirmations} confirmations "
                f"(gate: {len(received)} received messages) "
                f"in {time.perf_counter() - started:.0f} s: {reason}"
            )
            measure(step, version, promoted, reason)

    base_domain, base_shipped = results[1][3]["macro_f1"], results[1][4]["macro_f1"]
    print()
    print(
        f"{'corrections':>11}  {'domain F1':>9}  {'lift':>6}  {'shipped F1':>10}  {'change':>7}  "
        "promoted  per-class F1"
    )
    for index, (step, _, promoted, on_domain, on_shipped, _) in enumerate(results):
        name = {0: "0 shipped", 1: "0 retrain"}.get(index, str(step))
        print(
            f"{name:>11}  {on_domain['macro_f1']:>9.4f}  {on_domain['macro_f1'] - base_domain:>+6.3f}  "
            f"{on_shipped['macro_f1']:>10.4f}  {on_shipped['macro_f1'] - base_shipped:>+7.4f}  "
            f"{'yes' if promoted else 'no':>8}  {per_class(on_domain)}"
        )
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
