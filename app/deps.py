"""Dependencies, named once: routes read `session: SessionDep, user: ReviewerDep`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
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


def require(role: str):  # noqa: ANN201 - a dependency factory
    def check(user: Annotated[User, Depends(_bearer_user)]) -> User:
        if users.ROLE_RANK.get(user.role, 0) < users.ROLE_RANK[role]:
            raise Forbidden(f"this needs the {role} role")
        return user

    return check


ReviewerDep = Annotated[User, Depends(require("reviewer"))]
AdminDep = Annotated[User, Depends(require("admin"))]
