"""Repository ids without a namespace (``gpt2``).

The Hugging Face Hub still answers for a few such legacy ids; this hub has none (every
repository lives under a user or an organisation). Their routes answer what a missing
repository answers, so that the clients' ``repo_exists``, ``file_exists`` and
``revision_exists`` return False and ``unlike`` raises ``RepositoryNotFoundError``,
instead of meeting a route-level 404 or 405.
"""

from __future__ import annotations

from starlette.responses import Response

from ..errors import RepoNotFound
from ..server.routing import PREFIX, REV, Ctx, Router, T

NAME = r"(?P<name>[^/]+)"


def missing(ctx: Ctx) -> Response:
    """No repository has an id without a namespace here."""
    raise RepoNotFound(ctx.params.get("name", ""))


def add_routes(r: Router) -> None:
    """After every other API route: these patterns must never hide a real one."""
    api = f"/api/{T}/{NAME}"
    r.add("GET", api, missing)
    r.add("GET", f"{api}/revision/{REV}", missing)
    r.add("GET", f"{api}/commits/{REV}", missing)
    r.add("POST DELETE", f"{api}/like", missing)
    r.add("GET", f"/{PREFIX}{NAME}/resolve/{REV}/(?P<path>.+)", missing)
