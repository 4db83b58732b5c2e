"""The review pages: server-rendered HTML over the same services as the JSON API.

Every page needs a logged-in reviewer (else 303 to /login?next=...); every POST carries the
session's CSRF token; decisions redirect (303) to the next draft of the queue; conflicts become
a flash message. Every response carries the Content-Security-Policy (no inline script or style).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.answers import service as answers
from app.deps import ReadSessionDep, RowInt, SessionDep, SettingsDep
from app.drafts import service as drafts
from app.errors import BadRequest, RelaisError
from app.models import CATEGORIES, CATEGORY_PRIORITY, Draft, Message, OutboxItem, ReplyTemplate, utcnow
from app.outbox import service as outbox
from app.reply_templates import rendering
from app.reply_templates import service as reply_templates
from app.users import service as users
from app.web import security as sec
from app.web import service as web
from app.web.security import FormAdmin, FormViewer, PageAdmin, PageError, PageRedirect, PageViewer, Viewer

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.filters["waited"] = web.waited
templates.env.filters["safe_url"] = web.safe_url
templates.env.globals["CATEGORY_LABELS"] = web.CATEGORY_LABELS
templates.env.globals["CATEGORIES"] = sorted(CATEGORIES, key=lambda c: CATEGORY_PRIORITY[c])
MAX_TEXT = 10_000


class WebRoute(APIRoute):
    """Turns `PageRedirect`/`PageError`/`RelaisError` into HTML responses and adds the security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except PageRedirect as e:
                response = RedirectResponse(e.url, status_code=303)
            except PageError as e:
                response = error_page(request, e.status_code, e.message)
            except RelaisError as e:  # reads only: writing routes catch their own and roll back
                response = error_page(request, e.status_code, e.message)
            except RequestValidationError as e:  # an id out of range, a form field refused
                response = error_page(request, 422, str(e.errors()[0]["msg"]) if e.errors() else "invalid")
            return sec.add_security_headers(response)

        return route


# forms carry at most a 10,000-character reply (percent-encoded: up to 9 bytes a character)
MAX_FORM_BYTES = 256 * 1024
router = APIRouter(
    tags=["pages"], route_class=WebRoute, include_in_schema=False, max_body_size=MAX_FORM_BYTES
)


def error_page(request: Request, status: int, message: str) -> Response:
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message, "viewer": None}, status_code=status
    )


# -- flash messages (one cookie, read once) --------------------------------------------------------


def flash(response: Response, settings: Any, kind: str, text: str) -> Response:
    raw = base64.urlsafe_b64encode(json.dumps({"kind": kind, "text": text[:300]}).encode()).decode()
    response.set_cookie(
        sec.FLASH_COOKIE,
        raw,
        max_age=60,
        path="/",
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
    )
    return response


def take_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(sec.FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode()))
        return {
            "kind": "error" if data.get("kind") == "error" else "ok",
            "text": str(data.get("text", ""))[:300],
        }
    except (ValueError, TypeError, AttributeError):
        return None


def page(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    session: Session | None = None,
) -> Response:
    """Render a page for the viewer; the flash message, if any, is shown once."""
    message = take_flash(request)
    response = templates.TemplateResponse(
        request, name, {"flash": message, **context}, status_code=status_code
    )
    if session is not None:
        session.expunge_all()  # the rows in the context stay readable (tests) after the read-only rollback
    if message is not None or sec.FLASH_COOKIE in request.cookies:
        response.delete_cookie(sec.FLASH_COOKIE, path="/")
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# -- queue filters, carried from the queue to each draft and back ----------------------------------

FILTER_KEYS = ("status", "category", "platform", "language", "to_sort")


def parse_filter(params: dict[str, str]) -> tuple[drafts.QueueFilter, dict[str, str]]:
    """A QueueFilter from query or form values, and the clean values to carry on in links."""
    clean = {k: params[k].strip() for k in FILTER_KEYS if params.get(k, "").strip()}
    status = clean.get("status", "pending")
    if status not in drafts.STATUSES:
        clean.pop("status", None)
        status = "pending"
    category = clean.get("category")
    if category is not None and category not in CATEGORIES:
        clean.pop("category")
        category = None
    to_sort = {"yes": True, "no": False}.get(clean.get("to_sort", ""))
    if to_sort is None:
        clean.pop("to_sort", None)
    platform = clean.get("platform", "")[:16] or None
    language = clean.get("language", "")[:8] or None
    filt = drafts.QueueFilter(
        status=status, category=category, platform=platform, language=language, to_sort=to_sort
    )
    return filt, clean


def with_query(path: str, query: dict[str, str]) -> str:
    return path + ("?" + urlencode(query) if query else "")


def filter_from_form(q: str) -> tuple[drafts.QueueFilter, dict[str, str]]:
    from urllib.parse import parse_qsl

    return parse_filter(dict(parse_qsl(q[:1000])))


def after_decision(session: Session, draft: Draft, q: str) -> str:
    """Where to go once a draft is decided: the next pending draft of the same view, else the queue."""
    filt, clean = filter_from_form(q)
    filt = drafts.QueueFilter(
        status="pending",
        category=filt.category,
        platform=filt.platform,
        language=filt.language,
        to_sort=filt.to_sort,
    )
    clean.pop("status", None)
    nxt = web.next_draft_id(session, filt=filt, after=draft) or web.next_draft_id(
        session, filt=filt, after=None
    )
    return with_query(f"/drafts/{nxt}", clean) if nxt is not None else with_query("/", clean)


# -- login -----------------------------------------------------------------------------------------


def login_page(
    request: Request,
    settings: Any,
    *,
    error: str | None = None,
    status_code: int = 200,
    username: str = "",
    next_url: str = "/",
) -> Response:
    nonce = sec.new_login_nonce()
    response = templates.TemplateResponse(
        request,
        "login.html",
        {
            "viewer": None,
            "csrf_token": sec.login_csrf(settings, nonce),
            "error": error,
            "username": username,
            "next": sec.safe_next(next_url),
            "flash": None,
        },
        status_code=status_code,
    )
    sec.set_login_cookie(response, settings, nonce)
    return response


@router.get("/login")
def login_form(request: Request, settings: SettingsDep, next: str = "/") -> Response:
    """The login form."""
    return login_page(request, settings, next_url=next)


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the password (argon2), throttled per client address; opens a session."""
    if not sec.check_login_csrf(request, settings, csrf_token):
        raise PageError(
            403, "The login form expired or lacks its security token (CSRF). Reload the page and retry."
        )
    name = username.strip()[:64]
    address = sec.client_address(request)
    wait = sec.login_wait_s(session, settings, name=name, address=address)
    if wait:
        response = login_page(
            request,
            settings,
            status_code=429,
            username=name,
            next_url=next,
            error=f"Too many failed attempts from your address. Wait {wait} s, then try again.",
        )
        response.headers["Retry-After"] = str(wait)
        return response
    user = users.check_password(session, name=name, password=password) if name and password else None
    if user is None:
        sec.login_failed(session, settings, name=name, address=address)
        return login_page(
            request,
            settings,
            status_code=401,
            username=name,
            next_url=next,
            error="Wrong username or password.",
        )
    sec.login_succeeded(session, name=name, address=address)
    token = sec.start_session(session, settings, user=user)
    response = redirect(sec.safe_next(next))
    sec.set_session_cookie(response, settings, token)
    response.delete_cookie(sec.LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(session: SessionDep, settings: SettingsDep, viewer: FormViewer) -> Response:
    """End the session."""
    sec.end_session(session, session_id=viewer.session_id)
    response = redirect("/login")
    sec.clear_session_cookie(response, settings)
    return response


# -- the queue -------------------------------------------------------------------------------------


@router.get("/")
def queue(
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    viewer: PageViewer,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The queue: complaints first then oldest first, with filters and counts per category."""
    filt, clean = parse_filter(dict(request.query_params))
    try:
        rows, next_cursor = drafts.list_drafts(session, filt=filt, limit=50, cursor=cursor)
    except BadRequest:
        rows, next_cursor = drafts.list_drafts(session, filt=filt, limit=50)
    now = utcnow()
    items = [
        {
            "draft": d,
            "message": m,
            "waiting_s": (now - m.received_at).total_seconds(),
            "confidence": web.confidence_text(m.confidence, settings.confidence_threshold),
        }
        for d, m in rows
    ]
    counts = drafts.queue_counts(session, status=filt.status or "pending")
    return page(
        request,
        "queue.html",
        {
            "viewer": viewer,
            "items": items,
            "counts": counts,
            "total": sum(counts.values()),
            "to_sort": web.to_sort_count(session),
            "filters": clean,
            "filt": filt,
            "options": web.filter_options(session),
            "statuses": drafts.STATUSES,
            "next_url": with_query("/", {**clean, "cursor": next_cursor}) if next_cursor else None,
            "query": urlencode(clean),
        },
        session=session,
    )


# -- one message -----------------------------------------------------------------------------------


@router.get("/drafts/{draft_id:int}")
def draft_page(
    draft_id: RowInt, request: Request, session: ReadSessionDep, settings: SettingsDep, viewer: PageViewer
) -> Response:
    """One message with its context, the draft in an editor, and every decision."""
    draft = drafts.get(session, draft_id)
    message = session.get(Message, draft.message_id)
    assert message is not None
    filt, clean = parse_filter(dict(request.query_params))
    neighbours_filt = drafts.QueueFilter(
        status=draft.status if filt.status == draft.status else "pending",
        category=filt.category,
        platform=filt.platform,
        language=filt.language,
        to_sort=filt.to_sort,
    )
    history = drafts.history(session, draft.id)
    names = web.user_names(session, {e.actor_id for e in history} | {draft.claimed_by, draft.decided_by})
    item = session.scalar(select(OutboxItem).where(OutboxItem.draft_id == draft.id))
    query = urlencode(clean)
    prev_id = web.previous_draft_id(session, filt=neighbours_filt, before=draft)
    next_id = web.next_draft_id(session, filt=neighbours_filt, after=draft)
    claimed_by_other = (
        draft.claimed_by not in (None, viewer.user_id)
        and draft.claimed_until is not None
        and draft.claimed_until > utcnow()
    )
    return page(
        request,
        "draft.html",
        {
            "viewer": viewer,
            "draft": draft,
            "message": message,
            "history": history,
            "names": names,
            "waiting_s": (utcnow() - message.received_at).total_seconds(),
            "confidence": web.confidence_text(message.confidence, settings.confidence_threshold),
            "explanation": request.app.state.holder.explain(message.text),
            "similar": request.app.state.similar.find(
                session,
                text=message.text,
                language=message.language,
                exclude_message_id=message.id,
                top=settings.similar_replies,
            ),
            "conversation": web.conversation(session, message),
            "author_history": web.author_history(session, message),
            "template_options": reply_templates.options_for(session, settings, message),
            "source": answers.source_of(session, draft),
            "outbox": item,
            "limit": rendering.length_limit(message.channel),
            "query": query,
            "prev_url": with_query(f"/drafts/{prev_id}", clean) if prev_id else None,
            "next_url": with_query(f"/drafts/{next_id}", clean) if next_id else None,
            "back_url": with_query("/", clean),
            "claimed_by_other": claimed_by_other,
            "link": web.safe_url(
                (message.extra or {}).get("permalink") or (message.extra or {}).get("reply_url")
            ),
            "threshold": settings.confidence_threshold,
        },
        session=session,
    )


def _decided(
    session: Session, settings: Any, draft_id: int, q: str, action: Callable[[], Draft], done: str
) -> Response:
    """Run one decision; on success go to the next draft, on a conflict or refusal stay with a flash."""
    try:
        draft = action()
    except RelaisError as e:
        session.rollback()
        if e.status_code == 404:
            raise
        return flash(
            redirect(with_query(f"/drafts/{draft_id}", filter_from_form(q)[1])),
            settings,
            "error",
            _friendly(e),
        )
    return flash(redirect(after_decision(session, draft, q)), settings, "ok", done)


def _friendly(e: RelaisError) -> str:
    if e.status_code == 409:
        return f"Not saved: {e.message}. Someone else may have acted on it first; here is its current state."
    return f"Not saved: {e.message}."


@router.post("/drafts/{draft_id:int}/approve")
def approve(
    draft_id: RowInt,
    session: SessionDep,
    settings: SettingsDep,
    viewer: FormViewer,
    version: Annotated[int, Form()],
    text: Annotated[str | None, Form(max_length=MAX_TEXT)] = None,
    q: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Approve the draft as shown in the editor (edited or not); the reply is queued for sending."""
    return _decided(
        session,
        settings,
        draft_id,
        q,
        lambda: drafts.approve(
            session, draft_id=draft_id, version=version, user_id=viewer.user_id, text=text
        ),
        f"Draft #{draft_id} approved: the reply is on its way.",
    )


@router.post("/drafts/{draft_id:int}/reject")
def reject(
    draft_id: RowInt,
    session: SessionDep,
    settings: SettingsDep,
    viewer: FormViewer,
    version: Annotated[int, Form()],
    reason: Annotated[str, Form(max_length=2000)] = "",
    q: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Reject with a reason; nothing is sent."""
    return _decided(
        session,
        settings,
        draft_id,
        q,
        lambda: drafts.reject(
            session, draft_id=draft_id, version=version, user_id=viewer.user_id, reason=reason
        ),
        f"Draft #{draft_id} rejected.",
    )


@router.post("/drafts/{draft_id:int}/category")
def relabel(
    draft_id: RowInt,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: FormViewer,
    category: Annotated[str, Form(max_length=16)],
    q: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Change the category (a training label); a pending draft is re-suggested, and stays on screen."""
    draft = drafts.get(session, draft_id)
    back = with_query(f"/drafts/{draft_id}", filter_from_form(q)[1])
    try:
        drafts.relabel(
            session,
            request.app.state.drafter,
            message_id=draft.message_id,
            category=category,
            user_id=viewer.user_id,
        )
    except RelaisError as e:
        session.rollback()
        return flash(redirect(back), settings, "error", _friendly(e))
    label = web.CATEGORY_LABELS.get(category, category)
    return flash(redirect(back), settings, "ok", f"Category changed to {label}.")


# -- dead letters and channels ---------------------------------------------------------------------


@router.get("/outbox")
def outbox_page(request: Request, session: ReadSessionDep, viewer: PageViewer) -> Response:
    """Failed sends with their reason and a resend button; per channel, traffic and token state."""
    return page(
        request,
        "outbox.html",
        {
            "viewer": viewer,
            "dead": web.dead_letters(session),
            "counts": web.outbox_counts(session),
            "channels": web.channels(session),
        },
        session=session,
    )


@router.post("/outbox/{item_id:int}/resend")
def resend(item_id: RowInt, session: SessionDep, settings: SettingsDep, viewer: FormViewer) -> Response:
    """Send a dead letter once more."""
    try:
        outbox.resend(session, item_id=item_id, user_id=viewer.user_id)
    except RelaisError as e:
        session.rollback()
        return flash(redirect("/outbox"), settings, "error", _friendly(e))
    return flash(redirect("/outbox"), settings, "ok", f"Reply #{item_id} queued to be sent again.")


@router.post("/channels/{platform}/{account_id}/resume")
def resume(
    platform: str, account_id: str, session: SessionDep, settings: SettingsDep, viewer: FormAdmin
) -> Response:
    """Resume sending on a paused channel (admin)."""
    try:
        outbox.resume_channel(session, platform=platform, account_id=account_id)
    except RelaisError as e:
        session.rollback()
        return flash(redirect("/outbox"), settings, "error", _friendly(e))
    return flash(redirect("/outbox"), settings, "ok", f"Sending resumed on {platform}/{account_id}.")


# -- dashboard -------------------------------------------------------------------------------------


@router.get("/dashboard")
def dashboard(
    request: Request, session: ReadSessionDep, settings: SettingsDep, viewer: PageViewer
) -> Response:
    """Messages per day by category, first-response time, backlog, unedited and "to sort" shares."""
    stats = web.dashboard(session, threshold=settings.confidence_threshold, models_dir=settings.models_dir)
    keys = ["complaint", "question", "suggestion", "other", "unsorted"]
    per_day = web.stacked_bars(stats.days, [stats.per_day[d] for d in stats.days], keys)
    response = web.lines(
        stats.days,
        {
            "median": [stats.response[d][0] for d in stats.days],
            "p90": [stats.response[d][1] for d in stats.days],
        },
        unit=60.0,
    )
    backlog = web.stacked_bars(
        stats.days, [{"pending": stats.backlog_by_day[d]} for d in stats.days], ["pending"]
    )
    weeks = [w for w, _ in stats.corrections]
    corrections = web.stacked_bars(weeks, [c for _, c in stats.corrections], keys[:4])
    return page(
        request,
        "dashboard.html",
        {
            "viewer": viewer,
            "stats": stats,
            "per_day": per_day,
            "response": response,
            "backlog_chart": backlog,
            "corrections": corrections,
            "keys": keys,
            "model": request.app.state.holder.info(),
        },
    )


# -- reply templates (admin) -----------------------------------------------------------------------


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
    errors: list[str],
    status_code: int = 200,
) -> Response:
    return page(
        request,
        "template_edit.html",
        {
            "viewer": viewer,
            "template": template,
            "values": values,
            "errors": errors,
            "preview": reply_templates.preview(settings, values["body"]) if values.get("body") else None,
        },
        status_code=status_code,
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
        raise PageError(404, f"Template {template_id} not found.")
    values = {k: getattr(t, k) for k in reply_templates.FIELDS} | {"version": t.version}
    return _template_form(request, viewer, settings, t, values, [])


@router.post("/templates/preview")
def template_preview(
    settings: SettingsDep, viewer: FormAdmin, body: Annotated[str, Form(max_length=5000)] = ""
) -> Response:
    """The live preview: the body rendered in the sandbox for a sample message (JSON, admin)."""
    return sec.add_security_headers(JSONResponse(reply_templates.preview(settings, body)))


@dataclass
class TemplateForm:
    """The fields of the template form."""

    name: Annotated[str, Form(max_length=200)] = ""
    category: Annotated[str, Form(max_length=16)] = ""
    language: Annotated[str, Form(max_length=16)] = ""
    channel_kind: Annotated[str, Form(max_length=16)] = "any"
    register_: Annotated[str, Form(max_length=16, alias="register")] = "any"
    body: Annotated[str, Form(max_length=5000)] = ""
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
        raise PageError(404, f"Template {template_id} not found.")
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
    if form.action == "preview":
        shown = reply_templates.preview(settings, form.body) if form.body else None
        errors = reply_templates.errors_in(values)
        if shown is not None and not shown["ok"]:
            errors.append(f"The template does not render: {shown['error']}")
        return _template_form(
            request, viewer, settings, t, values, errors, status_code=422 if errors else 200
        )
    try:
        t = reply_templates.save(
            session,
            settings,
            template=t,
            values=values,
            user_id=viewer.user_id,
            expected_version=form.version if t is not None else None,
        )
    except RelaisError as e:
        errors = (e.detail or {}).get("errors") if isinstance(e.detail, dict) else None
        return _template_form(
            request, viewer, settings, t, values, errors or [e.message], status_code=e.status_code
        )
    return flash(
        redirect(f"/templates/{t.id}"), settings, "ok", f"Template {t.name!r} saved (version {t.version})."
    )
