"""Staged release plans over HTTP: the public timeline, and owners' decisions.

``GET /api/{t}/{repo}/release-plan`` (anyone who can read the repository),
``PUT`` (set or replace, admins, body ``{"stages": [...], "rationale": "...",
"restart": false}``: a replacement keeps the plan's position and may change only the
stages not yet opened, unless ``restart`` starts it over; see
:func:`releases.set_plan`), ``DELETE`` (end the plan, admins),
``POST …/release-plan/{promote|pause|resume|rollback}`` (admins, body
``{"rationale": "...", "force": false}``) and ``POST …/release-plan/approve``
(anyone signed in who can read the repository, with a token that may write;
whether the approval counts is the stage's condition).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from ..errors import BadRequest, NotFound
from ..governance import releases
from ..server.responses import json_response
from ..server.routing import Ctx
from .common import load_repo, read_json


def _rationale(body: dict[str, Any]) -> str:
    value = body.get("rationale", "")
    if not isinstance(value, str) or len(value) > 2000:
        raise BadRequest("'rationale' must be a string of at most 2000 characters.")
    return value


def get_plan(ctx: Ctx) -> Response:
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx)
        plan = releases.plan_of(session, repo)
        if plan is None:
            raise NotFound(f"{repo.repo_id} has no release plan.")
        return json_response(releases.describe(session, ctx.hub, repo, plan))


async def put_plan(ctx: Ctx) -> Response:
    body = await read_json(ctx)
    restart = body.get("restart", False)
    if not isinstance(restart, bool):
        raise BadRequest("'restart' must be true or false.")

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo = load_repo(session, ctx, mode="admin")
            assert ctx.principal is not None
            plan = releases.set_plan(
                session,
                ctx.hub,
                repo,
                body.get("stages"),
                ctx.principal.name,
                _rationale(body),
                restart=restart,
            )
            ctx.hub.jobs.after_commit(session, ctx.hub.jobs.check)
            return json_response(releases.describe(session, ctx.hub, repo, plan))

    return await ctx.run(work)


async def delete_plan(ctx: Ctx) -> Response:
    body = await read_json(ctx)

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo = load_repo(session, ctx, mode="admin")
            assert ctx.principal is not None
            releases.end_plan(session, ctx.hub, repo, ctx.principal.name, _rationale(body))
        return json_response({"status": "ended"})

    return await ctx.run(work)


async def decide(ctx: Ctx) -> Response:
    action = ctx.params["action"]
    body = await read_json(ctx)
    rationale = _rationale(body)

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo = load_repo(session, ctx, mode="participate" if action == "approve" else "admin")
            assert ctx.principal is not None  # the check above refuses anonymous callers
            releases.act(
                session,
                ctx.hub,
                repo,
                ctx.principal,
                action,
                rationale,
                force=bool(body.get("force")),
            )
            plan = releases.plan_of(session, repo)
            assert plan is not None
            return json_response(releases.describe(session, ctx.hub, repo, plan))

    return await ctx.run(work)
