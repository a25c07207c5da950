"""Signing up, in and out; people and organisation pages (tokens: token_pages.py,
the account settings: account_settings.py)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from ... import accounts, audit
from ...accounts import browser_sessions, hash_password, login_throttle, roles, verify_password
from ...db.schema import Account, Membership, Repo
from ...errors import HubError, NotFound
from ...server.routing import Ctx
from .. import sessions
from ..forms import field, read_form, safe_next
from ..templating import redirect, render
from ..views import RepoCard

_DUMMY_HASH = hash_password("timing-equaliser")


def join_form(ctx: Ctx) -> Response:
    return render(ctx, "account/join.html", title="Sign up", error=None, username="", email="")


async def join(ctx: Ctx) -> Response:
    form = await read_form(ctx)
    username, email, password = (
        field(form, "username"),
        field(form, "email"),
        str(form.get("password", "")),
    )

    def work() -> Response:
        accounts.check_password(password)
        with ctx.hub.db.write() as session:
            user = accounts.create_user(session, username, email=email or None, password=password)
            value = browser_sessions.start(session, user.id)
        return redirect(ctx, "/", session_value=value)

    try:
        return await ctx.run(work)
    except HubError as exc:
        return render(
            ctx,
            "account/join.html",
            status=400,
            title="Sign up",
            error=exc.message,
            username=username,
            email=email,
        )


def login_form(ctx: Ctx) -> Response:
    return render(
        ctx,
        "account/login.html",
        title="Sign in",
        error=None,
        username="",
        next=safe_next(ctx.request.query_params.get("next", "/")),
    )


async def login(ctx: Ctx) -> Response:
    form = await read_form(ctx)
    username, password = field(form, "username"), str(form.get("password", ""))
    target = safe_next(field(form, "next", "/"))
    client = ctx.request.client
    address = login_throttle.address_key(client.host if client else None)

    def work() -> str | None:
        hub, throttle = ctx.hub, ctx.hub.login_throttle
        now = hub.clock.now()
        keys = throttle.keys(username, address)
        with hub.db.read() as session:
            throttle.check(session, now, keys)
            # Names are one account whatever their case: "ALICE" signs in as "alice".
            user = accounts.find_account(session, username)
            if user is not None and user.kind != "user":
                user = None
        # The attempt counts as a failure before the password is checked (see
        # login_throttle), and the slow hash runs outside any write transaction.
        with hub.db.write() as session:
            slots = throttle.reserve(session, now, keys)
        # Unknown names and token-only accounts (no password) cost one hash too, so
        # the answer's timing does not tell which accounts exist or have a password.
        real = user.password_hash if user is not None else None
        if not verify_password(password, real or _DUMMY_HASH) or user is None or not real:
            if begun := throttle.locks_begun(slots):
                with hub.db.write() as session:
                    for slot in begun:
                        _record_lock(ctx, session, slot, user, address)
            return None
        with hub.db.write() as session:
            throttle.succeeded(session, slots)
            hub.audit.record(session, audit.SignedIn(user.name, namespace=user.name))
            return browser_sessions.start(session, user.id)

    def page(status: int, error: str) -> Response:
        return render(
            ctx,
            "account/login.html",
            status=status,
            title="Sign in",
            error=error,
            username=username,
            next=target,
        )

    try:
        value = await ctx.run(work)
    except login_throttle.Throttled as exc:
        response = page(429, exc.message)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if value is None:
        return page(401, "Incorrect username or password.")
    return redirect(ctx, target, session_value=value)


def _record_lock(
    ctx: Ctx, session: Session, slot: login_throttle.Slot, user: Account | None, address: str
) -> None:
    """Audit a lock as it begins; not one on a name no user has (it protects nothing, and
    would let anyone grow the log by failing on made-up names)."""
    if slot.kind == login_throttle.ACCOUNT and user is None:
        return
    event = audit.SignInThrottled(
        None,
        namespace=user.name if slot.kind == login_throttle.ACCOUNT and user else None,
        by=slot.kind,
        address=address,
        failures=slot.failures,
        until=ctx.hub.login_throttle.until(slot).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    ctx.hub.audit.record(session, event)


async def logout(ctx: Ctx) -> Response:
    await read_form(ctx)
    value = ctx.request.cookies.get(sessions.SESSION_COOKIE)
    if value:

        def work() -> None:
            with ctx.hub.db.write() as session:
                browser_sessions.end(session, value)

        await ctx.run(work)
    return redirect(ctx, "/", clear_session=True)


def profile(ctx: Ctx) -> Response:
    name = ctx.params["ns"]
    with ctx.hub.db.read() as session:
        account = session.scalar(select(Account).where(Account.name == name))
        if account is None:
            raise NotFound(f"No user or organisation named {name!r}.")
        rows = session.scalars(
            select(Repo)
            .where(Repo.namespace == name, roles.listed(session, ctx.principal))
            .order_by(Repo.updated_at.desc())
            .limit(200)
        ).all()
        members: list[tuple[str, str]] = []
        orgs: list[str] = []
        if account.kind == "org":
            members = [
                (n, r)
                for n, r in session.execute(
                    select(Account.name, Membership.role)
                    .join(Membership, Membership.user_id == Account.id)
                    .where(Membership.org_id == account.id)
                    .order_by(Account.name)
                )
            ]
        else:
            orgs = sorted(accounts.org_roles(session, account.id))
        return render(
            ctx,
            "account/profile.html",
            is_admin=roles.namespace_role(session, ctx.principal, name) == "admin",
            title=f"{name} · Model Commons",
            account=account,
            members=members,
            orgs=orgs,
            models=[RepoCard.of(r) for r in rows if r.kind == "model"],
            datasets=[RepoCard.of(r) for r in rows if r.kind == "dataset"],
        )
