"""The knowledge base API, under /api/answers: reviewers read, admins write with `version`."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from app import i18n
from app.answers import schemas as s
from app.answers import service
from app.deps import MAX_ROW_INT, AdminDep, ReadSessionDep, ReviewerDep, RowInt, SessionDep, SettingsDep
from app.errors import PayloadTooLarge, responses
from app.models import Answer

router = APIRouter(prefix="/api/answers", tags=["answers"], responses=responses(401, 503))


@router.get("", response_model=list[s.AnswerRead], responses=responses(422))
def list_answers(
    session: ReadSessionDep,
    user: ReviewerDep,
    language: Annotated[str | None, Query(min_length=2, max_length=8)] = None,
) -> list[Answer]:
    """Every saved answer (or those of one language), by language and title."""
    return service.list_all(session, language=language)


@router.get(
    "/export",
    response_class=Response,
    responses={
        200: {
            "description": "Every answer, as `relais answers export` writes them",
            "content": {"application/json": {"schema": {}}, "text/csv": {"schema": {"type": "string"}}},
        },
        **responses(422),
    },
)
def export_answers(
    session: ReadSessionDep, user: ReviewerDep, format: Literal["json", "csv"] = "json"
) -> Response:
    """Every answer in the import format: JSON (a list) or CSV (the examples one a line)."""
    rows = service.export_rows(service.list_all(session))
    if format == "csv":
        return Response(service.to_csv(rows), media_type="text/csv; charset=utf-8")
    return Response(service.to_json(rows), media_type="application/json")


@router.post("", response_model=s.AnswerRead, status_code=201, responses=responses(403, 422))
def create_answer(body: s.AnswerCreate, session: SessionDep, settings: SettingsDep, user: AdminDep) -> Answer:
    """Add an answer (admin); its body must render in the templates' sandbox."""
    return service.save(session, settings, answer=None, values=body.model_dump(), user_id=user.id)


IMPORT_LIMIT = 2 * 1024 * 1024  # a few thousand answers


async def import_body(request: Request) -> bytes:
    """The request body, refused past `IMPORT_LIMIT` (413) before it is all read."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > IMPORT_LIMIT:
            raise PayloadTooLarge(f"an import is at most {IMPORT_LIMIT} bytes")
    return bytes(body)


@router.post(
    "/import",
    response_model=s.AnswersImported,
    responses=responses(403, 409, 413, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A JSON list of answers, or (`Content-Type: text/csv`) an export's CSV",
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": {"$ref": "#/components/schemas/AnswerCreate"}}
                }
            },
        }
    },
)
def import_answers(
    session: SessionDep,
    settings: SettingsDep,
    user: AdminDep,
    body: Annotated[bytes, Depends(import_body)],
    content_type: Annotated[str, Header()] = "application/json",
    accept_language: Annotated[str | None, Header()] = None,
) -> s.AnswersImported:
    """Import answers as `relais answers import` does (admin): a JSON list or a CSV body, every row
    checked first, nothing written unless all pass (422 with every row's reasons, 409 when a row's
    `version` is stale); the reasons in the Accept-Language's language, English by default."""
    language = i18n.negotiate(accept_language, default="en") if accept_language else "en"
    fmt = "csv" if content_type.split(";")[0].strip().lower() in ("text/csv", "application/csv") else "json"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = "\ufffd"  # parse refuses it in the caller's language
        fmt = "json"
    created, changed = service.import_text(
        session, settings, text, fmt=fmt, user_id=user.id, language=language
    )
    return s.AnswersImported(created=created, changed=changed)


@router.get("/{answer_id:int}", response_model=s.AnswerRead, responses=responses(404, 422))
def get_answer(answer_id: RowInt, session: ReadSessionDep, user: ReviewerDep) -> Answer:
    """One answer."""
    return service.get(session, answer_id)


@router.patch("/{answer_id:int}", response_model=s.AnswerRead, responses=responses(403, 404, 409, 422))
def update_answer(
    answer_id: RowInt, body: s.AnswerUpdate, session: SessionDep, settings: SettingsDep, user: AdminDep
) -> Answer:
    """Change an answer (admin) from the `version` read; 409 when someone changed it since."""
    values = body.model_dump(exclude_unset=True)
    version = values.pop("version")
    return service.save(
        session,
        settings,
        answer=service.get(session, answer_id),
        values=values,
        user_id=user.id,
        expected_version=version,
    )


@router.delete("/{answer_id:int}", status_code=204, responses=responses(403, 404, 409, 422))
def delete_answer(
    answer_id: RowInt,
    session: SessionDep,
    user: AdminDep,
    version: Annotated[int | None, Query(ge=1, le=MAX_ROW_INT, description="the version read")] = None,
) -> None:
    """Remove an answer (admin); with `version`, 409 when someone changed it since."""
    service.delete(session, answer=service.get(session, answer_id), user_id=user.id, expected_version=version)


@router.get("/{answer_id:int}/uses", response_model=s.AnswerUses, responses=responses(404, 422))
def list_uses(
    answer_id: RowInt,
    session: ReadSessionDep,
    user: ReviewerDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = service.LEARNED_SHOWN,
) -> s.AnswerUses:
    """The customers' messages the answer learned from approved replies drafted from it (latest
    first), and how many there are; drafting finds the answer by them as by its examples."""
    service.get(session, answer_id)
    count, uses = service.uses_of(session, answer_id, limit=limit)
    return s.AnswerUses(count=count, uses=[s.AnswerUseRead.model_validate(u) for u in uses])


@router.delete("/{answer_id:int}/uses/{use_id:int}", status_code=204, responses=responses(403, 404, 422))
def forget_use(answer_id: RowInt, use_id: RowInt, session: SessionDep, user: AdminDep) -> None:
    """Take a learned message back (admin): drafting no longer finds the answer by it."""
    service.forget_use(session, answer=service.get(session, answer_id), use_id=use_id, user_id=user.id)
