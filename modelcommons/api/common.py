"""Helpers the API modules share: loading repositories with access checks."""

from __future__ import annotations

import base64
from typing import Any, Literal
from urllib.parse import quote, unquote, urlencode

from sqlalchemy.orm import Session

from ..accounts import roles
from ..db.schema import Repo
from ..errors import BadRequest, PayloadTooLarge, RepoNotFound, RepoRedirect
from ..server.bodies import SOCKET_BODY, SocketBody
from ..server.routing import Ctx
from ..storage import repos
from ..storage.transfer import Sink, StagedWriter, receive_exactly
from ..validation.inputs import loads_json, parse_int, query_int
from ..validation.names import URL_PREFIX, repo_type_from_plural


def repo_kind(ctx: Ctx) -> str:
    if "t" in ctx.params:
        if ctx.params["t"] == "spaces":
            raise RepoNotFound(f"{ctx.params.get('ns')}/{ctx.params.get('name')}")
        return repo_type_from_plural(ctx.params["t"])
    prefix = ctx.params.get("p", "")
    if prefix == "spaces/":
        raise RepoNotFound(f"{ctx.params.get('ns')}/{ctx.params.get('name')}")
    return "dataset" if prefix == "datasets/" else "model"


Mode = Literal["read", "participate", "write", "admin"]

_CHECKS = {
    "read": roles.require_read,
    "participate": roles.require_participant,
    "write": roles.require_write,
    "admin": roles.require_admin,
}


def load_repo(session: Session, ctx: Ctx, *, mode: Mode = "read") -> Repo:
    """The repository named by the URL, after checking the caller's access.

    A moved repository's old id redirects to its new one, but only for a caller who
    may see it: to anyone else the old id is simply not found.
    """
    ns, name = ctx.params["ns"], ctx.params["name"]
    try:
        repo = repos.get_repo(session, repo_kind(ctx), ns, name)
    except repos.RepoMoved as moved:
        if not roles.can_read(session, ctx.principal, moved.target):
            raise RepoNotFound(f"{ns}/{name}") from None
        raise RepoRedirect(moved.target.repo_id, moved_location(ctx, moved.target)) from None
    _CHECKS[mode](session, ctx.principal, repo)
    return repo


def moved_location(ctx: Ctx, repo: Repo) -> str:
    """This request's path and query with the repository's id replaced by ``repo``'s."""
    segments = ctx.raw_path.split("/")
    ns, name = ctx.params["ns"], ctx.params["name"]
    for i in range(len(segments) - 1):
        if unquote(segments[i]) == ns and unquote(segments[i + 1]) == name:
            segments[i : i + 2] = [quote(repo.namespace, safe=""), quote(repo.name, safe="")]
            break
    query = ctx.request.url.query
    return ctx.href("/".join(segments)) + (f"?{query}" if query else "")


def repo_url(ctx: Ctx, repo: Repo) -> str:
    return ctx.url(f"/{URL_PREFIX[repo.kind]}{repo.repo_id}")


async def read_body(ctx: Ctx, limit: int = 16 * 1024 * 1024) -> bytes:
    """The request body, refusing more than ``limit`` bytes before holding them."""
    declared = ctx.request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in ctx.request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


async def receive_into(ctx: Ctx, sink: Sink, expected: int, *, hashing: bool = True) -> None:
    """The whole request body, exactly ``expected`` bytes, written to ``sink`` (and
    hashed unless ``hashing`` is false): straight from the socket where the
    connection offers it (``server/bodies.py``), else through ASGI ``receive``."""
    direct: SocketBody | None = ctx.request.scope.get("extensions", {}).get(SOCKET_BODY)
    if direct is not None and await direct.read_into(sink, expected, hashing=hashing):
        return
    writer = StagedWriter(sink, ctx.hub.io, hashing=hashing)
    await receive_exactly(ctx.request.receive, writer, expected)


async def read_json(ctx: Ctx, limit: int = 16 * 1024 * 1024) -> dict[str, Any]:
    """A JSON object body (empty means ``{}``), with a clear error otherwise."""
    raw = await read_body(ctx, limit)
    if not raw.strip():
        return {}
    data = loads_json(raw)
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    return data


def read_page(ctx: Ctx, default_limit: int) -> tuple[int, int]:
    """(offset, limit) from ``?cursor=`` (one this hub returned) and ``?limit=``."""
    q = ctx.request.query_params
    limit = min(max(query_int(q, "limit", default_limit), 1), 1000)
    if "cursor" not in q:
        return 0, limit
    try:
        text = base64.urlsafe_b64decode(q["cursor"]).decode()
    except ValueError:  # binascii.Error, UnicodeDecodeError
        text = ""
    return parse_int(text, "'cursor' (one this hub returned)"), limit


def next_link(ctx: Ctx, **changes: str) -> dict[str, str]:
    """The ``Link: <absolute url>; rel="next"`` header the client follows as-is:
    this request's URL with some query parameters replaced."""
    params = [(k, v) for k, v in ctx.request.query_params.multi_items() if k not in changes]
    params += list(changes.items())
    return {"Link": f'<{ctx.url(ctx.raw_path)}?{urlencode(params)}>; rel="next"'}


def next_cursor(ctx: Ctx, offset: int) -> dict[str, str]:
    return next_link(ctx, cursor=base64.urlsafe_b64encode(str(offset).encode()).decode())


def flag(value: str | None) -> bool:
    """Booleans as the clients send them: true/True/1."""
    return (value or "").lower() in ("1", "true", "yes")
