"""Helpers the API modules share: loading repositories with access checks."""

from __future__ import annotations

from sqlalchemy.orm import Session

from .. import access, repos
from ..errors import RepoNotFound
from ..names import URL_PREFIX, repo_type_from_plural
from ..routing import Ctx
from ..schema import Repo


def repo_kind(ctx: Ctx) -> str:
    if "t" in ctx.params:
        if ctx.params["t"] == "spaces":
            raise RepoNotFound(f"{ctx.params.get('ns')}/{ctx.params.get('name')}")
        return repo_type_from_plural(ctx.params["t"])
    prefix = ctx.params.get("p", "")
    if prefix == "spaces/":
        raise RepoNotFound(f"{ctx.params.get('ns')}/{ctx.params.get('name')}")
    return "dataset" if prefix == "datasets/" else "model"


def load_repo(session: Session, ctx: Ctx, *, mode: str = "read") -> Repo:
    """The repository named by the URL, after checking the caller's access."""
    repo = repos.get_repo(session, repo_kind(ctx), ctx.params["ns"], ctx.params["name"])
    if mode == "read":
        access.require_read(session, ctx.principal, repo)
    elif mode == "write":
        access.require_write(session, ctx.principal, repo)
    else:
        access.require_admin(session, ctx.principal, repo)
    return repo


def repo_url(ctx: Ctx, repo: Repo) -> str:
    return ctx.url(f"/{URL_PREFIX[repo.kind]}{repo.repo_id}")


def flag(value: str | None) -> bool:
    """Booleans as the clients send them: true/True/1."""
    return (value or "").lower() in ("1", "true", "yes")
