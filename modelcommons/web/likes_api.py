"""Likes over the API: unlike (the client's), like (the UI's), likers, a user's likes."""

from __future__ import annotations

from sqlalchemy import select
from starlette.responses import Response

from .. import access
from ..api.common import load_repo
from ..errors import NotFound
from ..responses import iso, json_response
from ..routing import Ctx
from ..schema import Account, Like, Repo
from .manage_pages import toggle_like


def like(ctx: Ctx) -> Response:
    return json_response({"liked": toggle_like(ctx, like=True)})


def unlike(ctx: Ctx) -> Response:
    return json_response({"liked": toggle_like(ctx, like=False)})


def likers(ctx: Ctx) -> Response:
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx)
        rows = session.execute(
            select(Account.name, Account.fullname)
            .join(Like, Like.user_id == Account.id)
            .where(Like.repo_id == repo.id)
            .order_by(Like.created_at.desc())
            .limit(1000)
        )
        return json_response([{"user": n, "fullname": f, "avatarUrl": None} for n, f in rows])


def user_likes(ctx: Ctx) -> Response:
    with ctx.hub.db.read() as session:
        user = session.scalar(select(Account).where(Account.name == ctx.params["user"]))
        if user is None:
            raise NotFound(f"No user named {ctx.params['user']!r}.")
        rows = session.execute(
            select(Repo, Like.created_at)
            .join(Like, Like.repo_id == Repo.id)
            .where(Like.user_id == user.id, access.listed(session, ctx.principal))
            .order_by(Like.created_at.desc())
            .limit(1000)
        )
        return json_response(
            [
                {"createdAt": iso(created), "repo": {"name": repo.repo_id, "type": repo.kind}}
                for repo, created in rows
            ]
        )
