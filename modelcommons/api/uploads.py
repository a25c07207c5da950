"""Writing: the NDJSON commit and the git LFS batch/transfer API (preupload: ``preupload``)."""

from __future__ import annotations

import asyncio
import json
import math
import re
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from .. import accounts, community
from ..accounts import roles
from ..db.schema import LfsObject, LicenceCheck, Repo, RepoLfsObject
from ..db.sqlutil import insert_ignore
from ..errors import (
    BadRequest,
    Forbidden,
    NotFound,
    RepoNotFound,
)
from ..governance import access, licence_checks
from ..server.responses import json_response
from ..server.routing import Ctx
from ..storage.blobs import MultipartUpload, Promotable, StagedBlob
from ..storage.commit_payload import Line, parse_lines
from ..storage.commits import (
    AddFile,
    CommitRequest,
    DeleteFile,
    DeleteFolder,
    Operation,
    StoredContent,
)
from ..storage.gitobjects import blob_hasher
from ..storage.multipart import UploadClosed
from ..validation.names import URL_PREFIX, check_path
from . import blobserve, discussions
from .common import Mode, flag, load_repo, read_json, receive_into, repo_url

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
LFS_JSON = "application/vnd.git-lfs+json"


async def _prepare_content(ctx: Ctx, staged: StagedBlob) -> StoredContent:
    """Promote inline content into the blob store; git sha1 for small files."""

    def work() -> StoredContent:
        sha256, size = staged.sha256(), staged.size
        git_oid = None
        if size < ctx.hub.settings.lfs_threshold_bytes:
            h = blob_hasher(size)
            for chunk in staged.read_all():
                h.update(chunk)
            git_oid = h.hexdigest()
        ctx.hub.blobs.promote(staged, sha256)
        return StoredContent(sha256=sha256, size=size, git_oid=git_oid)

    return await asyncio.get_running_loop().run_in_executor(ctx.hub.io, work)


def _operation(line: Line, content: StoredContent | None, max_path: int) -> Operation | None:
    key, value = line.data.get("key"), line.data.get("value")
    if not isinstance(value, dict):
        raise BadRequest(f"Commit line {key!r} has no 'value' object.")
    if key == "header":
        return None
    path = value.get("path")
    if not isinstance(path, str):
        raise BadRequest(f"Commit line {key!r} has no 'path'.")
    if key == "deletedFolder":
        return DeleteFolder(check_path(path.strip("/"), max_path))
    path = check_path(path, max_path)
    if key == "file":
        if value.get("encoding", "base64") != "base64":
            raise BadRequest(f"Unsupported encoding {value.get('encoding')!r} for {path!r}.")
        if content is None:
            raise BadRequest(f"File {path!r} has no 'content'.")
        return AddFile(path, content=content)
    if key == "lfsFile":
        oid = str(value.get("oid", "")).lower()
        if value.get("algo", "sha256") != "sha256" or not _SHA256.match(oid):
            raise BadRequest(f"LFS file {path!r} needs a sha256 'oid'.")
        size = value.get("size")
        if size is not None and (not isinstance(size, int) or size < 0):
            raise BadRequest(f"LFS file {path!r} has an invalid 'size'.")
        return AddFile(path, lfs_oid=oid, lfs_size=size)
    if key == "deletedFile":
        return DeleteFile(path)
    raise BadRequest(f"Unknown commit line key {key!r}.")


async def commit(ctx: Ctx) -> Response:
    create_pr = flag(ctx.request.query_params.get("create_pr"))
    settings = ctx.hub.settings

    def authorize() -> discussions.CommitAccess:
        with ctx.hub.db.read() as session:
            return discussions.commit_access(session, ctx, ctx.params["rev"], create_pr)

    allowed = await ctx.run(authorize)
    repo_id = allowed.repo_id
    lines = await parse_lines(
        ctx.request.stream(),
        ctx.hub.blobs,
        ctx.hub.io,
        max_file_bytes=settings.max_file_bytes,
        max_lines=settings.max_operations_per_commit + 1,
    )
    header: dict[str, Any] = {}
    operations: list[Operation] = []
    try:
        for line in lines:
            content = await _prepare_content(ctx, line.staged) if line.staged else None
            line.staged = None
            op = _operation(line, content, settings.max_path_length)
            if op is None:
                header = line.data["value"]
            else:
                operations.append(op)
    finally:
        for line in lines:
            if line.staged is not None:
                line.staged.discard()
    summary = str(header.get("summary") or "")
    description = str(header.get("description") or "")
    if len(summary.encode()) + len(description.encode()) > settings.max_commit_message_bytes:
        raise BadRequest("The commit message is too long.")
    parent = header.get("parentCommit")
    if parent is not None and (
        not isinstance(parent, str) or not re.match(r"^[0-9a-fA-F]{5,40}$", parent)
    ):
        raise BadRequest("'parentCommit' must be a commit id.")
    if allowed.by_hash_refused and any(isinstance(op, AddFile) and op.lfs_oid for op in operations):
        raise Forbidden(
            "You may not download every file of this repository, so files in your pull "
            "request must be sent with the commit, not named by hash."
        )
    request = CommitRequest(summary, description, operations, parent_commit=parent)
    assert ctx.principal is not None
    author = ctx.principal.name
    prepare, follow, opened = discussions.pr_hooks(
        author, ctx.params["rev"], create_pr, summary, description, parent
    )

    def work() -> Response:
        oid = ctx.hub.committer.commit(
            repo_id, ctx.params["rev"], author, request, prepare=prepare, follow=follow
        )
        with ctx.hub.db.read() as session:
            repo = session.get(Repo, repo_id)
            assert repo is not None
            url = repo_url(ctx, repo)
            check = session.scalar(
                select(LicenceCheck).where(
                    LicenceCheck.repo_id == repo_id, LicenceCheck.commit_oid == oid
                )
            )
            warning = licence_checks.warning_header(check)
        response = json_response(
            {
                "success": True,
                "commitOid": oid,
                "commitUrl": f"{url}/commit/{oid}",
                "pullRequestUrl": f"{url}/discussions/{opened[0]}" if opened else None,
            }
        )
        if warning:
            response.headers["X-HF-Warning"] = warning
        return response

    return await ctx.run(work)


# --- git LFS ---------------------------------------------------------------


def _lfs_error(status: int, message: str) -> Response:
    return Response(json.dumps({"message": message}), status_code=status, media_type=LFS_JSON)


async def lfs_batch(ctx: Ctx) -> Response:
    body = await read_json(ctx)
    operation = body.get("operation")
    objects = body.get("objects")
    if operation not in ("upload", "download") or not isinstance(objects, list):
        raise BadRequest("An LFS batch needs 'operation' (upload or download) and 'objects'.")
    if len(objects) > 1000:
        raise BadRequest("At most 1000 objects per LFS batch.")
    settings = ctx.hub.settings
    # Multipart is the Hugging Face client's transfer; git-lfs asks for basic only,
    # and a basic PUT of any size is streamed and verified all the same.
    transfers = body.get("transfers")
    multipart = isinstance(transfers, list) and "multipart" in transfers

    def work() -> Response:
        with ctx.hub.db.read() as session:
            repo = load_repo(
                session,
                ctx,
                mode=_lfs_upload_mode(session, ctx) if operation == "upload" else "read",
            )
            if operation == "download":
                # Objects are asked by hash, not by path: only a caller who may
                # download every file at every revision gets them this way.
                access.content(session, ctx.principal, repo).require_download_all()
            oids = [str(o.get("oid", "")) for o in objects if isinstance(o, dict)]
            present = dict(
                session.execute(
                    select(LfsObject.oid, LfsObject.size)
                    .join(RepoLfsObject, RepoLfsObject.oid == LfsObject.oid)
                    .where(RepoLfsObject.repo_id == repo.id, LfsObject.oid.in_(oids))
                ).all()
            )
            base = ctx.url(f"/{URL_PREFIX[repo.kind]}{repo.repo_id}.git/info/lfs")
            repo_pk = repo.id
        out = []
        for obj in objects:
            oid = str(obj.get("oid", "")) if isinstance(obj, dict) else ""
            size = obj.get("size") if isinstance(obj, dict) else None
            item: dict[str, Any] = {"oid": oid, "size": size}
            if not _SHA256.match(oid) or not isinstance(size, int) or size < 0:
                item["error"] = {"code": 422, "message": "oid must be a sha256 and size an int"}
            elif size > settings.max_file_bytes:
                item["error"] = {
                    "code": 422,
                    "message": f"Object is larger than the {settings.max_file_bytes} limit",
                }
            elif operation == "download":
                if oid in present:
                    item["actions"] = {"download": {"href": _download_href(ctx, repo_pk, oid)}}
                else:
                    item["error"] = {"code": 404, "message": "Object does not exist"}
            elif oid in present and present[oid] == size and ctx.hub.blobs.exists(oid):
                pass  # already stored for this repository: no actions means "skip"
            else:
                item["authenticated"] = True
                item["actions"] = _upload_actions(ctx, repo_pk, oid, size, base, multipart)
            out.append(item)
        transfer = (
            "multipart"
            if any("header" in (o.get("actions", {}).get("upload") or {}) for o in out)
            else "basic"
        )
        return Response(
            json.dumps({"transfer": transfer, "objects": out, "hash_algo": "sha256"}),
            media_type=LFS_JSON,
        )

    return await ctx.run(work)


def _lfs_upload_mode(session: Session, ctx: Ctx) -> Mode:
    """Writers upload; so may anyone who may open a pull request (its files), if they
    may download every file: the answers say which objects the repository holds,
    and only such callers may name LFS objects in a commit (``CommitAccess``)."""
    repo = load_repo(session, ctx, mode="participate")
    if (
        roles.can_write(session, ctx.principal, repo)
        or community.discussions_disabled(session, repo)
        or not access.content(session, ctx.principal, repo).may_download_all()
    ):
        return "write"
    return "participate"


def _caller(ctx: Ctx) -> dict[str, Any]:
    """The claims that bind a signed URL to its caller: user and credential."""
    p = ctx.principal
    return {"u": p.user_id if p else None, "k": p.credential if p else None}


def _download_href(ctx: Ctx, repo_pk: int, oid: str) -> str:
    token = ctx.hub.download_signer.sign({"r": repo_pk, "o": oid, **_caller(ctx)})
    return ctx.url(f"/lfs/objects/{token}")


def _upload_actions(
    ctx: Ctx, repo_pk: int, oid: str, size: int, base: str, multipart: bool
) -> dict[str, Any]:
    chunk = ctx.hub.settings.multipart_chunk_bytes
    verify: dict[str, Any] = {"href": f"{base}/objects/verify"}
    credentials = ctx.request.headers.get("authorization")
    if credentials:
        # git-lfs sends an action's own headers only: the caller's credentials, back
        # to the caller, so that the verify call is authenticated like the batch.
        verify["header"] = {"Authorization": credentials}
    if size <= chunk or not multipart:
        token = ctx.hub.signer.sign({"r": repo_pk, "o": oid, "s": size, **_caller(ctx)})
        return {"upload": {"href": ctx.url(f"/lfs/upload/{token}")}, "verify": verify}
    nonce = secrets.token_hex(8)
    parts = math.ceil(size / chunk)
    settings = ctx.hub.settings
    upload = ctx.hub.blobs.multipart(f"{oid}-{nonce}") if settings.upload_presigned_parts else None
    direct = upload is not None and upload.part_url(1, min(chunk, size), 1) is not None
    claims = {"r": repo_pk, "o": oid, "s": size, "c": chunk, "n": nonce, **_caller(ctx)}
    token = ctx.hub.signer.sign({**claims, "d": 1} if direct else claims)
    header: dict[str, str] = {"chunk_size": str(chunk)}
    for i in range(1, parts + 1):
        if upload is not None and direct:
            length = min(chunk, size - (i - 1) * chunk)
            url = upload.part_url(i, length, settings.lfs_url_ttl_seconds)
            header[str(i)] = url or ""
        else:
            header[str(i)] = ctx.url(f"/lfs/part/{token}/{i}")
    return {
        "upload": {"href": ctx.url(f"/lfs/complete/{token}"), "header": header},
        "verify": verify,
    }


def _register(ctx: Ctx, repo_pk: int, oid: str, size: int) -> None:
    with ctx.hub.db.write() as session:
        insert_ignore(session, LfsObject, [{"oid": oid, "size": size}])
        insert_ignore(session, RepoLfsObject, [{"repo_id": repo_pk, "oid": oid}])
        settings = ctx.hub.settings
        if settings.xet_chunk_uploads and size >= settings.lfs_threshold_bytes:
            jobs = ctx.hub.jobs
            jobs.after_commit(session, lambda: jobs.chunk(oid))


def _store_verified(
    ctx: Ctx, staged: Promotable, actual: tuple[str, int], oid: str, size: int, repo_pk: int
) -> None:
    """Promote ``staged`` if its bytes are the announced object, then link it to the
    repository. Blocking: run it on a worker thread."""
    sha256, length = actual
    if length != size or sha256 != oid:
        staged.discard()
        raise BadRequest(
            f"Uploaded bytes do not match the announced object: got sha256 {sha256} "
            f"and {length} bytes, expected {oid} and {size} bytes."
        )
    ctx.hub.blobs.promote(staged, oid)
    _register(ctx, repo_pk, oid, size)


async def lfs_upload(ctx: Ctx) -> Response:
    """PUT of a whole object (basic transfer); verified before it becomes visible.

    The body goes into a staging file of this request's own, hashed as it arrives
    and allocated only as it arrives (a client that announces a large object and
    sends a byte holds a byte of disk)."""
    claims = ctx.hub.signer.verify(ctx.params["token"])
    oid, size, repo_pk = claims["o"], claims["s"], claims["r"]
    loop = asyncio.get_running_loop()
    staged = ctx.hub.blobs.stage()
    try:
        await receive_into(ctx, staged, size)
        actual = (staged.sha256(), staged.size)
        await loop.run_in_executor(
            ctx.hub.io, _store_verified, ctx, staged, actual, oid, size, repo_pk
        )
    except BaseException:
        staged.discard()
        raise
    return Response(status_code=200)


def _multipart(ctx: Ctx, claims: dict[str, Any]) -> MultipartUpload:
    return ctx.hub.blobs.multipart(f"{claims['o']}-{claims['n']}")


async def lfs_part(ctx: Ctx) -> Response:
    """PUT of one part of a multipart upload (see ``multipart.py``): into the object
    being assembled when it comes in order, else into a part file of its own;
    either way into a file no other request writes to. Refused once the upload is
    completed."""
    claims = ctx.hub.signer.verify(ctx.params["token"])
    size, chunk = claims["s"], claims["c"]
    part = int(ctx.params["part"])
    parts = math.ceil(size / chunk)
    if not 1 <= part <= parts:
        raise BadRequest(f"Part {part} is out of range 1..{parts}.")
    offset = (part - 1) * chunk
    expected = min(chunk, size - offset)
    loop = asyncio.get_running_loop()
    target = await loop.run_in_executor(ctx.hub.io, _multipart(ctx, claims).open_part, part, offset)
    try:
        await receive_into(ctx, target, expected, hashing=target.hashing)
    except BaseException:
        target.abort()
        raise
    await loop.run_in_executor(ctx.hub.io, target.finish)
    return Response(status_code=200, headers={"ETag": f'"{claims["n"]}-{part}"'})


async def lfs_complete(ctx: Ctx) -> Response:
    """Close the upload (later parts are refused), assemble it from files nobody can
    write to any more, verify and store it. A completion sent again after one that
    stored the object answers 200 again; any other repeat is refused."""
    claims = ctx.hub.signer.verify(ctx.params["token"])
    body = await read_json(ctx)
    parts = body.get("parts")
    oid, size, chunk, repo_pk = claims["o"], claims["s"], claims["c"], claims["r"]
    expected = math.ceil(size / chunk)
    if not isinstance(parts, list) or sorted(
        int(p.get("partNumber", 0)) for p in parts if isinstance(p, dict)
    ) != list(range(1, expected + 1)):
        raise BadRequest(f"The completion must list parts 1..{expected}.")
    for p in parts:
        # Parts sent to the store directly carry the store's etags; the hash of the
        # whole, read back, is what counts there.
        if not claims.get("d") and p.get("etag") != f'"{claims["n"]}-{p["partNumber"]}"':
            raise BadRequest(f"Part {p['partNumber']} has an unknown etag.")
    upload = _multipart(ctx, claims)

    def work() -> None:
        if not upload.close():
            if upload.stored():
                return  # this upload stored and linked the object already
            raise UploadClosed()
        try:
            staged, sha256, length = upload.assemble(size, chunk)
            _store_verified(ctx, staged, (sha256, length), oid, size, repo_pk)
            upload.mark_stored()
        finally:
            upload.remove()

    await asyncio.get_running_loop().run_in_executor(ctx.hub.io, work)
    return Response(status_code=200)


async def lfs_verify(ctx: Ctx) -> Response:
    body = await read_json(ctx)
    oid, size = str(body.get("oid", "")), body.get("size")

    def work() -> Response:
        with ctx.hub.db.read() as session:
            repo = load_repo(session, ctx, mode=_lfs_upload_mode(session, ctx))
            stored = session.scalar(
                select(LfsObject.size)
                .join(RepoLfsObject, RepoLfsObject.oid == LfsObject.oid)
                .where(RepoLfsObject.repo_id == repo.id, LfsObject.oid == oid)
            )
        if stored is None or stored != size:
            raise NotFound(f"Object {oid} of {size} bytes was not uploaded to this repository.")
        return Response(json.dumps({"message": "ok"}), media_type=LFS_JSON)

    return await ctx.run(work)


def lfs_download(ctx: Ctx) -> Response:
    """Download action of the LFS batch API (for git-lfs clients).

    The URL is signed for downloads only and names the repository, the object and
    the caller. It is checked again now: the repository must still exist and hold
    the object, and the caller, with the same credential, must still be allowed to
    download everything in it (as the batch API required). Any refusal about the
    object or the repository reads the same, so a URL never tells whether an
    object exists anywhere else.
    """
    claims = ctx.hub.download_signer.verify(ctx.params["token"])
    missing = NotFound("Object not found.")
    with ctx.hub.db.read() as session:
        repo = session.get(Repo, claims.get("r"))
        if repo is None:
            raise missing
        principal = None
        if claims.get("u") is not None:
            principal = accounts.principal_for_credential(
                session, str(claims.get("k") or ""), int(claims["u"]), ctx.hub.clock.now()
            )
            if principal is None:
                raise Forbidden(
                    "The credential this download URL was issued to is no longer valid; "
                    "ask the LFS batch API again."
                )
        try:
            access.content(session, principal, repo).require_download_all()
        except RepoNotFound as exc:
            raise missing from exc
        held = session.scalar(
            select(RepoLfsObject.oid).where(
                RepoLfsObject.repo_id == repo.id, RepoLfsObject.oid == str(claims.get("o"))
            )
        )
    size = ctx.hub.blobs.size(held) if held is not None else None
    if held is None or size is None:
        raise missing
    return blobserve.redirect(ctx, held, {}) or blobserve.send_blob(
        ctx, held, size, headers={}, media_type="application/octet-stream"
    )
