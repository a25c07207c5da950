"""A repository's LFS files through the client's ``list_lfs_files`` and
``permanently_delete_lfs_files`` (rules: :mod:`modelcommons.storage.lfs_files`)."""

from __future__ import annotations

import time

from starlette.responses import Response

from .. import audit
from ..errors import BadRequest
from ..server.responses import json_response
from ..server.routing import Ctx
from ..storage import lfs_files
from ..storage.commits import CommitRequest, DeleteFile
from ..storage.trees import TreeReader
from .common import load_repo, read_json


def list_files(ctx: Ctx) -> Response:
    """Writers see what the repository stores (its storage, as on the Hub's settings)."""
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx, mode="write")
        reader = TreeReader(session, ctx.hub.tree_cache)
        return json_response(lfs_files.list_files(session, reader, repo))


async def delete_files(ctx: Ctx) -> Response:
    body = await read_json(ctx)
    deletions = body.get("deletions")
    shas = deletions.get("sha") if isinstance(deletions, dict) else None
    if not isinstance(shas, list) or not all(isinstance(s, str) for s in shas):
        raise BadRequest('The body must be {"deletions": {"sha": [...]}}.')
    if len(shas) > 1000:
        raise BadRequest("Delete at most 1000 LFS files at a time.")
    rewrite = deletions.get("rewriteHistory", True) is not False  # type: ignore[union-attr]

    def work() -> Response:
        since = time.time()
        with ctx.hub.db.write() as session:
            repo = load_repo(session, ctx, mode="admin")
            assert ctx.principal is not None
            removed, kept = lfs_files.purge(
                session, repo, [s.lower() for s in shas], ctx.principal.name
            )
            if removed or kept:
                ctx.hub.audit.record(
                    session,
                    audit.LfsFilesPurged.of(
                        repo, ctx.principal.name, removed=len(removed), kept=len(kept)
                    ),
                )
            held = (
                lfs_files.held_by_branches(
                    session, TreeReader(session, ctx.hub.tree_cache), repo, set(removed + kept)
                )
                if rewrite
                else {}
            )
            repo_pk, actor = repo.id, ctx.principal.name
        for branch, paths in held.items():
            summary = f"Permanently delete {len(paths)} LFS file(s)"
            operations = [DeleteFile(p) for p in paths]
            ctx.hub.committer.commit(repo_pk, branch, actor, CommitRequest(summary, "", operations))
        lfs_files.remove_bytes(ctx.hub.blobs, removed, since)
        return json_response({"deleted": removed, "keptShared": kept})

    return await ctx.run(work)
