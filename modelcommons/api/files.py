"""Reading files: tree listings, paths-info and the resolve (download) endpoint."""

from __future__ import annotations

import mimetypes
from typing import Any
from urllib.parse import parse_qs

from sqlalchemy import update
from sqlalchemy.orm import Session
from starlette.responses import Response

from .. import audit
from ..db.schema import Repo, XetFile
from ..errors import BadRequest, ContentUnavailable, EntryNotFound
from ..governance import access
from ..server.responses import iso, json_response
from ..server.routing import Ctx
from ..storage import repos
from ..storage.trees import DirInfo, Entry, FileInfo, TreeReader
from . import blobserve, security, xet
from .common import flag, load_repo, next_cursor, read_body, read_json, read_page

EXPANDED_PAGE = 50
TEXT_TYPES = ("text/", "application/json", "application/x-yaml", "application/yaml")


def entry_json(entry: Entry) -> dict[str, Any]:
    if isinstance(entry, DirInfo):
        return {"type": "directory", "oid": entry.oid, "path": entry.path}
    doc: dict[str, Any] = {"type": "file", "oid": entry.oid, "size": entry.size, "path": entry.path}
    if entry.lfs:
        doc["lfs"] = {"oid": entry.sha256, "size": entry.size, "pointerSize": entry.pointer_size}
    return doc


def add_last_commits(
    session: Session,
    reader: TreeReader,
    repo: Repo,
    sha: str,
    entries: list[Entry],
    docs: list[dict[str, Any]],
) -> None:
    """``expand=true``: each entry's ``lastCommit``, the newest commit that changed it."""
    last = repos.last_changes(session, reader, repo, sha, {e.path: e.oid for e in entries})
    for doc in docs:
        c = last.get(doc["path"])
        if c is not None:
            doc["lastCommit"] = {"id": c.oid, "title": c.title, "date": iso(c.created_at)}


def tree(ctx: Ctx) -> Response:
    q = ctx.request.query_params
    recursive, expand = flag(q.get("recursive")), flag(q.get("expand"))
    path = ctx.params.get("path", "").strip("/")
    page = EXPANDED_PAGE if expand else ctx.hub.settings.page_size
    offset, _ = read_page(ctx, page)
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx)
        view = access.content(session, ctx.principal, repo).at(ctx.params["rev"])
        sha = view.sha
        reader = TreeReader(session, ctx.hub.tree_cache)
        node = view.folder(reader, path)
        if node is None:
            raise EntryNotFound(
                f"Entry not found: {path!r} is not a folder at {sha}",
                headers={"X-Repo-Commit": sha},
            )
        prefix = f"{path}/" if path else ""
        walked = view.listed(reader, reader.walk(node.oid, prefix, recursive=recursive))
        items = []
        for i, item in enumerate(walked):
            if i >= offset + page + 1:
                break
            if i >= offset:
                items.append(item)
        entries = reader.describe(items[:page])
        docs = xet.with_hashes(session, [entry_json(e) for e in entries])
        if expand:
            add_last_commits(session, reader, repo, sha, entries, docs)
            security.add_file_status(session, repo, sha, zip(docs, entries, strict=True))
    headers = next_cursor(ctx, offset + page) if len(items) > page else {}
    return json_response(docs, headers=headers)


async def paths_info(ctx: Ctx) -> Response:
    if ctx.request.headers.get("content-type", "").startswith("application/json"):
        body = await read_json(ctx)
        if not isinstance(body.get("paths", []), list):
            raise BadRequest('The body must be {"paths": [...]}.')
        paths = [str(p) for p in body.get("paths", [])]
        expand = flag(str(body.get("expand", "")))
    else:
        raw = await read_body(ctx)
        form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        paths = form.get("paths", [])
        expand = flag((form.get("expand") or [""])[-1])
    if len(paths) > 10_000:
        raise BadRequest("Ask for at most 10000 paths at a time.")

    def work() -> Response:
        with ctx.hub.db.read() as session:
            repo = load_repo(session, ctx)
            view = access.content(session, ctx.principal, repo).at(ctx.params["rev"])
            reader = TreeReader(session, ctx.hub.tree_cache)
            wanted = []
            for p in dict.fromkeys(x.strip("/") for x in paths):
                entry = reader.find(view.commit.tree_oid, p) if p else None
                if entry is not None:
                    wanted.append((p, entry))
            entries = reader.describe(list(view.listed(reader, wanted)))
            docs = [entry_json(e) for e in entries]
            if expand and entries:
                add_last_commits(session, reader, repo, view.sha, entries, docs)
                security.add_file_status(session, repo, view.sha, zip(docs, entries, strict=True))
            return json_response(xet.with_hashes(session, docs))

    return await ctx.run(work)


def _content_type(path: str) -> str:
    guessed, _ = mimetypes.guess_type(path)
    if path.endswith((".md", ".txt", ".csv", ".jsonl", ".yaml", ".yml", ".py", ".json")) or (
        guessed and guessed.startswith(TEXT_TYPES)
    ):
        # Never text/html or image/svg+xml: user files must not run in our origin.
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


async def resolve(ctx: Ctx) -> Response:
    method = ctx.request.method

    def lookup() -> tuple[int, str, FileInfo, bool, XetFile | None]:
        with ctx.hub.db.read() as session:
            repo = load_repo(session, ctx)
            view = access.content(session, ctx.principal, repo).at(ctx.params["rev"])
            # Asked before the file is looked up: a refusal says nothing of whether it exists.
            gated = view.require_download(ctx.params["path"])
            tree = view.commit.tree_oid
            info = TreeReader(session, ctx.hub.tree_cache).file(tree, ctx.params["path"])
            if info is None:
                raise EntryNotFound(
                    f"Entry not found: {ctx.params['path']}", headers={"X-Repo-Commit": view.sha}
                )
            held = xet.stored_file(session, info.sha256) if info.lfs else None
            if held is None and not ctx.hub.blobs.exists(info.sha256):
                raise ContentUnavailable(info.path)  # quarantined by fsck, or lost
            return repo.id, view.sha, info, gated, held

    repo_id, sha, info, gated, held = await ctx.run(lookup)
    filename = info.path.rsplit("/", 1)[-1]
    headers = {
        "X-Repo-Commit": sha,
        "ETag": f'"{info.etag}"',
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=0"
        if ctx.params["rev"] != sha
        else "private, max-age=31536000, immutable",
    }
    if info.lfs:
        headers["X-Linked-Etag"] = f'"{info.sha256}"'
        headers["X-Linked-Size"] = str(info.size)
    if held is not None:
        headers.update(xet.download_headers(ctx, held, sha))
    rng = ctx.request.headers.get("range", "")
    if method == "GET" and (not rng or rng.replace(" ", "").startswith("bytes=0-")):
        await ctx.run(lambda: _count_download(ctx, repo_id, (sha, info.path) if gated else None))
    disposition = "attachment" if flag(ctx.request.query_params.get("download")) else "inline"
    # As the Hugging Face Hub: LFS files go to the CDN, the rest is served (and files
    # held as Xet chunks, which no one URL of the store holds).
    if info.lfs and held is None:
        where = filename if disposition == "attachment" else None
        moved = blobserve.redirect(ctx, info.sha256, headers, where)
        if moved is not None:
            return moved
    return blobserve.send_blob(
        ctx,
        info.sha256,
        info.size,
        headers=headers,
        media_type=_content_type(info.path),
        filename=filename,
        disposition=disposition,
    )


def _count_download(ctx: Ctx, repo_id: int, gated: tuple[str, str] | None = None) -> None:
    """Count a download; a gated or staged file fetched by someone outside the
    repository's namespace (through an access request or a released stage) is
    also audited. Anonymous downloads of publicly released stages have no actor."""
    with ctx.hub.db.write() as session:
        session.execute(update(Repo).where(Repo.id == repo_id).values(downloads=Repo.downloads + 1))
        if gated is not None:
            repo = session.get(Repo, repo_id)
            assert repo is not None
            name = ctx.principal.name if ctx.principal else None
            ctx.hub.audit.record(session, audit.gated_download(repo, name, gated[1], gated[0]))
