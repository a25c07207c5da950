"""The tokens page (/settings/tokens): create read, write and fine-grained tokens
with an optional expiry, list them, revoke them. Each token is shown once."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import select
from starlette.datastructures import FormData
from starlette.responses import Response

from ... import accounts, audit
from ...accounts import PERMISSIONS, TokenScope, credentials
from ...clock import utcnow
from ...db.schema import Token
from ...errors import BadRequest, HubError, NotFound
from ...server.routing import Ctx
from ..forms import field, read_form, require_user
from ..templating import redirect, render

ROLES = {"read": "read", "write": "write", "fineGrained": "fine-grained"}
#: Scope entries are separated by new lines, spaces or commas.
_SEPARATORS = re.compile(r"[\s,]+")
MAX_SCOPES = 100


@dataclass(frozen=True)
class TokenRow:
    id: int
    name: str
    role: str
    entities: list[str]
    permissions: list[str]
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None
    state: str  # active | expired | revoked

    @classmethod
    def of(cls, token: Token, now: dt.datetime) -> TokenRow:
        scope = TokenScope.from_json(token.scopes) if token.scopes else None
        return cls(
            id=token.id,
            name=token.name,
            role=ROLES.get(token.role, token.role),
            entities=sorted(scope.entities) if scope else [],
            permissions=sorted(scope.permissions) if scope else [],
            created_at=token.created_at,
            last_used_at=token.last_used_at,
            expires_at=token.expires_at,
            state=accounts.token_state(token, now),
        )


@dataclass(frozen=True)
class Draft:
    """What the form held, to show it again with an error."""

    name: str = ""
    role: str = "read"
    scopes: str = ""
    permissions: tuple[str, ...] = ("read",)
    expires: str = ""

    @classmethod
    def read(cls, form: FormData) -> Draft:
        permissions = tuple(p for p in form.getlist("permission") if isinstance(p, str))
        return cls(
            name=field(form, "name"),
            role=field(form, "role", "read"),
            scopes=field(form, "scopes"),
            permissions=permissions,
            expires=field(form, "expires"),
        )

    def scope(self) -> TokenScope | None:
        """The fine-grained scope asked for; None for read and write tokens."""
        entities = [e for e in _SEPARATORS.split(self.scopes) if e]
        if self.role != "fineGrained":
            if entities:
                raise BadRequest(
                    "Only fine-grained tokens are limited to repositories and namespaces: "
                    "choose the fine-grained role, or leave the scope empty."
                )
            return None
        if not entities:
            raise BadRequest(
                "A fine-grained token needs a scope: model:NS/NAME, dataset:NS/NAME or "
                "ns:NAMESPACE, one per line."
            )
        if len(entities) > MAX_SCOPES:
            raise BadRequest(f"A token may name at most {MAX_SCOPES} repositories and namespaces.")
        return TokenScope.parse(entities, list(self.permissions))


def _page(
    ctx: Ctx,
    *,
    new_token: str | None = None,
    error: str | None = None,
    draft: Draft | None = None,
    status: int = 200,
) -> Response:
    me = require_user(ctx)
    now = ctx.hub.clock.now()
    with ctx.hub.db.read() as session:
        tokens = session.scalars(
            select(Token).where(Token.user_id == me.user_id).order_by(Token.id.desc())
        )
        rows = [TokenRow.of(t, now) for t in tokens]
    return render(
        ctx,
        "account/tokens.html",
        status=status,
        title="Access tokens",
        tokens=rows,
        new_token=new_token,
        error=error,
        draft=draft or Draft(),
        roles=ROLES,
        permissions=PERMISSIONS,
        today=now.date().isoformat(),
    )


def tokens(ctx: Ctx) -> Response:
    return _page(ctx)


async def create_token(ctx: Ctx) -> Response:
    me = require_user(ctx)
    draft = Draft.read(await read_form(ctx))

    def work() -> Response:
        if not draft.name or draft.role not in ROLES:
            raise BadRequest("Give the token a name and a role.")
        scope = draft.scope()
        expires_at = accounts.token_expiry(ctx.hub.clock.now(), until=draft.expires or None)
        with ctx.hub.db.write() as session:
            user = accounts.get_account(session, me.name)
            value = credentials.issue_token(
                ctx.hub,
                session,
                user,
                name=draft.name,
                write=draft.role == "write",
                scope=scope,
                expires_at=expires_at,
                actor=me.name,
            )
        return _page(ctx, new_token=value)

    try:
        return await ctx.run(work)
    except HubError as exc:
        if exc.status >= 500:
            raise
        message = exc.message
    return await ctx.run(lambda: _page(ctx, error=message, draft=draft, status=400))


async def revoke_token(ctx: Ctx) -> Response:
    me = require_user(ctx)
    form = await read_form(ctx)
    token_id = field(form, "id")

    def work() -> Response:
        with ctx.hub.db.write() as session:
            token = session.get(Token, int(token_id)) if token_id.isdigit() else None
            if token is None or token.user_id != me.user_id:
                raise NotFound("No such token.")
            if token.revoked_at is None:
                token.revoked_at = utcnow()
                ctx.hub.audit.record(
                    session, audit.TokenRevoked(me.name, namespace=me.name, name=token.name)
                )
        return redirect(ctx, "/settings/tokens")

    return await ctx.run(work)
