"""Dependencies, named once: routes read `session: SessionDep, user: ReviewerDep`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from pydantic import BeforeValidator, Field
from sqlalchemy.orm import Session

from app import db
from app.config import Settings
from app.errors import Forbidden, Unauthorized
from app.models import User
from app.users import service as users


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_session(request: Request) -> Iterator[Session]:
    """One unit of work per request: committed before the response leaves, rolled back on error."""
    with db.transaction(request.app.state.sessions) as session:
        yield session


def get_read_session(request: Request) -> Iterator[Session]:
    session: Session = request.app.state.read_sessions()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


# Ids in paths (declared `{draft_id:int}`, so that a word there is another route's, not a 422) and
# versions in bodies. The bound is JavaScript's largest exact integer, far above any row's id, and
# exactly representable in the OpenAPI document (which writes bounds as floats): beyond it, a 422
# that names the bound instead of a database error. `3.0` is an integer in JSON Schema, so it is
# taken as 3 even in a strict body; `true` and `"3"` are not.
MAX_ROW_INT = 2**53 - 1


def _json_integer(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


RowInt = Annotated[int, Field(ge=1, le=MAX_ROW_INT), BeforeValidator(_json_integer)]

SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]


def _bearer_user(request: Request, session: ReadSessionDep) -> User:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"})
    user = users.by_token(session, token.strip())
    if user is None:
        raise Unauthorized("invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
    session.expunge(user)
    return user


def require(role: str) -> Callable[[User], User]:
    """A dependency that lets through a bearer user with at least `role`."""

    def check(user: Annotated[User, Depends(_bearer_user)]) -> User:
        if users.ROLE_RANK.get(user.role, 0) < users.ROLE_RANK[role]:
            raise Forbidden(f"this needs the {role} role")
        return user

    return check


ReviewerDep = Annotated[User, Depends(require("reviewer"))]
AdminDep = Annotated[User, Depends(require("admin"))]
