"""The reply template pages (admin): the list, the editor with its live preview in the sandbox, saving."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from app import i18n
from app.deps import ReadSessionDep, RowInt, SessionDep, SettingsDep
from app.i18n import Reason
from app.models import ReplyTemplate
from app.reply_templates import service as reply_templates
from app.reply_templates.rendering import BODY_LIMIT
from app.web import security as sec
from app.web.flash import flash
from app.web.pages import FormErrors, page, page_router, redirect, save_form
from app.web.security import FormAdmin, PageAdmin, PageError, Viewer

router = page_router()


@router.get("/templates")
def templates_list(request: Request, session: ReadSessionDep, viewer: PageAdmin) -> Response:
    """Every reply template (admin)."""
    rows = reply_templates.list_all(session)
    return page(request, "templates_list.html", {"viewer": viewer, "templates": rows}, session=session)


def _template_form(
    request: Request,
    viewer: Viewer,
    settings: Any,
    template: ReplyTemplate | None,
    values: dict[str, Any],
    errors: FormErrors,
    status_code: int = 200,
) -> Response:
    shown = _preview(settings, values) if values.get("body") else None
    return page(
        request,
        "template_edit.html",
        {
            "viewer": viewer,
            "template": template,
            "values": values,
            "errors": errors,
            "preview": shown,
            "unknown_reasons": reply_templates.unknown_variable_errors(settings, shown["unknown"])
            if shown
            else [],
            "variables": reply_templates.known_variables(settings),
            "body_limit": BODY_LIMIT,
            "sample_author": reply_templates.SAMPLE_AUTHOR,
        },
        status_code=status_code,
    )


def _preview(settings: Any, values: dict[str, Any]) -> dict[str, Any]:
    """The form's body rendered for a sample message of its category, language and channel kind."""
    return reply_templates.preview(
        settings,
        values["body"],
        category=values.get("category"),
        language=values.get("language"),
        channel_kind=values.get("channel_kind"),
    )


@router.get("/templates/new")
def template_new(request: Request, settings: SettingsDep, viewer: PageAdmin) -> Response:
    """A blank template form (admin)."""
    values = {
        "name": "",
        "category": "question",
        "language": "fr",
        "channel_kind": "any",
        "register": "any",
        "body": "Bonjour {{ first_name }}, merci pour votre message. {{ signature }}",
        "enabled": True,
    }
    return _template_form(request, viewer, settings, None, values, [])


@router.get("/templates/{template_id:int}")
def template_edit(
    template_id: RowInt, request: Request, session: ReadSessionDep, settings: SettingsDep, viewer: PageAdmin
) -> Response:
    """Edit one template with a live preview (admin)."""
    t = session.get(ReplyTemplate, template_id)
    if t is None:
        raise PageError(404, i18n.t(i18n.language_of(request), "Template %(id)s not found.", id=template_id))
    values = {k: getattr(t, k) for k in reply_templates.FIELDS} | {"version": t.version}
    return _template_form(request, viewer, settings, t, values, [])


@router.post("/templates/preview")
def template_preview(
    request: Request,
    settings: SettingsDep,
    viewer: FormAdmin,
    body: Annotated[str, Form(max_length=BODY_LIMIT)] = "",
    category: Annotated[str, Form(max_length=16)] = "",
    language: Annotated[str, Form(max_length=16)] = "",
    channel_kind: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """The live preview: the body rendered in the sandbox for a sample message of the template's
    category, language and channel kind (JSON, admin); unknown variables in the viewer's language."""
    values = {"body": body, "category": category, "language": language, "channel_kind": channel_kind}
    shown = _preview(settings, values)
    language_ = i18n.language_of(request)
    reasons = reply_templates.unknown_variable_errors(settings, shown["unknown"])
    shown["unknown_reasons"] = [r.text(language_) for r in reasons]
    return sec.add_security_headers(JSONResponse(shown))


@dataclass
class TemplateForm:
    """The fields of the template form."""

    name: Annotated[str, Form(max_length=200)] = ""
    category: Annotated[str, Form(max_length=16)] = ""
    language: Annotated[str, Form(max_length=16)] = ""
    channel_kind: Annotated[str, Form(max_length=16)] = "any"
    register_: Annotated[str, Form(max_length=16, alias="register")] = "any"
    body: Annotated[str, Form(max_length=BODY_LIMIT)] = ""
    enabled: Annotated[str, Form(max_length=8)] = ""
    version: Annotated[int | None, Form()] = None
    action: Annotated[str, Form(max_length=16)] = "save"


TemplateFormDep = Annotated[TemplateForm, Depends()]


@router.post("/templates")
def template_create(
    request: Request, session: SessionDep, settings: SettingsDep, viewer: FormAdmin, form: TemplateFormDep
) -> Response:
    """Create a template (admin), or only preview it (action=preview, for pages without JS)."""
    return _template_save(request, session, settings, viewer, None, form)


@router.post("/templates/{template_id:int}")
def template_update(
    template_id: RowInt,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: FormAdmin,
    form: TemplateFormDep,
) -> Response:
    """Change a template (admin); its version moves on."""
    t = session.get(ReplyTemplate, template_id)
    if t is None:
        raise PageError(404, i18n.t(i18n.language_of(request), "Template %(id)s not found.", id=template_id))
    return _template_save(request, session, settings, viewer, t, form)


def _template_save(
    request: Request,
    session: Session,
    settings: Any,
    viewer: Viewer,
    t: ReplyTemplate | None,
    form: TemplateForm,
) -> Response:
    values: dict[str, Any] = {
        "name": form.name.strip(),
        "category": form.category,
        "language": form.language.strip().lower(),
        "channel_kind": form.channel_kind,
        "register": form.register_,
        "body": form.body,
        "enabled": form.enabled == "on",
        "version": form.version,
    }

    def check() -> list[Reason]:
        errors = reply_templates.errors_in(values)
        if form.body:
            errors.extend(reply_templates.render_errors(settings, _preview(settings, values)))
        return errors

    return save_form(
        session,
        preview=form.action == "preview",
        check=check,
        save=lambda: reply_templates.save(
            session,
            settings,
            template=t,
            values=values,
            user_id=viewer.user_id,
            expected_version=form.version if t is not None else None,
        ),
        show=lambda errors, status: _template_form(
            request, viewer, settings, t, values, errors, status_code=status
        ),
        saved=lambda saved: flash(
            redirect(f"/templates/{saved.id}"),
            settings,
            "ok",
            i18n.t(
                i18n.language_of(request),
                "Template “%(name)s” saved (version %(version)s).",
                name=saved.name,
                version=saved.version,
            ),
        ),
    )
