"""Changing credentials, as the account pages and the ``commons`` command both do it:
each change is made, its consequences follow (a new password signs out the other
browsers), and it is audited, in one transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from .. import accounts, audit
from ..db.schema import Account
from . import browser_sessions
from .principals import TokenScope

if TYPE_CHECKING:
    from ..hub import Hub


def set_password(
    hub: Hub,
    session: Session,
    user: Account,
    password: str,
    *,
    actor: str | None,
    method: str,
    keep_session: str | None = None,
) -> int:
    """Set ``user``'s password and end their browser sessions but ``keep_session``
    (the browser making the change, if it is one); returns how many ended. Tokens
    stay: they are separate credentials, each revocable on its own."""
    first = user.password_hash is None
    accounts.set_password(session, user, password)
    ended = browser_sessions.end_all(session, user.id, keep=keep_session)
    hub.audit.record(
        session,
        audit.PasswordSet(
            actor, namespace=user.name, method=method, first=first, sessions_ended=ended
        ),
    )
    return ended


def issue_token(
    hub: Hub,
    session: Session,
    user: Account,
    *,
    name: str,
    write: bool,
    scope: TokenScope | None,
    expires_at: dt.datetime | None,
    actor: str | None,
) -> str:
    """A new token for ``user``, audited with what it may do and when it expires."""
    value = accounts.create_token(
        session, user.name, write=write, name=name, scope=scope, expires_at=expires_at
    )
    role = "fineGrained" if scope else "write" if write else "read"
    hub.audit.record(
        session,
        audit.TokenCreated(
            actor,
            namespace=user.name,
            name=name[:100],
            role=role,
            scopes=tuple(sorted(scope.entities)) if scope else (),
            permissions=tuple(sorted(scope.permissions)) if scope else (),
            expires=expires_at.isoformat(timespec="seconds") + "Z" if expires_at else None,
        ),
    )
    return value
