"""Browser sessions and CSRF protection.

A session cookie holds 256 random bits; the database keeps only their sha256.
Every unsafe request a browser makes must prove it came from our own pages:
forms carry ``csrf_token`` and scripts send ``X-CSRF-Token``, both equal to a
``SameSite=Strict`` cookie the page was rendered with (double submit), and a
foreign ``Origin`` is refused outright.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from ..accounts import Principal, browser_principal
from ..clock import utcnow
from ..db.schema import Account, WebSession
from ..errors import Forbidden

SESSION_COOKIE = "commons_session"
CSRF_COOKIE = "commons_csrf"
SESSION_DAYS = 14
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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


def csrf_token(request: Request) -> str:
    """The CSRF value for this browser (the cookie's, or a fresh one to set)."""
    existing = request.cookies.get(CSRF_COOKIE, "")
    if len(existing) >= 32:
        return existing
    token = getattr(request.state, "new_csrf", None)
    if token is None:
        token = secrets.token_urlsafe(32)
        request.state.new_csrf = token
    return str(token)


def check_csrf(request: Request, submitted: str | None) -> None:
    origin = request.headers.get("origin")
    if origin and origin != "null":
        expected = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if origin != expected:
            raise Forbidden("Cross-site request refused.", code="CsrfFailed")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError).
    if not cookie or not submitted or not hmac.compare_digest(cookie.encode(), submitted.encode()):
        raise Forbidden(
            "This form has expired or did not come from this site; reload the page and try again.",
            code="CsrfFailed",
        )


def is_secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookies(
    request: Request,
    response: Response,
    *,
    path: str = "/",
    session_value: str | None = None,
    clear_session: bool = False,
) -> None:
    """Set or clear our cookies for ``path``: the hub's URL prefix, or ``/``."""
    secure = is_secure(request)
    new_csrf = getattr(request.state, "new_csrf", None)
    if new_csrf:
        response.set_cookie(
            CSRF_COOKIE, new_csrf, httponly=True, samesite="strict", secure=secure, path=path
        )
    if session_value is not None:
        response.set_cookie(
            SESSION_COOKIE,
            session_value,
            httponly=True,
            samesite="lax",
            secure=secure,
            path=path,
            max_age=SESSION_DAYS * 86400,
        )
    if clear_session:
        response.delete_cookie(
            SESSION_COOKIE, path=path, httponly=True, samesite="lax", secure=secure
        )
