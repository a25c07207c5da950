"""Lineage of a repository: its parents, its children and its latest licence check."""

from __future__ import annotations

from starlette.responses import Response

from ..governance import lineage
from ..server.responses import json_response
from ..server.routing import Ctx
from .common import load_repo


def lineage_of(ctx: Ctx) -> Response:
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx)
        view = lineage.view(session, ctx.principal, repo)
    for relative in (*view["parents"], *view["children"]):
        if relative["url"]:  # a page path within the hub; clients need the URL prefix too
            relative["url"] = ctx.href(relative["url"])
    return json_response(view)
