"""The team's own voice: replies approved for the most similar past messages (same language).

Each process keeps a small TF-IDF index per language over the most recent approved replies and
rebuilds it when new approvals arrive (checked with one cheap query).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Draft, Message

INDEX_SIZE = 5000
MIN_SIMILARITY = 0.2


@dataclass
class _Index:
    stamp: tuple[int, int]
    vectorizer: TfidfVectorizer | None
    matrix: Any
    rows: list[tuple[int, int, str, str]]  # draft id, message id, message text, reply


class SimilarReplies:
    def __init__(self) -> None:
        self._indexes: dict[str, _Index] = {}
        self._lock = threading.Lock()

    def _approved(self, language: str | None) -> Any:
        q = (
            select(Draft.id, Draft.message_id, Message.text, Draft.final_text)
            .join(Message, Message.id == Draft.message_id)
            .where(Draft.status.in_(("approved", "sent")), Draft.final_text.is_not(None))
        )
        return q.where(Draft.language == language) if language else q.where(Draft.language.is_(None))

    def _index(self, session: Session, language: str | None) -> _Index:
        key = language or ""
        stamp_row = session.execute(
            select(func.count(), func.max(Draft.id))
            .select_from(Draft)
            .where(
                Draft.status.in_(("approved", "sent")),
                Draft.language == language if language else Draft.language.is_(None),
            )
        ).one()
        stamp = (int(stamp_row[0] or 0), int(stamp_row[1] or 0))
        with self._lock:
            current = self._indexes.get(key)
            if current is not None and current.stamp == stamp:
                return current
        rows = [
            tuple(r)
            for r in session.execute(
                self._approved(language).order_by(Draft.decided_at.desc()).limit(INDEX_SIZE)
            ).all()
        ]
        if not rows:
            index = _Index(stamp, None, None, [])
        else:
            vec = TfidfVectorizer(
                analyzer="char_wb",
                ngram_range=(3, 5),
                sublinear_tf=True,
                lowercase=True,
                strip_accents="unicode",
                min_df=1,
            )
            matrix = vec.fit_transform([r[2] for r in rows])
            index = _Index(stamp, vec, matrix, rows)
        with self._lock:
            self._indexes[key] = index
        return index

    def find(
        self,
        session: Session,
        *,
        text: str,
        language: str | None,
        exclude_message_id: int | None = None,
        top: int = 3,
    ) -> list[dict[str, Any]]:
        """Up to `top` approved replies whose messages look most like `text`."""
        index = self._index(session, language)
        if index.vectorizer is None or not text.strip():
            return []
        sims = (index.matrix @ index.vectorizer.transform([text]).T).toarray().ravel()
        order = np.argsort(-sims)
        out = []
        for i in order[: top * 3]:
            draft_id, message_id, message_text, reply = index.rows[int(i)]
            if message_id == exclude_message_id or sims[i] < MIN_SIMILARITY:
                continue
            out.append(
                {
                    "draft_id": draft_id,
                    "message_text": message_text,
                    "reply": reply,
                    "similarity": round(float(sims[i]), 3),
                }
            )
            if len(out) == top:
                break
        return out
