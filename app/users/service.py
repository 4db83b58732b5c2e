"""Reviewers and admins: bearer tokens (stored as SHA-256) and passwords (argon2)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app import i18n
from app.errors import Conflict, Invalid, NotFound
from app.i18n import N_, Reason
from app.models import ApiToken, LoginFailure, User, utcnow

ROLES = ("reviewer", "admin")
ROLE_RANK = {"reviewer": 1, "admin": 2}
_hasher = PasswordHasher()
# verifying against this keeps the time of "no such user" equal to "wrong password"
_DUMMY_HASH = _hasher.hash("relais-dummy-password")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "rls_" + secrets.token_urlsafe(32)


def create(session: Session, *, name: str, role: str, password: str | None = None) -> tuple[User, str]:
    """Create a user and its first API token; returns (user, token). The token is shown once."""
    name = name.strip()
    if role not in ROLES:
        raise Invalid(Reason(N_("role must be one of %(values)s"), {"values": list(ROLES)}))
    if not name or len(name) > 64:
        raise Invalid(Reason(N_("name must be 1 to 64 characters")))
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise Conflict(Reason(N_("user %(name)r already exists"), {"name": name}))
    user = User(name=name, role=role, password_hash=hash_password(password) if password else None)
    session.add(user)
    session.flush()
    token = add_token(session, user)
    return user, token


def add_token(session: Session, user: User) -> str:
    token = new_token()
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token)))
    session.flush()
    return token


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise Invalid(Reason(N_("a password needs at least 8 characters")))
    return _hasher.hash(password)


def set_password(session: Session, *, name: str, password: str) -> User:
    user = by_name(session, name)
    user.password_hash = hash_password(password)
    session.flush()
    return user


def set_preferences(session: Session, *, user_id: int, language: str | None, timezone: str | None) -> User:
    """The user's own language and time zone for the pages (None: the browser's, then the settings')."""
    if language is not None and language not in i18n.LANGUAGES:
        raise Invalid(Reason(N_("language must be one of %(values)s"), {"values": list(i18n.LANGUAGES)}))
    if timezone is not None and not i18n.valid_timezone(timezone):
        raise Invalid(Reason(N_("unknown time zone %(zone)r"), {"zone": timezone}))
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(Reason(N_("no user %(id)s"), {"id": user_id}))
    user.language, user.timezone = language, timezone
    session.flush()
    return user


def by_name(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(Reason(N_("no user %(name)r"), {"name": name}))
    return user


def by_token(session: Session, token: str) -> User | None:
    return session.scalar(
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(
            ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None), User.disabled.is_(False)
        )
    )


def check_password(session: Session, *, name: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.name == name, User.disabled.is_(False)))
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    return user if user is not None and user.password_hash else None


def failures_since(
    session: Session, *, since: dt.datetime, address: str, name: str | None = None
) -> tuple[int, dt.datetime | None]:
    """How many failed logins from `address` (for user `name` only, if given) since `since`, and
    when the last one was."""
    query = select(func.count(), func.max(LoginFailure.at)).where(
        LoginFailure.ip == address[:64], LoginFailure.at >= since
    )
    if name is not None:
        query = query.where(LoginFailure.username == name[:64])
    count, last = session.execute(query).one()
    return int(count or 0), last


def record_failure(session: Session, *, name: str, address: str, keep_s: int) -> None:
    """Record a failed login; failures older than `keep_s` no longer count and are deleted."""
    now = utcnow()
    session.execute(delete(LoginFailure).where(LoginFailure.at < now - dt.timedelta(seconds=keep_s)))
    session.add(LoginFailure(username=name[:64], ip=address[:64], at=now))
    session.flush()


def clear_failures(session: Session, *, name: str, address: str) -> None:
    """Forget the failures of this user from this address (after a successful login from it)."""
    session.execute(
        delete(LoginFailure).where(LoginFailure.username == name[:64], LoginFailure.ip == address[:64])
    )


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))


def names(session: Session, ids: set[int | None]) -> dict[int, str]:
    """The names of the users among `ids` (None ignored)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(session.execute(select(User.id, User.name).where(User.id.in_(wanted))).tuples().all())
