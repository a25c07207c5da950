"""Signed-in browsers: a session cookie holds 256 random bits, and the database keeps
only their sha256. The cookies themselves and CSRF protection are the web layer's
(:mod:`modelcommons.web.sessions`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..clock import utcnow
from ..db.schema import Account, WebSession
from .principals import Principal
from .tokens import browser_principal

SESSION_DAYS = 14


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def start(session: Session, user_id: int) -> str:
    """A new session for a user; returns the cookie value."""
    value = secrets.token_urlsafe(32)
    session.execute(delete(WebSession).where(WebSession.expires_at < utcnow()))
    session.add(
        WebSession(
            id_hash=_hash(value),
            user_id=user_id,
            expires_at=utcnow() + dt.timedelta(days=SESSION_DAYS),
        )
    )
    return value


def end(session: Session, value: str) -> None:
    session.execute(delete(WebSession).where(WebSession.id_hash == _hash(value)))


def end_all(session: Session, user_id: int, *, keep: str | None = None) -> int:
    """End every browser session of a user (but ``keep``, the cookie value of the one
    making the change); returns how many ended. A new password signs out the rest."""
    query = delete(WebSession).where(WebSession.user_id == user_id)
    if keep:
        query = query.where(WebSession.id_hash != _hash(keep))
    return int(getattr(session.execute(query), "rowcount", 0) or 0)


def principal_for(session: Session, value: str) -> Principal | None:
    row = session.execute(
        select(Account)
        .join(WebSession, WebSession.user_id == Account.id)
        .where(WebSession.id_hash == _hash(value), WebSession.expires_at > utcnow())
    ).scalar_one_or_none()
    if row is None:
        return None
    return browser_principal(row, _hash(value))
