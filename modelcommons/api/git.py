"""git over HTTP: ``git clone``, ``fetch``, ``pull`` and ``push`` with the stock clients.

The protocol is in :mod:`modelcommons.gitserver`; these handlers check who may do
what, the same way every other route does: fetching needs what downloading every
file of every open revision needs (``RepoContent.require_fetch``: a gated repository
wants an accepted request, a staged release that holds files back refuses), and
shows only the refs the caller may see (a branch a release keeps closed is not
advertised, and its commits cannot be fetched by id); pushing needs write access.

Credentials are HTTP Basic with a token as the password (the username is ignored).
git sends them only after a 401 with a Basic challenge, so an anonymous request for
a repository the caller cannot see, private or missing alike, answers 401 asking for
credentials (never 404, which would tell the two apart from the other answers, and
never a challenge that a missing repository would not get). Signed in, it is 404,
exactly like a missing one. Errors are ``text/plain``, which git prints.
"""

from __future__ import annotations

import zlib

from sqlalchemy.orm import Session
from starlette.responses import Response, StreamingResponse

from ..db.schema import Repo
from ..errors import BadRequest, PayloadTooLarge, RepoNotFound, Unauthorized
from ..gitserver import advertise, receive, upload
from ..gitserver.negotiate import ProtocolError
from ..governance import access
from ..server.routing import Ctx
from ..storage import repos
from .common import Mode, load_repo, read_body

#: The largest fetch request (wants and haves), decompressed.
MAX_REQUEST_BYTES = 16 * 1024 * 1024
_NO_CACHE = {"Cache-Control": "no-cache, max-age=0, must-revalidate", "Expires": "0"}


def _credentials_needed() -> Unauthorized:
    return Unauthorized(
        "Repository not found, or it needs credentials: give git any username and a "
        "token of this hub as the password.",
        code="RepoNotFound",
    )


def _repo(session: Session, ctx: Ctx, mode: Mode) -> Repo:
    """The repository in the URL (``NAME`` or ``NAME.git``), with the caller's access."""
    ctx.params["name"] = ctx.params["name"].removesuffix(".git")
    try:
        return load_repo(session, ctx, mode=mode)
    except RepoNotFound as exc:
        if ctx.principal is None:
            raise _credentials_needed() from exc
        raise


def _fetch_view(session: Session, ctx: Ctx) -> tuple[Repo, advertise.RefView]:
    repo = _repo(session, ctx, "read")
    content = access.content(session, ctx.principal, repo)
    content.require_fetch()
    return repo, advertise.RefView.of(content.visible_refs())


def _version(ctx: Ctx) -> int:
    """2 when the client asks for protocol version 2 (``Git-Protocol: version=2``)."""
    params = ctx.request.headers.get("git-protocol", "").split(":")
    return 2 if "version=2" in params else 0


def info_refs(ctx: Ctx) -> Response:
    """The refs and capabilities of a repository, for ``git clone``, ``fetch`` and ``push``."""
    service = ctx.request.query_params.get("service", "")
    if service not in (advertise.UPLOAD_PACK, advertise.RECEIVE_PACK):
        raise BadRequest(
            "This hub speaks git's smart HTTP protocol only "
            "(info/refs?service=git-upload-pack or git-receive-pack)."
        )
    with ctx.hub.db.read() as session:
        if service == advertise.UPLOAD_PACK:
            _, view = _fetch_view(session, ctx)
        else:
            repo = _repo(session, ctx, "write")
            view = advertise.RefView.of(repos.list_refs(session, repo))
    if service == advertise.UPLOAD_PACK and _version(ctx) == 2:
        body = advertise.v2_capabilities()
    else:
        body = advertise.v0_advertisement(service, view)
    return Response(
        body, media_type=f"application/x-{service}-advertisement", headers=dict(_NO_CACHE)
    )


def _gunzip(data: bytes, limit: int) -> bytes:
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflate.decompress(data, limit + 1)
    except zlib.error as exc:
        raise BadRequest("The request body is not valid gzip.") from exc
    if len(out) > limit or inflate.unconsumed_tail:
        raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
    return out


async def upload_pack(ctx: Ctx) -> Response:
    """Fetch: the have/want exchange, then a pack of what the client lacks."""
    raw = await read_body(ctx, MAX_REQUEST_BYTES)
    encoding = ctx.request.headers.get("content-encoding", "identity").lower()
    if encoding == "gzip":  # git compresses requests over 1 KiB
        raw = _gunzip(raw, MAX_REQUEST_BYTES)
    elif encoding != "identity":
        raise BadRequest(f"Unsupported Content-Encoding {encoding[:40]!r}.")
    version = _version(ctx)

    def work() -> upload.Reply:
        with ctx.hub.db.read() as session:
            repo, view = _fetch_view(session, ctx)
            try:
                return upload.respond(session, ctx.hub, repo, view, raw, version)
            except ProtocolError as exc:
                return upload.Reply(upload.error(exc.message))

    reply = await ctx.run(work)
    return StreamingResponse(
        upload.stream(ctx.hub, reply),
        media_type="application/x-git-upload-pack-result",
        headers=dict(_NO_CACHE),
    )


async def receive_pack(ctx: Ctx) -> Response:
    """Push: ref updates and a pack, checked whole before any ref moves."""

    def authorize() -> int:
        with ctx.hub.db.read() as session:
            return _repo(session, ctx, "write").id

    repo_id = await ctx.run(authorize)
    assert ctx.principal is not None
    report = await receive.receive(ctx.hub, repo_id, ctx.principal, ctx.request.stream())
    return Response(
        report, media_type="application/x-git-receive-pack-result", headers=dict(_NO_CACHE)
    )
