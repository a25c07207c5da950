"""Rewriting a branch's history: ``POST .../super-squash/{branch}``."""

from __future__ import annotations

from starlette.responses import Response

from ..errors import BadRequest
from ..server.responses import json_response
from ..server.routing import Ctx
from ..storage.squash import super_squash
from .common import load_repo, read_json


async def squash(ctx: Ctx) -> Response:
    body = await read_json(ctx)
    message = body.get("message", "")
    if not isinstance(message, str):
        raise BadRequest("'message' must be text.")
    if len(message.encode()) > ctx.hub.settings.max_commit_message_bytes:
        raise BadRequest("The commit message is too long.")

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo = load_repo(session, ctx, mode="write")
            assert ctx.principal is not None
            oid = super_squash(
                ctx.hub, session, repo, ctx.params["rev"], ctx.principal.name, message
            )
        return json_response({"commitId": oid})

    return await ctx.run(work)
