"""Access requests to gated repositories, as huggingface_hub's ``*_access_request(s)``
and ``grant_access`` call them. Only repository admins may list or handle them."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from ..db.schema import AccessRecord, Account
from ..errors import BadRequest, NotFound
from ..governance import gating
from ..server.responses import iso, json_response
from ..server.routing import Ctx
from .common import load_repo, next_cursor, read_json, read_page

PAGE = 100


def item(record: AccessRecord, user: Account, *, shared: bool) -> dict[str, Any]:
    """One request; the email address only of a user who asked (``gating.shared_email``)."""
    email = user.email if shared else None
    doc: dict[str, Any] = {
        "user": {"user": user.name, "fullname": user.fullname, "email": email},
        "requestId": str(record.id),
        "status": record.status,
        "timestamp": iso(record.created_at),
        "fields": json.loads(record.fields or "{}"),
        "revision": record.revision,
        "licenceSha256": record.licence_sha256,
        "expiresAt": iso(record.expires_at) if record.expires_at else None,
    }
    if record.reason:
        doc["rejectionReason"] = record.reason
    return doc


def list_requests(ctx: Ctx) -> Response:
    status = ctx.params["status"]
    offset, limit = read_page(ctx, PAGE)
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx, mode="admin")
        rows = gating.current_requests(session, repo, status, offset=offset, limit=limit + 1)
        shared = gating.shared_email(session, repo, [u.id for _, u in rows[:limit]])
        docs = [item(r, u, shared=u.id in shared) for r, u in rows[:limit]]
    headers = next_cursor(ctx, offset + limit) if len(rows) > limit else {}
    return json_response(docs, headers=headers)


async def handle(ctx: Ctx) -> Response:
    body = await read_json(ctx)
    user, request_id = body.get("user"), body.get("requestId")
    status, reason = body.get("status"), body.get("rejectionReason")
    if not isinstance(status, str) or (reason is not None and not isinstance(reason, str)):
        raise BadRequest("'status' must be accepted, rejected or pending.")
    if (user is None) == (request_id is None):
        raise BadRequest("Name the request by exactly one of 'user' and 'requestId'.")

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo = load_repo(session, ctx, mode="admin")
            record = gating.decide(
                ctx.hub,
                session,
                ctx.principal,
                repo,
                user=str(user) if user is not None else None,
                request_id=str(request_id) if request_id is not None else None,
                status=status,
                reason=reason,
            )
            account = session.get(Account, record.user_id)
            assert account is not None
            shared = account.id in gating.shared_email(session, repo, [account.id])
            return json_response(item(record, account, shared=shared))

    return await ctx.run(work)


async def grant(ctx: Ctx) -> Response:
    body = await read_json(ctx)
    user = body.get("user")
    if not isinstance(user, str) or not user:
        raise NotFound('Name the user to grant access to: {"user": "name"}.')

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo = load_repo(session, ctx, mode="admin")
            record = gating.grant(ctx.hub, session, ctx.principal, repo, user)
            account = session.get(Account, record.user_id)
            assert account is not None
            shared = account.id in gating.shared_email(session, repo, [account.id])
            return json_response(item(record, account, shared=shared))

    return await ctx.run(work)
