"""Reading the audit log: repository admins see their repository's entries,
organisation admins (and users, for themselves) their namespace's."""

from __future__ import annotations

import json

from starlette.responses import Response, StreamingResponse

from ..accounts import roles
from ..audit import as_json
from ..errors import Unauthorized
from ..server.responses import json_response
from ..server.routing import Ctx
from .common import load_repo


def _respond(ctx: Ctx, rows: list[dict[str, object]]) -> Response:
    if ctx.request.query_params.get("format") == "jsonl":
        lines = (json.dumps(r, sort_keys=True) + "\n" for r in rows)
        return StreamingResponse(
            lines,
            media_type="application/x-ndjson",
            headers={"Content-Disposition": 'attachment; filename="audit-log.jsonl"'},
        )
    return json_response(rows)


def repo_log(ctx: Ctx) -> Response:
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx, mode="admin")
        rows = [as_json(r) for r in ctx.hub.audit.entries(session, repo=repo.id)]
    return _respond(ctx, rows)


def namespace_log(ctx: Ctx) -> Response:
    if ctx.principal is None:
        raise Unauthorized("Sign in to read an audit log.")
    namespace = ctx.params["namespace"]
    with ctx.hub.db.read() as session:
        roles.require_namespace_admin(session, ctx.principal, namespace)
        rows = [as_json(r) for r in ctx.hub.audit.entries(session, namespace=namespace)]
    return _respond(ctx, rows)
