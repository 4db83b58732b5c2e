"""The team's own voice, found fast: an in-memory index per language of the replies the team
approved (`past_replies`) and of the knowledge base's answers (their titles and examples).

    TextIndex      words and 5-letter word prefixes, accents and case folded, TF-IDF weights,
                   an inverted index (postings per term) appended to as replies are approved:
                   a look-up touches only the postings of the message's rarest terms, never
                   every row, so it stays fast with a million replies
    PastReplies    one TextIndex per language over `past_replies`, caught up by id (the table
                   is append-only) by one cheap query whenever drafting refreshes its templates
    AnswerIndex    the enabled answers (titles, examples and the messages they were used for),
                   per language: rebuilt when an answer changes, caught up as uses are approved

Scores are cosines in 0..1. Each process keeps its own copy; they agree once caught up.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from app.models import Answer, AnswerUse, Draft, Message, PastReply, utcnow
from classifier import sentence

_WORD = re.compile(r"[a-z0-9]+")
MAX_QUERY_TERMS = 24  # the rarest terms of a message carry its meaning; common ones add only time
POSTINGS_BUDGET = 50_000  # postings read by one look-up, rarest terms first: the bound on its time
MIN_SIMILARITY = 0.2  # what the message page shows beside the draft
# Function words and greetings, accents folded: in a knowledge base of a few examples each they
# would otherwise weigh as much as the words that carry the question.
_STOP_WORDS = """le la les de des du un une et ou au aux en pour par sur avec dans ce cet cette ces je tu
    il elle on nous vous ils elles me te se mon ma mes ton ta tes son sa ses notre nos votre vos leur
    leurs qui que qu quoi est sont suis es etes etre ai as avez avons ont ne pas plus tres bien
    merci bonjour bonsoir salut svp stp oui non mais donc car si tout tous toute toutes moi toi lui
    ca cela ceci the an and or to of in on for with at by is are am was be you he she it we they my
    your our their this that these those do does can could would will please thanks thank hi hello
    hey yes no not"""
STOP_WORDS = frozenset(_STOP_WORDS.split())


def fold(text: str) -> str:
    """Lower case without accents."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def terms(text: str) -> Counter[str]:
    """The words of a text (two letters or more, no function word) and the 5-letter prefixes of
    the longer ones (a cheap stem: livraison/livrer, rembourser/remboursement)."""
    found: Counter[str] = Counter()
    for w in _WORD.findall(fold(text)):
        if len(w) < 2 or w in STOP_WORDS:
            continue
        found[w] += 1
        if len(w) > 5:
            found[w[:5] + "~"] += 1
    return found


class TextIndex:
    """An append-only inverted index of short texts; `search` gives (row, cosine) best first."""

    def __init__(self) -> None:
        self._vocabulary: dict[str, int] = {}
        self._docs: list[array[int]] = []  # per term: the rows it occurs in
        self._weights: list[array[float]] = []  # per term: its normalised weight in each row
        self.size = 0
        self._lock = threading.Lock()

    def _idf(self, df: int, n: int) -> float:
        return math.log((n + 1) / (df + 1)) + 1.0

    def add(self, text: str) -> int:
        """Index one text; returns its row number."""
        counts = terms(text)
        with self._lock:
            row = self.size
            n = row + 1
            ids = []
            for term in counts:
                tid = self._vocabulary.get(term)
                if tid is None:
                    tid = self._vocabulary[term] = len(self._docs)
                    self._docs.append(array("i"))
                    self._weights.append(array("f"))
                ids.append(tid)
            weights = [
                (1.0 + math.log(c)) * self._idf(len(self._docs[tid]) + 1, n)
                for tid, c in zip(ids, counts.values(), strict=True)
            ]
            norm = math.sqrt(sum(w * w for w in weights)) or 1.0
            for tid, w in zip(ids, weights, strict=True):
                self._docs[tid].append(row)
                self._weights[tid].append(w / norm)
            self.size = n
        return row

    def search(self, text: str, top: int = 10) -> list[tuple[int, float]]:
        """The `top` rows most like `text`, with their cosine (0..1), best first."""
        rows, scores = self.scores(text)
        if not len(rows):
            return []
        k = min(top, len(rows))
        best = np.argpartition(-scores, k - 1)[:k] if len(rows) > k else np.arange(len(rows))
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(int(rows[i]), min(1.0, float(scores[i]))) for i in best]

    def scores(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(rows sharing a term with `text`, their cosine), in no order."""
        counts = terms(text)
        nothing = (np.zeros(0, dtype=np.int32), np.zeros(0))
        with self._lock:
            n = self.size
            if not n or not counts:
                return nothing
            known = [(self._vocabulary[t], c) for t, c in counts.items() if t in self._vocabulary]
            if not known:
                return nothing
            weighted = [(tid, (1.0 + math.log(c)) * self._idf(len(self._docs[tid]), n)) for tid, c in known]
            norm = math.sqrt(sum(w * w for _, w in weighted)) or 1.0
            kept: list[tuple[int, float]] = []
            budget = POSTINGS_BUDGET
            for tid, w in sorted(weighted, key=lambda x: -x[1])[:MAX_QUERY_TERMS]:
                if kept and len(self._docs[tid]) > budget:
                    break
                kept.append((tid, w))
                budget -= len(self._docs[tid])
            docs = np.concatenate([np.frombuffer(self._docs[tid], dtype=np.int32) for tid, _ in kept])
            weights = np.concatenate(
                [np.frombuffer(self._weights[tid], dtype=np.float32) * (w / norm) for tid, w in kept]
            )
        rows, inverse = np.unique(docs, return_inverse=True)
        return rows, np.bincount(inverse, weights=weights)


@dataclass(frozen=True, slots=True)
class Past:
    id: int
    draft_id: int | None
    message_text: str
    author_name: str | None
    reply: str


class PastReplies:
    """Every approved reply, indexed per language, caught up by id on `refresh`."""

    def __init__(self) -> None:
        self._indexes: dict[str, TextIndex] = {}
        self._rows: dict[str, list[Past]] = {}
        self._last_id = 0
        self._lock = threading.Lock()

    def refresh(self, session: Session, *, limit: int = 100_000) -> int:
        """Read the replies approved since the last call (by id); returns how many."""
        with self._lock:
            rows = session.execute(
                select(
                    PastReply.id,
                    PastReply.draft_id,
                    PastReply.language,
                    PastReply.message_text,
                    PastReply.author_name,
                    PastReply.reply,
                )
                .where(PastReply.id > self._last_id)
                .order_by(PastReply.id)
                .limit(limit)
            ).all()
            for pid, draft_id, language, text, author, reply in rows:
                self.add(Past(pid, draft_id, text, author, reply), language)
                self._last_id = pid
            return len(rows)

    def add(self, past: Past, language: str | None) -> None:
        key = language or ""
        index = self._indexes.get(key)
        if index is None:
            index = self._indexes[key] = TextIndex()
            self._rows[key] = []
        self._rows[key].append(past)
        index.add(past.message_text)

    def nearest(self, text: str, language: str | None, top: int = 10) -> list[tuple[Past, float]]:
        """The approved replies whose messages look most like `text`, best first."""
        key = language or ""
        index = self._indexes.get(key)
        if index is None:
            return []
        rows = self._rows[key]
        return [(rows[r], s) for r, s in index.search(text, top)]

    def recent(self, language: str | None, count: int) -> Sequence[Past]:
        return self._rows.get(language or "", [])[-count:]

    def size(self, language: str | None) -> int:
        return len(self._rows.get(language or "", []))


def record(session: Session, *, draft: Draft, message: Message, text: str) -> None:
    """An approved reply, as sent, becomes a past reply (in the approval's transaction)."""
    session.execute(
        insert(PastReply).values(
            draft_id=draft.id,
            language=message.language,
            message_text=message.text,
            author_name=message.author_name,
            reply=text,
            created_at=utcnow(),
        )
    )
    session.info["knowledge_changed"] = True  # the web process's drafters catch up after the commit


def record_use(session: Session, *, answer_id: int, draft_id: int, message: Message) -> bool:
    """The message an approved reply drafted from this answer answered becomes one more of the
    answer's examples (in the approval's transaction); False when the answer is gone."""
    if session.get(Answer, answer_id) is None:
        return False
    session.execute(
        insert(AnswerUse).values(
            answer_id=answer_id, draft_id=draft_id, message_text=message.text, created_at=utcnow()
        )
    )
    session.info["knowledge_changed"] = True
    return True


class SimilarReplies:
    """The replies shown beside a draft: the nearest past replies, through the drafter's index."""

    def __init__(self, past: PastReplies) -> None:
        self.past = past

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
        self.past.refresh(session)
        excluded = (
            session.scalar(select(Draft.id).where(Draft.message_id == exclude_message_id))
            if exclude_message_id is not None
            else None
        )
        out = []
        for past, score in self.past.nearest(text, language, top + 1):
            if score < MIN_SIMILARITY or (excluded is not None and past.draft_id == excluded):
                continue
            out.append(
                {
                    "draft_id": past.draft_id or 0,
                    "message_text": past.message_text,
                    "reply": past.reply,
                    "similarity": round(score, 3),
                }
            )
        return out[:top]


# -- the knowledge base ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AnswerRow:
    id: int
    version: int
    title: str
    body: str
    language: str
    category: str | None


# The latest uses of an answer it is found by (`AnswerUse`). banking77 reaches 0.878 top-1 with
# about 130 per answer (bench/reply_quality.py -k banking77); more would cost memory and look-up
# time (about 0.05 ms per 1,000 texts).
LEARNED_PER_ANSWER = 200


class AnswerIndex:
    """The enabled answers per language; each is found by its title, its examples and the
    messages it was used for (`AnswerUse`), by meaning (sentence vectors: the nearest of its
    points and the centroid of them all) and by words (TF-IDF cosine to the nearest point), the
    two scores mixed. Uses are caught up by id; a changed answer rebuilds the whole index."""

    def __init__(self, encoder: sentence.SentenceEncoder | None = None) -> None:
        self._stamp: tuple[Any, ...] | None = None
        self._indexes: dict[str, _Answers] = {}
        self._where: dict[int, _Answers] = {}  # answer id -> its language's index
        self._encoder = encoder
        self._last_use = 0

    @property
    def encoder(self) -> sentence.SentenceEncoder:
        if self._encoder is None:
            self._encoder = sentence.shipped()
        return self._encoder

    def refresh(self, session: Session) -> None:
        """Rebuild when an answer changed, else add the uses since the last call (two cheap
        queries when nothing is new)."""
        stamp = tuple(
            session.execute(
                select(
                    func.count(), func.max(Answer.id), func.max(Answer.updated_at), func.sum(Answer.version)
                )
            ).one()
        )
        if stamp != self._stamp:
            self._rebuild(session)
            self._stamp = stamp
            return
        new = session.execute(
            select(AnswerUse.id, AnswerUse.answer_id, AnswerUse.message_text)
            .where(AnswerUse.id > self._last_use)
            .order_by(AnswerUse.id)
            .limit(10_000)
        ).all()
        if new:
            self.learn((answer_id, text) for _, answer_id, text in new)
            self._last_use = new[-1][0]

    def _rebuild(self, session: Session) -> None:
        rows = session.execute(
            select(
                Answer.id,
                Answer.version,
                Answer.title,
                Answer.body,
                Answer.language,
                Answer.category,
                Answer.examples,
            ).where(Answer.enabled.is_(True))
        ).all()
        recent = (
            select(
                AnswerUse.id,
                AnswerUse.answer_id,
                AnswerUse.message_text,
                func.row_number()
                .over(partition_by=AnswerUse.answer_id, order_by=AnswerUse.id.desc())
                .label("n"),
            )
        ).subquery()
        uses: dict[int, list[str]] = {}
        last = session.scalar(select(func.max(AnswerUse.id))) or 0
        for _, answer_id, text in session.execute(
            select(recent.c.id, recent.c.answer_id, recent.c.message_text)
            .where(recent.c.n <= LEARNED_PER_ANSWER, recent.c.id <= last)
            .order_by(recent.c.id)
        ):
            uses.setdefault(answer_id, []).append(text)
        self.build((AnswerRow(*r[:6]), list(r[6] or []) + uses.get(r[0], [])) for r in rows)
        self._last_use = last

    def build(self, answers: Iterable[tuple[AnswerRow, list[str]]]) -> None:
        """Index these answers, each with its texts (examples, then learned ones)."""
        by_language: dict[str, list[tuple[AnswerRow, list[str]]]] = {}
        for answer, examples in answers:
            by_language.setdefault(answer.language, []).append((answer, [answer.title, *examples]))
        self._indexes = {language: _Answers(self.encoder, items) for language, items in by_language.items()}
        self._where = {a.id: index for index in self._indexes.values() for a in index.rows}

    def learn(self, uses: Iterable[tuple[int, str]]) -> None:
        """Add (answer id, message) pairs; an answer not indexed (disabled, deleted) or holding
        `LEARNED_PER_ANSWER` texts already is left as it is until the next rebuild (which keeps
        its latest uses)."""
        by_index: dict[int, tuple[_Answers, list[tuple[int, str]]]] = {}
        for answer_id, text in uses:
            index = self._where.get(answer_id)
            if index is not None:
                by_index.setdefault(id(index), (index, []))[1].append((answer_id, text))
        for index, items in by_index.values():
            index.add(self.encoder, items)

    def rows(self) -> list[AnswerRow]:
        """Every indexed (enabled) answer."""
        return [a for index in self._indexes.values() for a in index.rows]

    def row(self, answer_id: int) -> AnswerRow | None:
        index = self._where.get(answer_id)
        return index.rows[index.position[answer_id]] if index is not None else None

    def best(self, text: str, language: str | None) -> tuple[AnswerRow, float] | None:
        """The answer whose texts are most like `text`, with its score (0..1)."""
        ranked = self.ranked(text, language, top=1)
        return ranked[0] if ranked else None

    def ranked(self, text: str, language: str | None, top: int = 5) -> list[tuple[AnswerRow, float]]:
        """Up to `top` answers of the language with a score above 0 for `text`, best first."""
        found = self._indexes.get(language or "")
        return found.ranked(self.encoder, text, top) if found is not None else []

    def score(self, text: str, answer_id: int) -> float:
        """How well this answer (in any language) matches `text` (0 when it is not indexed)."""
        index = self._where.get(answer_id)
        return index.score_of(self.encoder, text, answer_id) if index is not None else 0.0


# Meaning against words, and within meaning the centroid of an answer's texts against its nearest
# one: chosen on banking77's train split (bench/reply_quality.py, docs/experiments/replies.md).
WORDS_WEIGHT = 0.2
CENTROID_WEIGHT = 0.7


class _Answers:
    """One language's answers: their texts' sentence vectors (a buffer that grows as uses are
    learned), the centroid of each answer's texts, and a TF-IDF index of the same texts in the
    same order."""

    def __init__(self, encoder: sentence.SentenceEncoder, items: list[tuple[AnswerRow, list[str]]]) -> None:
        self.rows = [answer for answer, _ in items]
        self.position = {answer.id: i for i, answer in enumerate(self.rows)}
        self.words = TextIndex()
        self.size = 0
        self.points = np.zeros((0, encoder.width), dtype=np.float32)
        self.owners = np.zeros(0, dtype=np.int64)
        self.sums = np.zeros((len(items), encoder.width), dtype=np.float32)
        self.centroids = np.zeros_like(self.sums)
        self.counts = np.array([len(texts) for _, texts in items], dtype=np.int64)  # the cap's count
        self._order: np.ndarray | None = None
        self._starts = np.zeros(0, dtype=np.int64)
        self._lock = threading.Lock()
        self._append(encoder, [(i, t) for i, (_, texts) in enumerate(items) for t in texts])

    def add(self, encoder: sentence.SentenceEncoder, uses: list[tuple[int, str]]) -> None:
        kept = []
        for answer_id, text in uses:
            i = self.position[answer_id]
            if self.counts[i] < LEARNED_PER_ANSWER:
                self.counts[i] += 1
                kept.append((i, text))
        if kept:
            self._append(encoder, kept)

    def _append(self, encoder: sentence.SentenceEncoder, items: list[tuple[int, str]]) -> None:
        vectors = encoder.encode([t for _, t in items])
        owners = np.array([i for i, _ in items], dtype=np.int64)
        with self._lock:
            needed = self.size + len(items)
            if needed > len(self.points):
                grown = np.zeros((max(needed, 2 * len(self.points)), self.points.shape[1]), dtype=np.float32)
                grown[: self.size] = self.points[: self.size]
                self.points = grown
                self.owners = np.resize(self.owners, len(grown))
            self.points[self.size : needed] = vectors
            self.owners[self.size : needed] = owners
            for _, text in items:
                self.words.add(text)
            self.size = needed
            np.add.at(self.sums, owners, vectors)
            touched = np.unique(owners)
            norms = np.linalg.norm(self.sums[touched], axis=1, keepdims=True)
            norms[norms == 0.0] = 1.0
            self.centroids[touched] = self.sums[touched] / norms

    def _grouped(self) -> tuple[np.ndarray, np.ndarray]:
        """The points ordered by answer and where each answer's run starts (for `reduceat`: every
        answer has a point, its title), sorted again only after points were added."""
        if self._order is None or len(self._order) != self.size:
            owners = self.owners[: self.size]
            self._order = np.argsort(owners, kind="stable")
            counts = np.bincount(owners, minlength=len(self.rows))
            self._starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        return self._order, self._starts

    def scores(self, encoder: sentence.SentenceEncoder, text: str) -> np.ndarray:
        """Every answer's score for `text` (0..1)."""
        query = encoder.encode([text])[0]
        with self._lock:
            rows, found = self.words.scores(text)
            order, starts = self._grouped()
            nearest = np.maximum.reduceat((self.points[: self.size] @ query)[order], starts)
            meaning = CENTROID_WEIGHT * (self.centroids @ query) + (1.0 - CENTROID_WEIGHT) * nearest
            per_point = np.zeros(self.size, dtype=np.float64)
            per_point[rows] = np.minimum(found, 1.0)
            words = np.maximum.reduceat(per_point[order], starts)
        mixed: np.ndarray = (1.0 - WORDS_WEIGHT) * np.maximum(meaning, 0.0) + WORDS_WEIGHT * words
        capped: np.ndarray = np.minimum(mixed, 1.0)
        return capped

    def ranked(self, encoder: sentence.SentenceEncoder, text: str, top: int) -> list[tuple[AnswerRow, float]]:
        scores = self.scores(encoder, text)
        order = np.argsort(-scores, kind="stable")[:top]
        return [(self.rows[i], float(scores[i])) for i in order if scores[i] > 0.0]

    def score_of(self, encoder: sentence.SentenceEncoder, text: str, answer_id: int) -> float:
        return float(self.scores(encoder, text)[self.position[answer_id]])
