"""Browser sessions' cookies, and CSRF protection.

The session itself (a random cookie value whose sha256 the database keeps) is in
:mod:`modelcommons.accounts.browser_sessions`. Every unsafe request a browser makes must
prove it came from our own pages: forms carry ``csrf_token`` and scripts send
``X-CSRF-Token``, both equal to a ``SameSite=Strict`` cookie the page was rendered
with (double submit), and a foreign ``Origin`` is refused outright.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from ..accounts.browser_sessions import SESSION_DAYS
from ..errors import Forbidden

SESSION_COOKIE = "commons_session"
CSRF_COOKIE = "commons_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
