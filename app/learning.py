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
# this many ordinary examples, so that a few hundred count next to tens of thousands.
CORRECTION_WEIGHT = 20.0


def correction_examples(settings: Settings, *, if_new: int = 0) -> list[tuple[str, str, float]] | None:
    """The latest label of every corrected message as (text, label, weight).

    With `if_new` > 0, None when fewer than that many corrections arrived since the current model
    was created (so a scheduled `relais train --if-new-corrections N` does nothing).
    """
    engine = db.make_engine(settings)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("corrections"):
                return None if if_new > 0 else []  # no database yet: nothing was corrected
            if if_new > 0:
                since = _current_model_created_at(settings)
                q = select(func.count()).select_from(Correction)
                if since is not None:
                    q = q.where(Correction.created_at > since)
                if (conn.execute(q).scalar() or 0) < if_new:
                    return None
            rows = conn.execute(select(Correction.message_id, Correction.text, Correction.new_category)
                                .order_by(Correction.id)).all()
    finally:
        engine.dispose()
    latest: dict[int, tuple[str, str]] = {}
    for message_id, text, label in rows:
        latest[message_id] = (text, label)
    return [(text, label, CORRECTION_WEIGHT) for text, label in latest.values()]


def _current_model_created_at(settings: Settings) -> dt.datetime | None:
    from classifier import artifacts

    version = artifacts.current_version(settings.models_dir)
    if version is None:
        return None
    meta = artifacts.read_metadata(settings.models_dir, version)
    created = meta.get("created_at")
    if not created:
        return None
    when = dt.datetime.fromisoformat(created)
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
