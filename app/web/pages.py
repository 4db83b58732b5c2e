"""What every page shares: the page templates, the route class that turns page errors into HTML
and adds the security headers, and `page()`, `error_page()`, `redirect()`.

Every page needs a logged-in reviewer (else 303 to /login?next=...); every POST carries the
session's CSRF token; a refused or conflicting write redirects with a flash message. Every
response carries the Content-Security-Policy (no inline script or style).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from app import i18n
from app.errors import RelaisError
from app.i18n import Reason
from app.models import CATEGORIES, CATEGORY_PRIORITY
from app.web import format as fmt
from app.web import security as sec
from app.web.flash import take_flash
from app.web.security import PageError, PageRedirect

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.filters["waited"] = fmt.waited
templates.env.filters["safe_url"] = fmt.safe_url
templates.env.globals["CATEGORY_LABELS"] = fmt.CATEGORY_LABELS
templates.env.globals["CATEGORIES"] = sorted(CATEGORIES, key=lambda c: CATEGORY_PRIORITY[c])
i18n.install(templates.env)  # the pages speak the viewer's language


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
                response = error_page(request, e.status_code, e.text(i18n.language_of(request)))
            except RequestValidationError as e:  # an id out of range, a form field refused
                response = error_page(request, 422, refused_field(request, e))
            return sec.add_security_headers(response)

        return route


# forms carry at most a 10,000-character reply (percent-encoded: up to 9 bytes a character)
MAX_FORM_BYTES = 256 * 1024


def page_router() -> APIRouter:
    """A router of pages: `WebRoute`, out of the OpenAPI document, forms of at most `MAX_FORM_BYTES`."""
    return APIRouter(
        tags=["pages"], route_class=WebRoute, include_in_schema=False, max_body_size=MAX_FORM_BYTES
    )


def error_page(request: Request, status: int, message: str) -> Response:
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message, "viewer": None}, status_code=status
    )


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


Saved = TypeVar("Saved")
FormErrors = Sequence[Reason | str]


def save_form(
    session: Session,
    *,
    preview: bool,
    check: Callable[[], FormErrors],
    save: Callable[[], Saved],
    show: Callable[[FormErrors, int], Response],
    saved: Callable[[Saved], Response],
) -> Response:
    """An editor's POST (a template, a saved answer): with `preview`, the form again with every
    reason `check` finds (422 when there is one); else `save`: refused, the form again with the
    error's reasons and status, the transaction rolled back; saved, `saved(result)`."""
    if preview:
        errors = check()
        return show(errors, 422 if errors else 200)
    try:
        result = save()
    except RelaisError as e:
        session.rollback()
        return show(e.reasons or [e.message], e.status_code)
    return saved(result)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def refused_field(request: Request, e: RequestValidationError) -> str:
    """What a page says of a request FastAPI refused: which field (pydantic's own words are English)."""
    errors = e.errors()
    where = ".".join(str(part) for part in errors[0]["loc"][1:]) if errors else ""
    language = i18n.language_of(request)
    if where:
        return i18n.t(language, "This request was refused: the field %(field)s is not valid.", field=where)
    return i18n.t(language, "This request was refused: it is not valid.")


def friendly(request: Request, e: RelaisError) -> str:
    """The flash message of a refused write, in the viewer's language."""
    language = i18n.language_of(request)
    why = e.text(language)
    if e.status_code == 409:
        return i18n.t(
            language,
            "Not saved: %(why)s. Someone else may have acted on it first; here is its current state.",
            why=why,
        )
    return i18n.t(language, "Not saved: %(why)s.", why=why)
