"""Access tokens: random 256-bit strings, shown once and stored as their sha256; and
the principals that tokens and browser sessions stand for."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import utcnow
from ..db.schema import Account, Token, WebSession
from ..errors import BadRequest, NotFound, Unauthorized
from .principals import Principal, TokenScope
from .users import get_account

TOKEN_PREFIX = "mc_"
#: The longest lifetime a token may be given (about ten years).
MAX_TOKEN_DAYS = 3650
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_expiry(
    now: dt.datetime, *, days: float | None = None, until: str | None = None
) -> dt.datetime | None:
    """When a new token stops working: ``days`` from ``now``, or ``until`` (an ISO
    date, meaning the end of that day in UTC, or a date and time); None for never."""
    if days is not None and until is not None:
        raise BadRequest("Give the expiry as a number of days or as a date, not both.")
    if days is not None:
        if not 0 < days <= MAX_TOKEN_DAYS:
            raise BadRequest(
                f"A token's lifetime is more than 0 and at most {MAX_TOKEN_DAYS} days."
            )
        return now + dt.timedelta(days=days)
    if until is None or not until.strip():
        return None
    text = until.strip()
    try:
        if len(text) == 10:  # a date: the token works through that day (UTC)
            expires = dt.datetime.combine(dt.date.fromisoformat(text), dt.time())
            expires += dt.timedelta(days=1)
        else:
            expires = dt.datetime.fromisoformat(text)
            if expires.tzinfo is not None:
                expires = expires.astimezone(dt.UTC).replace(tzinfo=None)
    except ValueError as exc:
        raise BadRequest(
            f"Invalid expiry {text!r}: use a date (YYYY-MM-DD) or a date and time."
        ) from exc
    if expires <= now:
        raise BadRequest(f"The expiry {text} has already passed.")
    if expires > now + dt.timedelta(days=MAX_TOKEN_DAYS + 1):
        raise BadRequest(f"A token's lifetime is at most {MAX_TOKEN_DAYS} days.")
    return expires


def create_token(
    session: Session,
    user_name: str,
    *,
    write: bool,
    name: str,
    scope: TokenScope | None = None,
    expires_at: dt.datetime | None = None,
) -> str:
    user = get_account(session, user_name)
    if user.kind != "user":
        raise BadRequest("Tokens belong to users, not organisations.")
    if not name.strip():
        raise BadRequest("Give the token a name.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        Token(
            user_id=user.id,
            name=name[:100],
            token_hash=hash_token(token),
            role="fineGrained" if scope else "write" if write else "read",
            scopes=scope.to_json() if scope else None,
            expires_at=expires_at,
        )
    )
    return token


def token_state(token: Token, now: dt.datetime) -> str:
    """Whether the token is "active", "expired" or "revoked"."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"


def revoke_token(session: Session, user_name: str, token_name: str) -> int:
    user = get_account(session, user_name)
    tokens = session.scalars(
        select(Token).where(
            Token.user_id == user.id, Token.name == token_name, Token.revoked_at.is_(None)
        )
    ).all()
    for token in tokens:
        token.revoked_at = utcnow()
    if not tokens:
        raise NotFound(f"{user_name} has no active token named {token_name!r}.")
    return len(tokens)


def list_tokens(session: Session, user_name: str) -> list[Token]:
    user = get_account(session, user_name)
    return list(session.scalars(select(Token).where(Token.user_id == user.id).order_by(Token.id)))


def authenticate(session: Session, token: str, now: dt.datetime) -> tuple[Principal, bool]:
    """The principal for a token, and whether its last-used time is stale.

    Unknown, revoked and expired tokens get the same answer (``now`` is the hub's
    clock), so a caller cannot tell them apart."""
    row = session.execute(
        select(Token, Account)
        .join(Account, Account.id == Token.user_id)
        .where(Token.token_hash == hash_token(token))
    ).first()
    if row is None or token_state(row[0], now) != "active":
        raise Unauthorized(INVALID_CREDENTIALS, code="InvalidCredentials")
    tok, user = row
    stale = tok.last_used_at is None or utcnow() - tok.last_used_at > dt.timedelta(seconds=60)
    return _token_principal(tok, user), stale


def _token_principal(tok: Token, user: Account) -> Principal:
    return Principal(
        user_id=user.id,
        name=user.name,
        token_role=tok.role,
        token_name=tok.name,
        is_admin=user.is_admin and tok.scopes is None,
        scope=TokenScope.from_json(tok.scopes) if tok.scopes else None,
        credential=f"token:{tok.id}",
    )


def browser_principal(user: Account, session_hash: str) -> Principal:
    """A signed-in browser: the user's full rights, as its pages act."""
    return Principal(
        user_id=user.id,
        name=user.name,
        token_role="write",
        token_name="browser",
        is_admin=user.is_admin,
        credential=f"session:{session_hash}",
    )


def principal_for_credential(
    session: Session, credential: str, user_id: int, now: dt.datetime
) -> Principal | None:
    """The principal of a credential seen earlier (``Principal.credential``), as it
    stands now: None when the token was revoked or has expired, the browser session
    ended, or the credential is not ``user_id``'s."""
    kind, _, key = credential.partition(":")
    if kind == "token" and key.isdigit():
        row = session.execute(
            select(Token, Account)
            .join(Account, Account.id == Token.user_id)
            .where(Token.id == int(key))
        ).first()
        if row is None or token_state(row[0], now) != "active" or row[1].id != user_id:
            return None
        return _token_principal(row[0], row[1])
    if kind == "session":
        user = session.execute(
            select(Account)
            .join(WebSession, WebSession.user_id == Account.id)
            .where(WebSession.id_hash == key, WebSession.expires_at > utcnow())
        ).scalar_one_or_none()
        if user is None or user.id != user_id:
            return None
        return browser_principal(user, key)
    return None


def touch_token(session: Session, token: str) -> None:
    tok = session.scalar(select(Token).where(Token.token_hash == hash_token(token)))
    if tok is not None:
        tok.last_used_at = utcnow()
