"""The account page (/settings/account): a signed-in user changes their email and
password. Changing a password needs the current one, and a wrong one counts as a
failed sign-in (login_throttle), so a stolen session cannot be used to guess it.
The new password signs out every other browser (credentials.set_password).

A token-only account (created with ``commons user create`` and no password) cannot
sign in to the browser at all: its first password comes from
``commons user set-password``.
"""

from __future__ import annotations

from starlette.responses import Response

from ... import accounts, audit
from ...accounts import credentials, login_throttle, verify_password
from ...db.schema import Account
from ...errors import BadRequest, Forbidden, HubError
from ...server.routing import Ctx
from .. import sessions
from ..forms import field, read_form, require_user
from ..templating import redirect, render

DONE = {
    "email": "Your email address was saved.",
    "fullname": "Your full name was saved.",
    "password": "Your password was changed; every other browser was signed out.",
}


def _page(
    ctx: Ctx, *, error: str | None = None, status: int = 200, email: str | None = None
) -> Response:
    me = require_user(ctx)
    with ctx.hub.db.read() as session:
        user = session.get(Account, me.user_id)
        assert user is not None  # a session ends with its account
        has_password = user.password_hash is not None
        stored = user.email or ""
        fullname = user.fullname
    done = DONE.get(ctx.request.query_params.get("done", "")) if error is None else None
    return render(
        ctx,
        "account/account.html",
        status=status,
        title="Account settings",
        email=stored if email is None else email,
        fullname=fullname,
        has_password=has_password,
        error=error,
        done=done,
    )


def account_page(ctx: Ctx) -> Response:
    return _page(ctx)


async def change_email(ctx: Ctx) -> Response:
    me = require_user(ctx)
    typed = field(await read_form(ctx), "email")

    def work() -> Response:
        email = accounts.check_email(typed)
        with ctx.hub.db.write() as session:
            user = session.get(Account, me.user_id)
            assert user is not None
            if user.email != email:
                user.email = email
                ctx.hub.audit.record(
                    session,
                    audit.EmailChanged(me.name, namespace=user.name, cleared=email is None),
                )
        return redirect(ctx, "/settings/account?done=email")

    try:
        return await ctx.run(work)
    except HubError as exc:
        if exc.status >= 500:
            raise
        message = exc.message
    return await ctx.run(lambda: _page(ctx, error=message, status=400, email=typed))


async def change_fullname(ctx: Ctx) -> Response:
    me = require_user(ctx)
    typed = field(await read_form(ctx), "fullname")

    def work() -> Response:
        with ctx.hub.db.write() as session:
            accounts.set_fullname(session, me.name, typed)
        return redirect(ctx, "/settings/account?done=fullname")

    try:
        return await ctx.run(work)
    except HubError as exc:
        if exc.status >= 500:
            raise
        message = exc.message
    return await ctx.run(lambda: _page(ctx, error=message, status=400))


async def change_password(ctx: Ctx) -> Response:
    me = require_user(ctx)
    form = await read_form(ctx)
    current, new, again = (
        str(form.get(name, ""))
        for name in ("current_password", "new_password", "new_password_again")
    )
    client = ctx.request.client
    address = login_throttle.address_key(client.host if client else None)
    keep = ctx.request.cookies.get(sessions.SESSION_COOKIE)

    def work() -> Response:
        hub, throttle = ctx.hub, ctx.hub.login_throttle
        if new != again:
            raise BadRequest("The two new passwords differ.")
        accounts.check_password(new)
        with hub.db.read() as session:
            user = session.get(Account, me.user_id)
            assert user is not None
            name, stored = user.name, user.password_hash
        slots: list[login_throttle.Slot] = []
        if stored is not None:
            # The current password is checked as a sign-in is, and counted with them.
            now = hub.clock.now()
            keys = throttle.keys(name, address)
            with hub.db.read() as session:
                throttle.check(session, now, keys)
            with hub.db.write() as session:
                slots = throttle.reserve(session, now, keys)
            if not verify_password(current, stored):
                raise Forbidden("Your current password is not right.", code="InvalidCredentials")
        with hub.db.write() as session:
            throttle.succeeded(session, slots)
            user = session.get(Account, me.user_id)
            assert user is not None
            credentials.set_password(
                hub, session, user, new, actor=me.name, method="account page", keep_session=keep
            )
        return redirect(ctx, "/settings/account?done=password")

    try:
        return await ctx.run(work)
    except login_throttle.Throttled as exc:
        message, status, retry = exc.message, 429, str(exc.retry_after)
    except HubError as exc:
        if exc.status >= 500:
            raise
        message, status, retry = exc.message, exc.status, ""
    response = await ctx.run(lambda: _page(ctx, error=message, status=status))
    if retry:
        response.headers["Retry-After"] = retry
    return response
