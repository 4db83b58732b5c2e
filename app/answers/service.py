"""The knowledge base for the admin: list, read, check (the body must render in the templates'
sandbox), create, change under a version, delete, import and export (JSON or CSV).

Services flush; the caller's unit of work commits. Every change is audited (`audit.record_admin`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import audit, i18n
from app.config import Settings
from app.errors import Conflict, Invalid, NotFound
from app.i18n import N_, Reason
from app.models import CATEGORIES, Answer, AnswerUse, Draft, PastReply, ReplyTemplate, utcnow
from app.reply_templates import service as reply_templates
from app.reply_templates.rendering import BODY_LIMIT

FIELDS = ("title", "body", "language", "category", "examples", "enabled")
CSV_COLUMNS = ("title", "body", "language", "category", "examples", "enabled")
MAX_EXAMPLES = 20
TITLE_LIMIT = 200
EXAMPLE_LIMIT = 500
BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def list_all(session: Session, *, language: str | None = None) -> list[Answer]:
    """Every answer, by language and title."""
    q = select(Answer).order_by(Answer.language, Answer.title, Answer.id)
    if language is not None:
        q = q.where(Answer.language == language)
    return list(session.scalars(q))


def get(session: Session, answer_id: int) -> Answer:
    answer = session.get(Answer, answer_id)
    if answer is None:
        raise NotFound(Reason(N_("answer %(id)s not found"), {"id": answer_id}))
    return answer


def errors_in(settings: Settings, values: dict[str, Any]) -> list[Reason]:
    """Every reason these fields cannot be saved (empty when they can)."""
    errors: list[Reason] = []
    title, body, language = values.get("title"), values.get("body"), values.get("language")
    if not isinstance(title, str) or not 1 <= len(title.strip()) <= TITLE_LIMIT:
        errors.append(Reason(N_("The title needs 1 to %(max)s characters."), {"max": TITLE_LIMIT}))
    if not isinstance(body, str) or not 1 <= len(body.strip()) <= BODY_LIMIT:
        errors.append(Reason(N_("The body needs 1 to %(max)s characters."), {"max": BODY_LIMIT}))
    else:
        shown = reply_templates.preview(settings, body)
        if not shown["ok"]:
            errors.append(Reason(N_("The body does not render: %(error)s"), {"error": shown["error"]}))
    if not isinstance(language, str) or not 2 <= len(language) <= 8 or not language.isalpha():
        errors.append(Reason(N_("The language is a code such as fr or en.")))
    if values.get("category") is not None and values.get("category") not in CATEGORIES:
        errors.append(
            Reason(N_("The category is empty or one of %(choices)s."), {"choices": ", ".join(CATEGORIES)})
        )
    examples = values.get("examples")
    if (
        not isinstance(examples, list)
        or len(examples) > MAX_EXAMPLES
        or not all(isinstance(e, str) and 1 <= len(e.strip()) <= EXAMPLE_LIMIT for e in examples)
    ):
        errors.append(
            Reason(
                N_("The examples are at most %(count)s customer messages of 1 to %(max)s characters."),
                {"count": MAX_EXAMPLES, "max": EXAMPLE_LIMIT},
            )
        )
    if not isinstance(values.get("enabled"), bool):
        errors.append(Reason(N_("Enabled is true or false.")))
    return errors


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for k in ("title", "body"):
        if isinstance(out.get(k), str):
            out[k] = out[k].strip()
    if isinstance(out.get("language"), str):
        out["language"] = out["language"].strip().lower()
    if isinstance(out.get("examples"), list):
        out["examples"] = [e.strip() for e in out["examples"] if isinstance(e, str) and e.strip()] + [
            e for e in out["examples"] if not isinstance(e, str)
        ]
    return out


def snapshot(answer: Answer) -> dict[str, Any]:
    """The fields of an answer, as exported and audited."""
    return {k: getattr(answer, k) for k in FIELDS}


def save(
    session: Session,
    settings: Settings,
    *,
    answer: Answer | None,
    values: dict[str, Any],
    user_id: int | None,
    expected_version: int | None = None,
) -> Answer:
    """Create (`answer` None) or change an answer: validated whole, its version moved on.
    Invalid (422) with every reason, Conflict (409) on a stale version; nothing written then."""
    merged = snapshot(answer) if answer is not None else {"category": None, "examples": [], "enabled": True}
    merged.update({k: v for k, v in values.items() if k in FIELDS})
    merged = _clean(merged)
    errors = errors_in(settings, merged)
    if errors:
        english = [str(r) for r in errors]
        raise Invalid(" ".join(english), detail={"errors": english}, reasons=errors)
    if answer is not None and expected_version is not None and answer.version != expected_version:
        stale = Reason(N_("Someone changed this answer meanwhile: reload it, then apply your change again."))
        raise Conflict(stale, detail={"version": answer.version})
    now = utcnow()
    action = "created" if answer is None else "changed"
    if answer is None:
        answer = Answer(version=0, created_at=now)
        session.add(answer)
    before = snapshot(answer) if action == "changed" else {}
    for k in FIELDS:
        setattr(answer, k, merged[k])
    answer.version += 1
    answer.updated_by, answer.updated_at = user_id, now
    session.flush()
    changed = {k: merged[k] for k in FIELDS if before.get(k) != merged[k]}
    audit.record_admin(session, "answer", answer.id, action, user_id, now, version=answer.version, **changed)
    session.info["knowledge_changed"] = True
    return answer


def delete(
    session: Session, *, answer: Answer, user_id: int | None, expected_version: int | None = None
) -> None:
    """Remove an answer (409 on a stale version); its fields stay in the audit trail."""
    if expected_version is not None and answer.version != expected_version:
        raise Conflict(
            Reason(N_("Someone changed this answer meanwhile: reload it before deleting it.")),
            detail={"version": answer.version},
        )
    audit.record_admin(session, "answer", answer.id, "deleted", user_id, utcnow(), **snapshot(answer))
    session.delete(answer)
    session.flush()
    session.info["knowledge_changed"] = True


# -- what an answer learned from its use (`AnswerUse`, recorded by `app.review.service.approve`) --

LEARNED_SHOWN = 50


def uses_of(session: Session, answer_id: int, *, limit: int = LEARNED_SHOWN) -> tuple[int, list[AnswerUse]]:
    """How many customers' messages this answer learned, and the latest `limit` of them."""
    count = session.scalar(select(func.count()).where(AnswerUse.answer_id == answer_id)) or 0
    latest = session.scalars(
        select(AnswerUse).where(AnswerUse.answer_id == answer_id).order_by(AnswerUse.id.desc()).limit(limit)
    )
    return count, list(latest)


def forget_use(session: Session, *, answer: Answer, use_id: int, user_id: int | None) -> None:
    """An admin takes a learned message back (it was answered with this answer by mistake); the
    drafters' indexes rebuild (the answer's `updated_at` moves on, its version does not: nobody's
    edit of its fields is made stale). 404 when the answer holds no such use."""
    use = session.get(AnswerUse, use_id)
    if use is None or use.answer_id != answer.id:
        raise NotFound(
            Reason(N_("answer %(id)s learned no message %(use)s"), {"id": answer.id, "use": use_id})
        )
    now = utcnow()
    audit.record_admin(
        session, "answer", answer.id, "use forgotten", user_id, now, message_text=use.message_text
    )
    session.delete(use)
    answer.updated_at = now
    session.flush()
    session.info["knowledge_changed"] = True


SOURCE_KINDS = {
    "answer": N_("saved answer"),
    "past_reply": N_("the team’s earlier reply"),
    "template": N_("template"),
}


def source_of(session: Session, draft: Draft) -> dict[str, Any] | None:
    """What the message page says a draft was drafted from: a title, a link, how alike."""
    if not draft.text or draft.source_id is None or draft.source_kind not in SOURCE_KINDS:
        return None
    title, url = None, None
    if draft.source_kind == "answer":
        answer = session.get(Answer, draft.source_id)
        title, url = (answer.title if answer else None), f"/answers/{draft.source_id}"
    elif draft.source_kind == "past_reply":
        title = session.scalar(
            select(PastReply.message_text).where(PastReply.draft_id == draft.source_id).limit(1)
        )
        url = f"/drafts/{draft.source_id}"
    else:
        template = session.get(ReplyTemplate, draft.source_id)
        title, url = (template.name if template else None), f"/templates/{draft.source_id}"
    return {
        "kind": draft.source_kind,
        "kind_label": SOURCE_KINDS[draft.source_kind],
        "id": draft.source_id,
        "score": draft.source_score or 0.0,
        "title": title or f"#{draft.source_id}",
        "url": url,
    }


# -- import and export -----------------------------------------------------------------------------


def export_rows(answers: Iterable[Answer]) -> list[dict[str, Any]]:
    return [snapshot(a) for a in answers]


def to_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"


def to_csv(rows: list[dict[str, Any]]) -> str:
    """One answer a row; the examples one a line inside their cell."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(
            {
                **r,
                "category": r["category"] or "",
                "examples": "\n".join(r["examples"]),
                "enabled": "true" if r["enabled"] else "false",
            }
        )
    return out.getvalue()


def _refused(language: str, message: str, **variables: Any) -> Invalid:
    reason = Reason(message, variables)
    return Invalid(reason.text(language), reasons=[reason])


def parse(text: str, *, fmt: str, language: str = "en") -> list[dict[str, Any]]:
    """The answers of a JSON (a list of objects) or CSV export; Invalid (in `language`) when it
    is neither."""
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise _refused(language, N_("not JSON: %(error)s"), error=str(e)) from e
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise _refused(language, N_("the JSON must be a list of answers (objects)"))
        return data
    if fmt != "csv":
        raise _refused(language, N_("the format is json or csv"))
    reader = csv.DictReader(io.StringIO(text))
    missing = {"title", "body", "language"} - set(reader.fieldnames or [])
    if missing:
        raise _refused(
            language, N_("the CSV lacks the columns %(columns)s"), columns=", ".join(sorted(missing))
        )
    rows = []
    for r in reader:
        enabled = (r.get("enabled") or "true").strip().lower()
        version = (r.get("version") or "").strip()
        rows.append(
            {
                **({"version": int(version) if version.isdigit() else version} if version else {}),
                "title": r.get("title") or "",
                "body": r.get("body") or "",
                "language": r.get("language") or "",
                "category": (r.get("category") or "").strip() or None,
                "examples": [e for e in (r.get("examples") or "").splitlines() if e.strip()],
                "enabled": {
                    "true": True,
                    "1": True,
                    "yes": True,
                    "false": False,
                    "0": False,
                    "no": False,
                }.get(enabled, enabled),
            }
        )
    return rows


def import_rows(
    session: Session,
    settings: Settings,
    rows: list[dict[str, Any]],
    *,
    user_id: int | None,
    language: str = "en",
) -> tuple[int, int]:
    """Create each answer, or change the one of the same title and language: (created, changed).
    Every row is checked first; one bad row and nothing is written: Invalid (422) with every
    row's reasons, Conflict (409) when a row's `version` is not the stored answer's. The reasons
    are in `language` (the catalogs), in `detail` as `{"errors": [...], "rows": [{"row", "reasons"}]}`."""
    problems: list[tuple[int, list[Reason]]] = []
    for number, r in enumerate(rows, 1):
        unknown = set(r) - set(FIELDS) - {"id", "version", "created_at", "updated_at"}
        errors = errors_in(settings, _clean({"category": None, "examples": [], "enabled": True, **r}))
        if unknown:
            errors.append(Reason(N_("Unknown fields: %(fields)s."), {"fields": ", ".join(sorted(unknown))}))
        version = r.get("version")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 1):
            errors.append(Reason(N_("The version is a whole number from 1, or absent.")))
        if errors:
            problems.append((number, errors))
    if problems:
        raise Invalid(*_row_problems(problems, language, N_("%(count)s answers refused, nothing imported.")))
    existing = {(a.title, a.language): a for a in list_all(session)}
    stale = []
    for number, r in enumerate(rows, 1):
        current = existing.get((_clean(r)["title"], _clean(r)["language"]))
        if current is not None and r.get("version") is not None and r["version"] != current.version:
            reason = Reason(
                N_("This answer changed meanwhile (version %(version)s now): export again, then import."),
                {"version": current.version},
            )
            stale.append((number, [reason]))
    if stale:
        raise Conflict(
            *_row_problems(stale, language, N_("%(count)s answers changed since exported, nothing imported."))
        )
    created = changed = 0
    for r in rows:
        values = _clean({k: r[k] for k in FIELDS if k in r})
        current = existing.get((values["title"], values["language"]))
        if current is not None and all(
            current_value == values.get(k, current_value) for k, current_value in snapshot(current).items()
        ):
            continue
        saved = save(session, settings, answer=current, values=values, user_id=user_id)
        existing[(saved.title, saved.language)] = saved
        created, changed = (created + 1, changed) if current is None else (created, changed + 1)
    return created, changed


def _row_problems(
    problems: list[tuple[int, list[Reason]]], language: str, summary: str
) -> tuple[str, dict[str, Any]]:
    """(message, detail) of a refused import: every row's reasons, in `language`."""
    texts = [(n, [r.text(language) for r in reasons]) for n, reasons in problems]
    lines = [
        i18n.t(language, N_("answer %(row)s: %(reasons)s"), row=n, reasons=" ".join(t)) for n, t in texts
    ]
    message = " ".join([i18n.t(language, summary, count=len(texts)), *lines[:10]])
    return message, {"errors": lines, "rows": [{"row": n, "reasons": t} for n, t in texts]}


def import_text(
    session: Session,
    settings: Settings,
    text: str,
    *,
    fmt: str,
    user_id: int | None,
    language: str = "en",
) -> tuple[int, int]:
    """Import a JSON or CSV export (`relais answers import` and `POST /api/answers/import`)."""
    rows = parse(text, fmt=fmt, language=language)
    return import_rows(session, settings, rows, user_id=user_id, language=language)
