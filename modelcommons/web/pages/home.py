"""The home page: what is popular and what is new."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, select
from starlette.responses import Response

from ...accounts import roles
from ...db.schema import Repo
from ...server.routing import Ctx
from ..templating import render
from ..views import RepoCard


def home(ctx: Ctx) -> Response:
    with ctx.hub.db.read() as session:
        where = roles.listed(session, ctx.principal)

        def top(kind: str, order: ColumnElement[Any]) -> list[RepoCard]:
            rows = session.scalars(
                select(Repo)
                .where(Repo.kind == kind, where)
                .order_by(order, Repo.id.desc())
                .limit(8)
            )
            return [RepoCard.of(r) for r in rows]

        counts = {
            kind + "s": session.scalar(
                select(func.count()).select_from(Repo).where(Repo.kind == kind, where)
            )
            or 0
            for kind in ("model", "dataset")
        }
        return render(
            ctx,
            "home.html",
            counts=counts,
            top_models=top("model", Repo.downloads.desc()),
            recent_models=top("model", Repo.updated_at.desc()),
            top_datasets=top("dataset", Repo.downloads.desc()),
            recent_datasets=top("dataset", Repo.updated_at.desc()),
        )
