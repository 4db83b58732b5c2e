"""What the app hands to training: the reviewers' corrections, as weighted examples.

`classifier/` never imports `app/`; this is the one place where the database's labels become
training rows.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, inspect, select

from app import db
from app.config import Settings
from app.models import Correction

# A correction is a label a human gave to a message the model got wrong: it weighs as much as
# this many ordinary examples, so that a few hundred count next to tens of thousands. Tuned with
# bench/learning_curve.py (200 corrections of an unseen domain, F1 on the rest of it): 20 -> +0.078,
# 100 -> +0.093, 250 -> +0.106 with the shipped held-out score unchanged; 1000 lowered it (-0.006).
# `classifier.train` caps the corrections' total at half the training weight whatever their number.
CORRECTION_WEIGHT = 250.0


def correction_examples(settings: Settings, *, if_new: int = 0) -> list[tuple[str, str, float]] | None:
    """The latest label of every corrected message as (text, label, weight).

    With `if_new` > 0, None when fewer than that many corrections arrived since the newest stored
    version was trained, promoted or not (so a scheduled `relais train --if-new-corrections N` does
    nothing, and does not retrain again and again on corrections a refused version already saw).
    About a fifth of them (by a hash of the text) are held out by `classifier.train`, never trained on.
    """
    engine = db.make_engine(settings)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("corrections"):
                return None if if_new > 0 else []  # no database yet: nothing was corrected
            if if_new > 0:
                since = _last_version_created_at(settings)
                q = select(func.count()).select_from(Correction)
                if since is not None:
                    q = q.where(Correction.created_at > since)
                if (conn.execute(q).scalar() or 0) < if_new:
                    return None
            rows = conn.execute(
                select(Correction.message_id, Correction.text, Correction.new_category).order_by(
                    Correction.id
                )
            ).all()
    finally:
        engine.dispose()
    latest: dict[int, tuple[str, str]] = {}
    for message_id, text, label in rows:
        latest[message_id] = (text, label)
    return [(text, label, CORRECTION_WEIGHT) for text, label in latest.values()]


def _last_version_created_at(settings: Settings) -> dt.datetime | None:
    from classifier import artifacts

    stamps = []
    for version in artifacts.list_versions(settings.models_dir):
        if version.get("created_at"):
            when = dt.datetime.fromisoformat(version["created_at"])
            stamps.append(when if when.tzinfo else when.replace(tzinfo=dt.UTC))
    return max(stamps, default=None)
