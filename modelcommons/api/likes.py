"""Likes over the API: unlike (the client's), like (the UI's), likers, a user's likes."""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from starlette.responses import Response

from ..accounts import roles
from ..db.schema import Account, Like, Repo
from ..errors import NotFound
from ..server.responses import iso, json_response
from ..server.routing import Ctx
from .common import load_repo


def toggle_like(ctx: Ctx, *, like: bool | None) -> bool:
    """Like, unlike, or flip (``None``); returns whether the viewer now likes it."""
    with ctx.hub.db.write() as session:
        repo = load_repo(session, ctx, mode="participate")
        me = ctx.principal
        assert me is not None
        existing = session.get(Like, (me.user_id, repo.id))
        want = (existing is None) if like is None else like
        if want and existing is None:
            session.add(Like(user_id=me.user_id, repo_id=repo.id))
        elif not want and existing is not None:
            session.execute(delete(Like).where(Like.user_id == me.user_id, Like.repo_id == repo.id))
        session.flush()
        count = (
            session.scalar(select(func.count()).select_from(Like).where(Like.repo_id == repo.id))
            or 0
        )
        session.execute(update(Repo).where(Repo.id == repo.id).values(likes=count))
        return want


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
            .where(Like.user_id == user.id, roles.listed(session, ctx.principal))
            .order_by(Like.created_at.desc())
            .limit(1000)
        )
        return json_response(
            [
                {"createdAt": iso(created), "repo": {"name": repo.repo_id, "type": repo.kind}}
                for repo, created in rows
            ]
        )
