"""Writing: preupload, the NDJSON commit, and the git LFS batch/transfer API."""

from __future__ import annotations

import asyncio
import fnmatch
import json
import math
import re
import secrets
from collections.abc import Iterator
from typing import Any, BinaryIO

from sqlalchemy import select
from starlette.responses import Response, StreamingResponse

from .. import accounts
from ..db.schema import Commit, LfsObject, LicenceCheck, Repo, RepoLfsObject
from ..db.sqlutil import insert_ignore
from ..errors import (
    BadRequest,
    Forbidden,
    HubError,
    NotFound,
    PayloadTooLarge,
    RepoNotFound,
)
from ..governance import access, licence_checks
from ..server.responses import BlobFileResponse, json_response
from ..server.routing import Ctx
from ..storage import repos
from ..storage.blobs import StagedBlob
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
from ..storage.multipart import LocalMultipartUpload, UploadClosed
from ..storage.transfer import StagedWriter, receive_exactly
from ..storage.trees import TreeReader
from ..validation.inputs import json_int
from ..validation.names import URL_PREFIX, check_path
from .common import flag, load_repo, read_json, repo_url

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
LFS_JSON = "application/vnd.git-lfs+json"


def _ignored(patterns: list[str], path: str) -> bool:
    base = path.rsplit("/", 1)[-1]
    for pattern in patterns:
        p = pattern.rstrip("/")
        if (
            fnmatch.fnmatchcase(path, p.lstrip("/"))
            or fnmatch.fnmatchcase(base, p)
            or path.startswith(p.lstrip("/") + "/")
        ):
            return True
    return False


async def preupload(ctx: Ctx) -> Response:
    body = await read_json(ctx)
    files = body.get("files")
    if not isinstance(files, list):
        raise BadRequest("The body must list 'files'.")
    gitignore = body.get("gitIgnore") or ""
    ignore = [
        ln.strip()
        for ln in str(gitignore).splitlines()
        if ln.strip() and not ln.startswith(("#", "!"))
    ]
    limit = ctx.hub.settings.regular_upload_max_bytes

    def work() -> Response:
        with ctx.hub.db.read() as session:
            repo = load_repo(session, ctx, mode="write")
            try:
                sha: str | None = repos.resolve(session, repo, ctx.params["rev"])
            except HubError:
                sha = None  # a branch the commit will need first; answer modes anyway
            reader = TreeReader(session, ctx.hub.tree_cache)
            tree = session.get(Commit, (repo.id, sha)).tree_oid if sha else None  # type: ignore[union-attr]
            out = []
            for f in files:
                if not isinstance(f, dict) or not isinstance(f.get("path"), str):
                    raise BadRequest("Each file needs a 'path'.")
                path = check_path(f["path"], ctx.hub.settings.max_path_length)
                size = json_int(f.get("size", 0), f"The 'size' of {path!r}")
                if size > ctx.hub.settings.max_file_bytes:
                    raise PayloadTooLarge(
                        f"{path!r} is {size} bytes; the limit is {ctx.hub.settings.max_file_bytes}."
                    )
                item: dict[str, Any] = {
                    "path": path,
                    "uploadMode": "lfs" if size > limit else "regular",
                    "shouldIgnore": _ignored(ignore, path),
                }
                current = reader.file(tree, path) if tree else None
                # No oid for bytes the store lost (quarantined): the client uploads again.
                if current is not None and ctx.hub.blobs.exists(current.sha256):
                    item["oid"] = current.sha256 if current.lfs else current.oid
                out.append(item)
            return json_response({"files": out, "commitOid": sha})

    return await ctx.run(work)


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
    if flag(ctx.request.query_params.get("create_pr")):
        raise BadRequest("Pull requests are not available on this hub yet.")
    settings = ctx.hub.settings

    def authorize() -> int:
        with ctx.hub.db.read() as session:
            return load_repo(session, ctx, mode="write").id

    repo_id = await ctx.run(authorize)
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
    request = CommitRequest(summary, description, operations, parent_commit=parent)
    assert ctx.principal is not None
    author = ctx.principal.name

    def work() -> Response:
        oid = ctx.hub.committer.commit(repo_id, ctx.params["rev"], author, request)
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
                "pullRequestUrl": None,
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
            repo = load_repo(session, ctx, mode="write" if operation == "upload" else "read")
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
    token = ctx.hub.signer.sign(
        {"r": repo_pk, "o": oid, "s": size, "c": chunk, "n": nonce, **_caller(ctx)}
    )
    header: dict[str, str] = {"chunk_size": str(chunk)}
    for i in range(1, parts + 1):
        header[str(i)] = ctx.url(f"/lfs/part/{token}/{i}")
    return {
        "upload": {"href": ctx.url(f"/lfs/complete/{token}"), "header": header},
        "verify": verify,
    }


def _register(ctx: Ctx, repo_pk: int, oid: str, size: int) -> None:
    with ctx.hub.db.write() as session:
        insert_ignore(session, LfsObject, [{"oid": oid, "size": size}])
        insert_ignore(session, RepoLfsObject, [{"repo_id": repo_pk, "oid": oid}])


def _store_verified(
    ctx: Ctx, staged: StagedBlob, actual: tuple[str, int], oid: str, size: int, repo_pk: int
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
        writer = StagedWriter(staged, ctx.hub.io)
        await receive_exactly(ctx.request.receive, writer, size)
        actual = (staged.sha256(), staged.size)
        await loop.run_in_executor(
            ctx.hub.io, _store_verified, ctx, staged, actual, oid, size, repo_pk
        )
    except BaseException:
        staged.discard()
        raise
    return Response(status_code=200)


def _multipart(ctx: Ctx, claims: dict[str, Any]) -> LocalMultipartUpload:
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
        writer = StagedWriter(target, ctx.hub.io, hashing=target.hashing)
        await receive_exactly(ctx.request.receive, writer, expected)
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
        if p.get("etag") != f'"{claims["n"]}-{p["partNumber"]}"':
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
            repo = load_repo(session, ctx, mode="write")
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
    if held is None:
        raise missing
    path = ctx.hub.blobs.local_path(held)
    if path is None:
        size = ctx.hub.blobs.size(held)
        if size is None:
            raise missing
        # Held as Xet chunks: reconstructed as it is sent.
        stream = ctx.hub.blobs.open(held)
        return StreamingResponse(
            _read_all(stream),
            headers={"Content-Length": str(size)},
            media_type="application/octet-stream",
        )
    return BlobFileResponse(
        path,
        media_type="application/octet-stream",
        chunk_size=ctx.hub.settings.download_chunk_bytes,
    )


def _read_all(stream: BinaryIO) -> Iterator[bytes]:
    with stream:
        while block := stream.read(1024 * 1024):
            yield block
