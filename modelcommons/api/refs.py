"""Branches, tags and history."""

from __future__ import annotations

import html
from itertools import islice

from starlette.responses import Response

from ..errors import BadRequest
from ..governance import access
from ..server.responses import iso, json_response
from ..server.routing import Ctx
from ..storage import repos
from ..validation.inputs import query_int
from .common import load_repo, next_link, read_json


def list_refs(ctx: Ctx) -> Response:
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx)
        refs = access.content(session, ctx.principal, repo).visible_refs()
    doc: dict[str, list[dict[str, str]]] = {"branches": [], "converts": [], "tags": []}
    prs = bool(ctx.request.query_params.get("include_prs"))
    if prs:
        doc["pullRequests"] = []
    groups = {"branch": "branches", "tag": "tags", "pr": "pullRequests"}
    for ref in refs:
        if ref.kind == "pr" and not prs:
            continue
        full = repos.full_ref(ref.kind, ref.name)
        name = full if ref.kind == "pr" else ref.name
        doc[groups[ref.kind]].append({"name": name, "ref": full, "targetCommit": ref.target})
    return json_response(doc)


async def create_branch(ctx: Ctx) -> Response:
    body = await read_json(ctx)
    start = str(body.get("startingPoint") or repos.DEFAULT_BRANCH)

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo = load_repo(session, ctx, mode="write")
            target = repos.resolve(session, repo, start)
            repos.create_ref(session, repo, "branch", ctx.params["branch"], target)
        return json_response({"name": ctx.params["branch"], "targetCommit": target})

    return await ctx.run(work)


def delete_branch(ctx: Ctx) -> Response:
    with ctx.hub.db.write() as session:
        repo = load_repo(session, ctx, mode="write")
        if ctx.params["branch"] == repos.DEFAULT_BRANCH:
            raise BadRequest("Cannot delete refs/heads/main: it is the default branch.")
        repos.delete_ref(session, repo, "branch", ctx.params["branch"])
    return json_response({"deleted": True})


async def create_tag(ctx: Ctx) -> Response:
    body = await read_json(ctx)
    tag = body.get("tag")
    if not isinstance(tag, str):
        raise BadRequest('The body must name the tag: {"tag": "v1"}.')

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo = load_repo(session, ctx, mode="write")
            target = repos.resolve(session, repo, ctx.params["rev"])
            repos.create_ref(session, repo, "tag", tag, target)
        return json_response({"name": tag, "targetCommit": target})

    return await ctx.run(work)


def delete_tag(ctx: Ctx) -> Response:
    with ctx.hub.db.write() as session:
        repo = load_repo(session, ctx, mode="write")
        repos.delete_ref(session, repo, "tag", ctx.params["rev"])
    return json_response({"deleted": True})


def list_commits(ctx: Ctx) -> Response:
    q = ctx.request.query_params
    page = query_int(q, "p", 0)
    limit = min(max(query_int(q, "limit", 100), 1), 1000)
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx)
        # A closed revision's history is closed too, whatever name it is asked by.
        start = access.content(session, ctx.principal, repo).at(ctx.params["rev"]).sha
        rows = list(
            islice(repos.history(session, repo, start), page * limit, (page + 1) * limit + 1)
        )
    # As on the Hub, the HTML-formatted title and message only when asked for.
    formatted = "formatted" in q.getlist("expand[]") + q.getlist("expand")
    items = []
    for c in rows[:limit]:
        body = c.message[len(c.title) :].strip()
        item: dict[str, object] = {
            "id": c.oid,
            "authors": [{"user": c.author, "avatar": None}],
            "date": iso(c.created_at),
            "title": c.title,
            "message": body,
        }
        if formatted:
            item["formatted"] = {"title": html.escape(c.title), "message": html.escape(body)}
        items.append(item)
    headers = next_link(ctx, p=str(page + 1)) if len(rows) > limit else {}
    return json_response(items, headers=headers)
