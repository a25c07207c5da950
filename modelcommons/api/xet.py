"""The Xet protocol's HTTP side: token routes under ``/api`` and the CAS under
``casUrl`` (``/cas`` on this hub, or ``Settings.xet_cas_url``).

CAS routes authenticate themselves: their bearer is a Xet token
(:mod:`modelcommons.xet.tokens`), not a hub token. Each call re-checks what the
token was issued for against the database: the credential behind it must still be
valid and still have write (resp. read) access to the repository.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select
from starlette.responses import Response, StreamingResponse

from .. import accounts
from ..accounts import Principal
from ..accounts.roles import require_participant, require_read, require_write
from ..db.schema import Repo, RepoLfsObject, XetDedup, XetFile
from ..errors import (
    BadRequest,
    EntryNotFound,
    Forbidden,
    HubError,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
)
from ..governance import access
from ..server.responses import json_response
from ..server.routing import Ctx, Router
from ..storage import repos
from ..storage.blobs import StagedBlob
from ..storage.trees import FileInfo, TreeReader
from ..xet import hashing, shards, store, xorbs
from ..xet.tokens import Grant, Scope
from . import discussions
from .common import flag, load_repo, receive_into

CAS = "/cas"
#: Xorb and shard uploads received and verified at once: each holds some MiB while
#: it is read, and hf_xet sends many in parallel; the others wait before their body
#: is read, so the server's memory stays flat whatever the upload.
_SLOTS = 2
_receiving: asyncio.Semaphore | None = None


#: How long an upload waits for a slot before it is told to retry (503, which the
#: client retries): a stalled upload cannot hold the others forever.
_WAIT_SECONDS = 120.0


class Busy(HubError):
    status = 503
    code = "Busy"


@contextlib.asynccontextmanager
async def _slots() -> AsyncIterator[None]:
    global _receiving
    if _receiving is None:
        _receiving = asyncio.Semaphore(_SLOTS)
    try:
        await asyncio.wait_for(_receiving.acquire(), _WAIT_SECONDS)
    except TimeoutError as exc:
        raise Busy("The CAS is busy with other uploads; retry.") from exc
    try:
        yield
    finally:
        _receiving.release()


class RangeNotSatisfiable(HubError):
    status = 416
    code = "RangeNotSatisfiable"


def cas_url(ctx: Ctx) -> str:
    return ctx.hub.settings.xet_cas_url or ctx.url(CAS)


# --- tokens ------------------------------------------------------------------


def token(ctx: Ctx) -> Response:
    """``xet-read-token`` / ``xet-write-token``: a CAS token for one repository and
    revision, to callers with download (resp. write) access to it."""
    scope: Scope = "write" if ctx.params["scope"] == "write" else "read"
    revision = ctx.params.get("rev") or "main"
    create_pr = flag(ctx.request.query_params.get("create_pr"))
    if create_pr and revision == "None":
        # huggingface_hub asks for ``xet-write-token/None?create_pr=1`` when a pull
        # request names no revision: its base is then the default branch.
        revision = "main"
    with ctx.hub.db.read() as session:
        if scope == "write" and (create_pr or repos.pr_number(revision) is not None):
            # A pull request: writers, and readers opening one or adding to their own.
            allowed = discussions.commit_access(session, ctx, revision, create_pr)
            repo = session.get(Repo, allowed.repo_id)
            assert repo is not None
            scope = "write" if allowed.writer else "propose"
        else:
            repo = load_repo(session, ctx, mode="write" if scope == "write" else "read")
        if scope == "read":
            access.content(session, ctx.principal, repo).at(revision)  # exists, not closed
        p = ctx.principal
        grant = Grant(
            repo.id, revision, scope, p.user_id if p else None, p.credential if p else None
        )
    value, exp = ctx.hub.xet_signer.issue(grant)
    url = cas_url(ctx)
    headers = {
        "X-Xet-Cas-Url": url,
        "X-Xet-Access-Token": value,
        "X-Xet-Token-Expiration": str(exp),
        "Cache-Control": "no-store",
    }
    return json_response({"accessToken": value, "exp": exp, "casUrl": url}, headers=headers)


def _authorize(ctx: Ctx, scope: Scope) -> tuple[Grant, Principal | None]:
    header = ctx.request.headers.get("authorization", "")
    kind, _, value = header.partition(" ")
    if kind.lower() != "bearer" or not value.strip():
        raise Unauthorized("The CAS needs a Xet token (from xet-read-token or xet-write-token).")
    grant = ctx.hub.xet_signer.verify(value.strip())
    if scope == "write" and grant.scope == "read":
        raise Forbidden("This Xet token is read-only; ask for xet-write-token.")
    with ctx.hub.db.read() as session:
        principal = None
        if grant.user_id is not None:
            principal = accounts.principal_for_credential(
                session, str(grant.credential or ""), grant.user_id, ctx.hub.clock.now()
            )
            if principal is None:
                raise Unauthorized("The hub credential behind this Xet token is no longer valid.")
        repo = session.get(Repo, grant.repo_id)
        if repo is None:
            raise Unauthorized("The repository this Xet token is for no longer exists.")
        if not grant.system:
            if scope == "read":
                require_read(session, principal, repo)
            elif grant.scope == "propose":  # still a participant (discussions.commit_access)
                require_participant(session, principal, repo)
            else:
                require_write(session, principal, repo)
    return grant, principal


def _hash_param(ctx: Ctx) -> bytes:
    raw = hashing.from_hex(ctx.params["hash"])
    if raw is None:
        raise BadRequest("A hash in a CAS path is 64 lowercase hex digits.")
    return raw


def _length(ctx: Ctx, limit: int) -> int:
    declared = ctx.request.headers.get("content-length", "")
    if not declared.isdigit():
        raise BadRequest("The CAS needs a Content-Length.")
    if int(declared) > limit:
        raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
    return int(declared)


# --- upload --------------------------------------------------------------------


async def upload_xorb(ctx: Ctx) -> Response:
    if ctx.params["prefix"] != "default":
        raise BadRequest("The only xorb prefix is 'default'.")
    expected = _hash_param(ctx)
    grant, _ = await ctx.run(lambda: _authorize(ctx, "write"))
    length = _length(ctx, xorbs.MAX_XORB_BYTES)
    async with _slots():
        return await _receive_xorb(ctx, grant, expected, length)


async def _receive_xorb(ctx: Ctx, grant: Grant, expected: bytes, length: int) -> Response:
    hub = ctx.hub
    staged = hub.blobs.stage()
    try:
        await receive_into(ctx, staged, length)

        def work() -> bool:
            parsed = xorbs.parse(_small_blocks(staged), expected)
            blob = staged.sha256()
            hub.blobs.promote(staged, blob)
            with hub.db.write() as session:
                return store.register_xorb(session, parsed, blob, grant.repo_id, grant.user_id)

        inserted = await asyncio.get_running_loop().run_in_executor(hub.io, work)
    except BaseException:
        staged.discard()
        raise
    return json_response({"was_inserted": inserted})


async def upload_shard(ctx: Ctx) -> Response:
    grant, principal = await ctx.run(lambda: _authorize(ctx, "write"))
    length = _length(ctx, shards.MAX_SHARD_BYTES)
    hub = ctx.hub
    async with _slots():
        staged = hub.blobs.stage()
        try:
            await receive_into(ctx, staged, length)
            result = await asyncio.get_running_loop().run_in_executor(
                hub.io, _register_shard, ctx, _small_blocks(staged), grant, principal
            )
        finally:
            staged.discard()
    return json_response({"result": result})


def _small_blocks(staged: StagedBlob) -> Iterator[bytes]:
    """A staged body in 1 MiB reads (``read_all`` reads 8 MiB at a time: kept small,
    the buffers of parallel uploads do not pile up in the allocator's arenas)."""
    path = getattr(staged, "path", None)
    if not isinstance(path, Path):
        yield from staged.read_all()
        return
    with open(path, "rb") as f:
        while block := f.read(1024 * 1024):
            yield block


def _register_shard(
    ctx: Ctx, blocks: Iterator[bytes], grant: Grant, principal: Principal | None
) -> int:
    """Verify every file of a shard, reconstructing each to compute its sha256, and
    only then register them all (in one transaction)."""
    hub = ctx.hub
    shard = shards.parse(blocks)
    names = {hashing.to_hex(t.xorb) for f in shard.files for t in f.terms}
    listed = {hashing.to_hex(x) for x in shard.xorbs}
    with hub.db.read() as session:
        stored = store.load_xorbs(session, names | listed)
        allowed = (
            set(stored) if grant.system else store.usable(session, principal, grant.repo_id, names)
        )
    missing = sorted(listed - set(stored))
    if missing:
        raise store.BadFile(f"The shard lists xorb {missing[0]}, which was not uploaded.")
    with hub.db.read() as session:
        known = store.known_files(session, [hashing.to_hex(f.hash) for f in shard.files])
    checked = []
    for entry in shard.files:
        size = store.check_file(entry, stored, allowed, hub.settings.max_file_bytes)
        # A file hash names one sequence of chunks, hence one content: a file the hub
        # reconstructed and hashed before is not read again.
        sha256 = known.get(hashing.to_hex(entry.hash)) or store.file_sha256(
            hub.blobs, stored, entry.terms
        )
        # The metadata extension holds the sha256 as a hash field: 8-byte groups reversed.
        claimed = hashing.to_hex(entry.sha256) if entry.sha256 is not None else sha256
        if claimed != sha256:
            raise store.BadFile(
                f"File {hashing.to_hex(entry.hash)} has sha256 {sha256}, not the "
                f"{claimed} the shard claims."
            )
        checked.append((entry, sha256, size))
    new = False
    with hub.db.write() as session:
        for entry, sha256, size in checked:
            new = store.register_file(session, entry, sha256, size, grant.repo_id, stored) or new
    return 1 if new else 0


# --- dedup -------------------------------------------------------------------------


def dedup_query(ctx: Ctx) -> Response:
    if ctx.params["prefix"] not in ("default", "default-merkledb"):
        raise BadRequest("The dedup prefix is 'default-merkledb'.")
    chunk = hashing.to_hex(_hash_param(ctx))
    grant, principal = _authorize(ctx, "read")
    with ctx.hub.db.read() as session:
        candidates = list(
            session.scalars(select(XetDedup.xorb).where(XetDedup.chunk == chunk).limit(64))
        )
        allowed = (
            set(candidates)
            if grant.system
            else store.usable(session, principal, grant.repo_id, candidates)
        )
        stored = store.load_xorbs(session, sorted(allowed)[: 2 * store.DEDUP_WINDOW])
    if not stored:
        raise NotFound("No chunk like this that you may build on.")
    key = secrets.token_bytes(32)
    answer = [
        (
            hashing.from_hex(x) or b"",
            [xorbs.Chunk(hashing.keyed(c.hash, key), c.offset, c.size) for c in stored[x].chunks],
        )
        for x in sorted(stored)
    ]
    body = shards.dedup_answer(answer, key, ctx.hub.settings.xet_token_ttl_seconds)
    return Response(body, media_type="application/octet-stream")


# --- download --------------------------------------------------------------------


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``bytes=a-b``, ``bytes=a-`` or ``bytes=-n`` as [start, end); None if absent."""
    if not header:
        return None
    unit, _, spec = header.replace(" ", "").partition("=")
    first, sep, last = spec.partition("-")
    if unit != "bytes" or not sep or "," in spec:
        raise BadRequest(f"Unsupported Range {header!r}.")
    try:
        if first == "":
            n = int(last)
            return max(size - n, 0), size
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError as exc:
        raise BadRequest(f"Unsupported Range {header!r}.") from exc
    if start >= size or end <= start:
        raise RangeNotSatisfiable(
            f"Range {header!r} is outside the file's {size} bytes.",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return start, min(end, size)


def _may_reconstruct(
    session: Any, cache: Any, principal: Principal | None, grant: Grant, row: XetFile
) -> None:
    """The token's repository holds the file, and the caller may download it at the
    token's revision (every file, or a path at that revision with these bytes)."""
    repo = session.get(Repo, grant.repo_id)
    held = session.get(RepoLfsObject, (grant.repo_id, row.sha256))
    gone = EntryNotFound("No such file in this repository.")
    if repo is None or held is None:
        raise gone
    content = access.content(session, principal, repo)
    if content.may_download_all():
        return
    view = content.at(grant.revision)
    reader = TreeReader(session, cache)
    files = [
        (p, e) for p, e in reader.walk(view.commit.tree_oid, "", recursive=True) if not e.is_dir
    ]
    refusal: HubError = gone
    for i in range(0, len(files), 500):
        for info in reader.describe(files[i : i + 500]):
            if isinstance(info, FileInfo) and info.sha256 == row.sha256:
                if view.downloadable(info.path):
                    return
                try:
                    view.require_download(info.path)
                except HubError as exc:
                    refusal = exc
    raise refusal


#: One fetch entry: a chunk range ``[first, stop)`` of a xorb, its bytes ``a..z``
#: (inclusive) in the xorb's serialisation, and the URL token signed for them.
_Fetch = tuple[int, int, int, int, str]


def _plan(ctx: Ctx) -> tuple[int, list[dict[str, Any]], dict[str, list[_Fetch]]]:
    """A reconstruction of the file (or of its ``Range``): the offset into the first
    term, the terms, and per xorb its disjoint chunk ranges with their signed URLs."""
    file_id = hashing.to_hex(_hash_param(ctx))
    grant, principal = _authorize(ctx, "read")
    with ctx.hub.db.read() as session:
        row = session.get(XetFile, file_id)
        if row is None:
            raise EntryNotFound("No such file in this repository.")
        _may_reconstruct(session, ctx.hub.tree_cache, principal, grant, row)
        terms = store.unpack_terms(row.terms)
        stored = store.load_xorbs(session, {hashing.to_hex(t.xorb) for t in terms})
        size = row.size
    rng = parse_range(ctx.request.headers.get("range", ""), size) or (0, size)
    out_terms: list[dict[str, Any]] = []
    wanted: dict[str, list[tuple[int, int]]] = {}
    offset_into_first = 0
    position = 0
    for term in terms:
        if position >= rng[1]:
            break
        name = hashing.to_hex(term.xorb)
        xorb = stored[name]
        first, last = term.start, term.end
        p = position
        while first < last and p + xorb.chunks[first].size <= rng[0]:
            p += xorb.chunks[first].size
            first += 1
        if first == last:
            position += term.unpacked
            continue
        if not out_terms:
            offset_into_first = rng[0] - p
        q, stop = p, first
        while stop < last and q < rng[1]:
            q += xorb.chunks[stop].size
            stop += 1
        out_terms.append(
            {"hash": name, "unpacked_length": q - p, "range": {"start": first, "end": stop}}
        )
        wanted.setdefault(name, []).append((first, stop))
        position += term.unpacked
    # One fetch entry per disjoint chunk range of each xorb: terms that repeat a chunk
    # (a file whose content repeats) or overlap share one entry, which contains each of
    # their ranges, as the client looks a term's bytes up by the entry holding its range.
    fetch: dict[str, list[_Fetch]] = {}
    for name, ranges in wanted.items():
        xorb = stored[name]
        for first, stop in _merged(ranges):
            a, b = xorb.byte_range(first, stop)
            token = ctx.hub.xet_signer.sign_range(xorb.blob, a, b - 1)
            fetch.setdefault(name, []).append((first, stop, a, b - 1, token))
    return max(offset_into_first, 0), out_terms, fetch


def reconstruction(ctx: Ctx) -> Response:
    """``GET /v1/reconstructions/{file}``: per xorb range, its URL and byte range."""
    offset, terms, fetch = _plan(ctx)
    fetch_info = {
        name: [
            {
                "range": {"start": first, "end": stop},
                "url": ctx.url(f"{CAS}/xorb/{token}"),
                "url_range": {"start": a, "end": z},
            }
            for first, stop, a, z, token in ranges
        ]
        for name, ranges in fetch.items()
    }
    return json_response(
        {"offset_into_first_range": offset, "terms": terms, "fetch_info": fetch_info}
    )


def reconstruction_v2(ctx: Ctx) -> Response:
    """``GET /v2/reconstructions/{file}``, which ``hf_xet`` asks first: the same terms,
    fetch entries grouped per xorb, each URL for one byte range (a single-range 206;
    the multi-range form, one URL for several ranges, is not offered)."""
    offset, terms, fetch = _plan(ctx)
    xorbs = {
        name: [
            {
                "url": ctx.url(f"{CAS}/xorb/{token}"),
                "ranges": [
                    {"chunks": {"start": first, "end": stop}, "bytes": {"start": a, "end": z}}
                ],
            }
            for first, stop, a, z, token in ranges
        ]
        for name, ranges in fetch.items()
    }
    return json_response({"offset_into_first_range": offset, "terms": terms, "xorbs": xorbs})


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Chunk ranges ``[start, end)`` merged where they overlap or touch, sorted."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def stored_file(session: Any, sha256: str) -> XetFile | None:
    """The Xet file holding these bytes, if any (its sha256 was computed here)."""
    return store.file_by_sha256(session, sha256)


def with_hashes(session: Any, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tree and paths-info entries of Xet-stored files carry ``xetHash``, so that the
    Xet client downloads them through the CAS without asking resolve first."""
    wanted = sorted({d["lfs"]["oid"] for d in docs if "lfs" in d})
    found: dict[str, str] = {}
    for i in range(0, len(wanted), 500):
        rows = session.execute(
            select(XetFile.sha256, XetFile.hash).where(XetFile.sha256.in_(wanted[i : i + 500]))
        )
        found.update({sha: h for sha, h in rows})
    for d in docs:
        if "lfs" in d and d["lfs"]["oid"] in found:
            d["xetHash"] = found[d["lfs"]["oid"]]
    return docs


def download_headers(ctx: Ctx, row: XetFile, commit: str) -> dict[str, str]:
    """What makes a Xet client download through the CAS: the file hash and where to
    get a read token (for the resolved commit)."""
    p = ctx.params.get("p") or ""
    kind = {"datasets/": "datasets", "spaces/": "spaces"}.get(p, "models")
    route = f"/api/{kind}/{ctx.params['ns']}/{ctx.params['name']}/xet-read-token/{commit}"
    return {
        "X-Xet-Hash": row.hash,
        "X-Xet-Refresh-Route": route,
        "Link": f'<{ctx.url(route)}>; rel="xet-auth"',
    }


def xorb_range(ctx: Ctx) -> Response:
    """Bytes of a stored xorb, exactly the range the URL was signed for."""
    claims = ctx.hub.xet_signer.verify_range(ctx.params["token"])
    start, end = int(claims["a"]), int(claims["z"])
    if ctx.request.headers.get("range", "").replace(" ", "") != f"bytes={start}-{end}":
        raise Forbidden("Send the Range header this URL was issued for.")
    blob = str(claims["b"])
    size = ctx.hub.blobs.size(blob)
    if size is None or end >= size:
        raise NotFound("This xorb is gone.")
    blobs = ctx.hub.blobs

    def body() -> Iterator[bytes]:
        # A ranged read (an object store's reader cannot seek), in small blocks.
        yield from blobs.read_range(blob, start, end, store.READ_BLOCK)

    headers = {
        "Content-Range": f"bytes {start}-{end}/{size}",
        "Content-Length": str(end - start + 1),
        "Accept-Ranges": "bytes",
    }
    return StreamingResponse(
        body() if ctx.request.method == "GET" else iter(()),
        status_code=206,
        headers=headers,
        media_type="application/octet-stream",
    )


def add_routes(r: Router, api: str) -> None:
    r.add("GET", f"{api}/xet-(?P<scope>read|write)-token/(?P<rev>.*)", token)
    r.add("GET", f"{api}/xet-(?P<scope>read|write)-token", token)
    h = "(?P<hash>[^/]+)"
    r.add("POST", f"{CAS}/v1/xorbs/(?P<prefix>[^/]+)/{h}", upload_xorb, self_auth=True)
    r.add("POST", f"{CAS}/v1/shards", upload_shard, self_auth=True)
    r.add("GET", f"{CAS}/v1/chunks/(?P<prefix>[^/]+)/{h}", dedup_query, self_auth=True)
    r.add("GET", f"{CAS}/v1/reconstructions/{h}", reconstruction, self_auth=True)
    r.add("GET", f"{CAS}/v2/reconstructions/{h}", reconstruction_v2, self_auth=True)
    r.add("GET", f"{CAS}/xorb/(?P<token>[^/]+)", xorb_range, self_auth=True)
