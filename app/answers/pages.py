"""The knowledge base's pages (admin): list, create, edit, delete saved answers. Same rules as
the other pages: a session, the CSRF token on every POST, autoescaped `.html` templates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from app import i18n
from app.answers import service
from app.deps import ReadSessionDep, RowInt, SessionDep, SettingsDep
from app.errors import RelaisError
from app.models import Answer, AnswerUse
from app.reply_templates import service as reply_templates
from app.reply_templates.rendering import BODY_LIMIT
from app.web.flash import flash
from app.web.pages import FormErrors, page, page_router, redirect, save_form
from app.web.security import FormAdmin, PageAdmin, PageError, Viewer

router = page_router()
NEW_BODY = "Bonjour {{ first_name }}, … {{ signature }}"


@router.get("/answers")
def answers_list(request: Request, session: ReadSessionDep, viewer: PageAdmin) -> Response:
    """Every saved answer (admin)."""
    rows = service.list_all(session)
    return page(request, "answers_list.html", {"viewer": viewer, "answers": rows}, session=session)


def _form(
    request: Request,
    viewer: Viewer,
    settings: Any,
    answer: Answer | None,
    values: dict[str, Any],
    errors: FormErrors,
    status_code: int = 200,
    learned: tuple[int, list[AnswerUse]] = (0, []),
) -> Response:
    body = values.get("body") or ""
    return page(
        request,
        "answer_edit.html",
        {
            "viewer": viewer,
            "answer": answer,
            "values": values,
            "errors": errors,
            "preview": reply_templates.preview(settings, body) if body else None,
            "body_limit": BODY_LIMIT,
            "learned": learned,
        },
        status_code=status_code,
    )


@router.get("/answers/new")
def answer_new(request: Request, settings: SettingsDep, viewer: PageAdmin) -> Response:
    """A blank answer form (admin)."""
    values: dict[str, Any] = {
        "title": "",
        "body": NEW_BODY,
        "language": "fr",
        "category": None,
        "examples": [],
        "enabled": True,
    }
    return _form(request, viewer, settings, None, values, [])


@router.get("/answers/{answer_id:int}")
def answer_edit(
    answer_id: RowInt, request: Request, session: ReadSessionDep, settings: SettingsDep, viewer: PageAdmin
) -> Response:
    """Edit one answer with a preview (admin)."""
    answer = session.get(Answer, answer_id)
    if answer is None:
        raise PageError(404, i18n.t(i18n.language_of(request), "Answer %(id)s not found.", id=answer_id))
    learned = service.uses_of(session, answer_id)
    return _form(request, viewer, settings, answer, service.snapshot(answer), [], learned=learned)


@dataclass
class AnswerForm:
    """The fields of the answer form; the examples one a line."""

    title: Annotated[str, Form(max_length=400)] = ""
    body: Annotated[str, Form(max_length=BODY_LIMIT)] = ""
    language: Annotated[str, Form(max_length=16)] = ""
    category: Annotated[str, Form(max_length=16)] = ""
    examples: Annotated[str, Form(max_length=20_000)] = ""
    enabled: Annotated[str, Form(max_length=8)] = ""
    version: Annotated[int | None, Form()] = None
    action: Annotated[str, Form(max_length=16)] = "save"


AnswerFormDep = Annotated[AnswerForm, Depends()]


@router.post("/answers")
def answer_create(
    request: Request, session: SessionDep, settings: SettingsDep, viewer: FormAdmin, form: AnswerFormDep
) -> Response:
    """Create an answer (admin), or only preview it (action=preview)."""
    return _save(request, session, settings, viewer, None, form)


@router.post("/answers/{answer_id:int}")
def answer_update(
    answer_id: RowInt,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: FormAdmin,
    form: AnswerFormDep,
) -> Response:
    """Change an answer (admin) from the version shown; a stale one is refused."""
    answer = session.get(Answer, answer_id)
    if answer is None:
        raise PageError(404, i18n.t(i18n.language_of(request), "Answer %(id)s not found.", id=answer_id))
    return _save(request, session, settings, viewer, answer, form)


@router.post("/answers/{answer_id:int}/delete")
def answer_delete(
    answer_id: RowInt,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: FormAdmin,
    version: Annotated[int | None, Form()] = None,
) -> Response:
    """Delete an answer (admin) from the version shown."""
    language = i18n.language_of(request)
    answer = session.get(Answer, answer_id)
    if answer is None:
        raise PageError(404, i18n.t(language, "Answer %(id)s not found.", id=answer_id))
    title = answer.title
    try:
        service.delete(session, answer=answer, user_id=viewer.user_id, expected_version=version)
    except RelaisError:
        session.rollback()
        text = i18n.t(language, "Someone changed this answer meanwhile: reload it, then try again.")
        return flash(redirect(f"/answers/{answer_id}"), settings, "error", text)
    return flash(
        redirect("/answers"), settings, "ok", i18n.t(language, "Answer “%(title)s” deleted.", title=title)
    )


@router.post("/answers/{answer_id:int}/uses/{use_id:int}/delete")
def answer_forget_use(
    answer_id: RowInt,
    use_id: RowInt,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: FormAdmin,
) -> Response:
    """Take a learned message back (admin)."""
    language = i18n.language_of(request)
    answer = session.get(Answer, answer_id)
    if answer is None:
        raise PageError(404, i18n.t(language, "Answer %(id)s not found.", id=answer_id))
    try:
        service.forget_use(session, answer=answer, use_id=use_id, user_id=viewer.user_id)
    except RelaisError:
        session.rollback()
        text = i18n.t(language, "This message was already forgotten.")
        return flash(redirect(f"/answers/{answer_id}"), settings, "error", text)
    text = i18n.t(language, "Forgotten: drafting no longer finds this answer by that message.")
    return flash(redirect(f"/answers/{answer_id}#learned-h"), settings, "ok", text)


def _save(
    request: Request, session: Session, settings: Any, viewer: Viewer, answer: Answer | None, form: AnswerForm
) -> Response:
    values: dict[str, Any] = {
        "title": form.title.strip(),
        "body": form.body,
        "language": form.language.strip().lower(),
        "category": form.category or None,
        "examples": [e.strip() for e in form.examples.splitlines() if e.strip()],
        "enabled": form.enabled == "on",
    }

    def saved(a: Answer) -> Response:
        text = i18n.t(
            i18n.language_of(request),
            "Answer “%(title)s” saved (version %(version)s).",
            title=a.title,
            version=a.version,
        )
        return flash(redirect(f"/answers/{a.id}"), settings, "ok", text)

    return save_form(
        session,
        preview=form.action == "preview",
        check=lambda: service.errors_in(settings, values),
        save=lambda: service.save(
            session,
            settings,
            answer=answer,
            values=values,
            user_id=viewer.user_id,
            expected_version=form.version if answer is not None else None,
        ),
        show=lambda errors, status: _form(
            request, viewer, settings, answer, values, errors, status_code=status
        ),
        saved=saved,
    )
