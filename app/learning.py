"""What the app hands to training: the reviewers' decisions, as weighted examples.

`classifier/` never imports `app/`; this is the one place where the database's labels become
training rows. Two kinds of decisions teach the model:

- a **correction** (`PATCH /api/messages/{id}`, the review page's category buttons) is a label a
  human gave to a message: the latest one per message is an example of weight `CORRECTION_WEIGHT`;
- an **approved reply** confirms the category it was drafted for: a draft approved unedited or
  lightly edited (the sent text at least `LIGHT_EDIT` similar to the suggestion, difflib ratio)
  of a message nobody corrected (and that was not left *to sort*: its category was a guess below
  the confidence threshold, and it got no template) is an example of its category with the smaller weight
  `CONFIRMATION_WEIGHT` (the model already predicted it; the confirmation keeps the domain's
  right answers next to its corrected wrong ones, so the corrections alone do not tilt it).

The app also hands over the text of the **received messages** (the latest `RECEIVED_LIMIT`,
corrected or not, never with a label or a category): they are what the reviewers' traffic looks
like, and the domain gate (`classifier.adapt`) learns that from all of them rather than from the
few corrected ones; the promotion gate compares how often each model predicts each class on them;
they are never training rows of the classifier.

The domain the reviewers work on is **judged** on the reviewed stretch of the traffic
(`Feedback.judged`): every sorted message from the first to the last one a reviewer decided
(corrected, or approved or rejected its draft), in arrival order, one vote each, with its final
category: the one a reviewer gave, or the one shown that she approved or left as it was. The
current model's right answers are there in the proportion they arrive, next to its mistakes, which
the corrections alone are by construction (on them the current model scores near zero and almost any
new model looks better). A message left as shown is taken to be right: where the new model changes
it, that counts against the new model, so the judgement leans towards keeping the current one.
Messages left *to sort* have no category to judge by. `classifier.promotion` holds out the fixed
hash fifth of these rows (never trained on) and decides, with the received messages' text as a
check that the new version does not stop predicting a class the reviewers' labels hold.

A **rejected** draft, or one approved after a heavy edit, of a message nobody corrected is
*suspect*: the reviewer did not want the reply written for that category, which may mean the
category was wrong (or only that the template did not fit). It is not a confirmation and is left
out; it cannot be a label either, since it says which class the message is probably not, and the
multinomial logistic regression has no way to learn from "not this class" alone. Its count is
reported (`Feedback.suspect`) so that a reviewer can see how many decisions were ignored.

`relais train --if-new-corrections N` counts corrections by id: every version trained on the
database records the highest correction id it exported (`through_correction_id` in its metadata's
`feedback`), and only corrections with a higher id are new, whatever the clocks said while it ran.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, inspect, select

from app import db
from app.config import Settings
from app.models import Correction, Draft, DraftEvent, Message

# A correction is a label a human gave to a message the model got wrong: it weighs as much as
# this many ordinary examples, so that a few hundred count next to tens of thousands
# (`classifier.train` caps their total at half the training weight). How it was chosen, and the
# other weights below: docs/experiments/learning.md.
CORRECTION_WEIGHT = 250.0
# An approved reply's category, confirmed: one fifth of a correction (the model got it right
# already; many confirmations must not drown the corrections).
CONFIRMATION_WEIGHT = 50.0
# The text of this many received messages, the latest, goes to the domain gate (as many as the
# shipped rows it is fitted against, classifier.adapt.GATE_NEGATIVES).
RECEIVED_LIMIT = 20_000
# Confirmations and suspects are read from this many decided drafts, the latest: a team with years
# of history would otherwise add every approval it ever made to each training (a million of them
# would dwarf the 100,000 shipped rows and the minute training takes); recent decisions are the
# traffic the model is for. Corrections are never limited.
DECISIONS_LIMIT = 20_000
# The domain is judged on at most this many messages, the latest of the reviewed stretch (see
# `Feedback.judged`): recent traffic is what the next model is for.
JUDGED_LIMIT = 20_000
# difflib ratio of the suggested and the sent reply at or above which an edit is "light".
LIGHT_EDIT = 0.6
APPROVED_STATUSES = ("approved", "sent", "failed")

Example = tuple[str, str, float]


@dataclass(frozen=True)
class Feedback:
    """The training examples from the database and what they were made of."""

    examples: list[Example] = field(default_factory=list)
    through_correction_id: int = 0  # highest correction id exported
    corrections: int = 0  # corrected messages (latest label each)
    confirmations: int = 0  # approved drafts of uncorrected messages
    suspect: int = 0  # rejected or heavily edited drafts of uncorrected messages, left out
    received: list[str] = field(default_factory=list)  # received messages' text, no labels
    # The reviewed stretch of the traffic, (text, final category) in arrival order, and how many of
    # those messages a reviewer decided (corrected, or decided its draft) rather than left as shown.
    judged: list[tuple[str, str]] = field(default_factory=list)
    judged_decided: int = 0

    def provenance(self) -> dict[str, Any]:
        """What a version trained on these examples records in its metadata (`feedback`)."""
        return {
            "through_correction_id": self.through_correction_id,
            "corrections": self.corrections,
            "confirmations": self.confirmations,
            "suspect": self.suspect,
            "received": len(self.received),
            "judged": len(self.judged),
            "judged_decided": self.judged_decided,
        }


def feedback(settings: Settings, *, if_new: int = 0) -> Feedback | None:
    """The corrections and confirmations as weighted examples, and the received messages' text
    (see the module docstring).

    With `if_new` > 0, None when fewer than that many corrections have an id above the highest one
    any stored version (promoted or not) was trained on: a scheduled `relais train
    --if-new-corrections N` then does nothing, and does not retrain again and again on corrections
    a refused version already saw. About a fifth of the examples (by a hash of the text) are held
    out by `classifier.train`, never trained on.
    """
    engine = db.make_engine(settings)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("corrections"):
                return None if if_new > 0 else Feedback()  # no database yet: nothing was decided
            # Everything below is bounded by this id, which the trained version records: a
            # correction committed while this runs is left for the next training, and counted as new.
            through = int(conn.execute(select(func.max(Correction.id))).scalar() or 0)
            if if_new > 0:
                seen = trained_through(settings)
                new = conn.execute(
                    select(func.count())
                    .select_from(Correction)
                    .where(Correction.id > seen, Correction.id <= through)
                ).scalar()
                if (new or 0) < if_new:
                    return None
            rows = conn.execute(
                select(Correction.message_id, Correction.text, Correction.new_category)
                .where(Correction.id <= through)
                .order_by(Correction.id)
            ).all()
            drafts = conn.execute(
                select(
                    Draft.id,
                    Draft.status,
                    Draft.edited,
                    Draft.text,
                    Draft.final_text,
                    Message.id,
                    Message.text,
                    Draft.category,
                )
                .join(Message, Message.id == Draft.message_id)
                .where(
                    Draft.status.in_((*APPROVED_STATUSES, "rejected")),
                    Draft.category.is_not(None),
                    Draft.to_sort.is_(False),  # unsure, no template: nothing was confirmed
                )
                .order_by(Draft.id.desc())
                .limit(DECISIONS_LIMIT)
            ).all()[::-1]
            edited_ids = [d[0] for d in drafts if d[1] in APPROVED_STATUSES and d[2]]
            suggested = first_suggestions(conn, edited_ids)
            latest_received = conn.execute(
                select(Message.text)
                .where(Message.deleted_at.is_(None))
                .order_by(Message.id.desc())
                .limit(RECEIVED_LIMIT)
            ).scalars()
            received = [text for text in latest_received if (text or "").strip()][::-1]
            judged_rows, decided_ids = _reviewed_stretch(conn, through)
    finally:
        engine.dispose()
    latest: dict[int, tuple[str, str]] = {}
    for message_id, text, label in rows:
        latest[message_id] = (text, label)
    examples: list[Example] = [(text, label, CORRECTION_WEIGHT) for text, label in latest.values()]
    confirmations = suspect = 0
    for draft_id, status, edited, draft_text, final_text, message_id, text, category in drafts:
        if message_id in latest or not (text or "").strip():
            continue  # the correction says more than the draft
        if status == "rejected" or (
            edited and edit_similarity(suggested.get(draft_id, draft_text), final_text) < LIGHT_EDIT
        ):
            suspect += 1
            continue
        examples.append((text, category, CONFIRMATION_WEIGHT))
        confirmations += 1
    judged = [
        (text, latest[message_id][1] if message_id in latest else category)
        for message_id, text, category in judged_rows
    ]
    decided = sum(message_id in decided_ids for message_id, _, _ in judged_rows)
    return Feedback(examples, through, len(latest), confirmations, suspect, received, judged, decided)


def _reviewed_stretch(conn: Any, through: int) -> tuple[list[tuple[int, str, str]], set[int]]:
    """The latest `JUDGED_LIMIT` sorted messages from the first to the last one a reviewer decided
    (corrected through `through`, or decided its draft), oldest first, as (id, text, category);
    and the ids of those decided."""
    decided_drafts = select(Draft.message_id).where(Draft.status.in_((*APPROVED_STATUSES, "rejected")))
    corrected = select(Correction.message_id).where(Correction.id <= through)
    bounds = conn.execute(
        select(func.min(Message.id), func.max(Message.id)).where(
            Message.id.in_(decided_drafts) | Message.id.in_(corrected)
        )
    ).one()
    if bounds[1] is None:
        return [], set()
    rows = conn.execute(
        select(Message.id, Message.text, Message.category)
        .where(
            Message.id.between(bounds[0], bounds[1]),
            Message.deleted_at.is_(None),
            Message.to_sort.is_(False),  # unsure, nobody sorted it: no category to judge by
            Message.category.is_not(None),
        )
        .order_by(Message.id.desc())
        .limit(JUDGED_LIMIT)
    ).all()[::-1]
    rows = [(int(i), text, category) for i, text, category in rows if (text or "").strip()]
    if not rows:
        return [], set()
    low = rows[0][0]
    decided = {
        int(i)
        for i in conn.execute(
            select(Message.id).where(
                Message.id >= low,
                Message.id <= bounds[1],
                Message.id.in_(decided_drafts) | Message.id.in_(corrected),
            )
        ).scalars()
    }
    return rows, decided


def correction_examples(settings: Settings, *, if_new: int = 0) -> list[Example] | None:
    """`feedback(...).examples` (None when `if_new` says there is nothing new)."""
    result = feedback(settings, if_new=if_new)
    return None if result is None else result.examples


def edit_similarity(suggested: str | None, sent: str | None) -> float:
    """difflib ratio of the suggested and the sent reply, whitespace-collapsed (1.0 = unchanged)."""
    a = " ".join((suggested or "").split())
    b = " ".join((sent or "").split())
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def first_suggestions(conn: Any, draft_ids: list[int]) -> dict[int, str]:
    """The suggestion each edited draft showed before its first human edit, where recorded.

    `app.review.service` records it (`suggested`) in the first "edited" event; without it (older
    events) the draft's own text is used, which is the suggestion when the only edit was made at
    approval, and the reviewer's earlier edit otherwise (the edit then looks lighter than it was).
    """
    out: dict[int, str] = {}
    for start in range(0, len(draft_ids), 500):
        chunk = draft_ids[start : start + 500]
        for draft_id, data in conn.execute(
            select(DraftEvent.draft_id, DraftEvent.data)
            .where(DraftEvent.draft_id.in_(chunk), DraftEvent.action == "edited")
            .order_by(DraftEvent.id)
        ):
            if draft_id not in out and isinstance(data, dict) and isinstance(data.get("suggested"), str):
                out[draft_id] = data["suggested"]
    return out


def trained_through(settings: Settings) -> int:
    """The highest correction id any stored version was trained on (0: none recorded)."""
    from classifier import artifacts

    highest = 0
    for version in artifacts.list_versions(settings.models_dir):
        try:
            meta = artifacts.read_metadata(settings.models_dir, version["version"])
        except artifacts.ArtifactError:
            continue
        recorded = (meta.get("feedback") or {}).get("through_correction_id")
        if isinstance(recorded, int):
            highest = max(highest, recorded)
    return highest
