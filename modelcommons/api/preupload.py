"""Preupload: how the client should send each file, and which ones it need not send.

For each path the answer has an ``uploadMode`` and, when the revision already holds
the path, its ``oid`` in the form that mode compares: the client hashes a ``regular``
file as a git blob (sha-1 of ``blob <size>\\0<bytes>``) and an ``lfs`` one by sha256,
and skips the file when the two agree, so the oid must follow the mode answered, not
how the hub stores the file. ``shouldIgnore`` follows the ``.gitignore`` the client
sends with the commit, else the one committed at the revision.

Modes: ``lfs`` above ``regular_upload_max_bytes``; with ``lfs_by_pattern`` (on by
default, as on the Hugging Face Hub) also for a non-empty file that the revision's
``.gitattributes`` sends to LFS or that is stored as LFS there. A stock client with
``hf_xet`` sends ``lfs``-mode files through Xet, without it through Git LFS.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from starlette.responses import Response

from ..db.schema import Commit, Repo
from ..errors import BadRequest, HubError, PayloadTooLarge, Unprocessable
from ..server.responses import json_response
from ..server.routing import Ctx
from ..storage import gitattributes, repos
from ..storage.gitobjects import blob_hasher
from ..storage.trees import FileInfo, TreeReader
from ..validation.inputs import json_int
from ..validation.names import check_path
from . import discussions
from .common import flag, read_json

#: Largest LFS-stored file whose git blob id is computed for a ``regular`` answer;
#: above it no oid is given and the client sends the file again.
GIT_OID_MAX_BYTES = 64 * 1024 * 1024
#: Largest ``.gitignore`` / ``.gitattributes`` read from the repository.
SMALL_TEXT_BYTES = 1024 * 1024


def ignore_patterns(text: str) -> list[str]:
    """The patterns of a ``.gitignore`` (negations are not supported and skipped)."""
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith(("#", "!"))]


def ignored(patterns: list[str], path: str) -> bool:
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


class _Revision:
    """What preupload reads of the revision: its files, LFS patterns and .gitignore."""

    def __init__(self, ctx: Ctx, reader: TreeReader, tree: str | None) -> None:
        self.ctx, self.reader, self.tree = ctx, reader, tree

    def file(self, path: str) -> FileInfo | None:
        return self.reader.file(self.tree, path) if self.tree else None

    def text(self, path: str) -> str:
        info = self.file(path)
        blobs = self.ctx.hub.blobs
        if info is None or info.size > SMALL_TEXT_BYTES or not blobs.exists(info.sha256):
            return ""
        with self.ctx.hub.blobs.open(info.sha256) as f:
            return bytes(f.read(SMALL_TEXT_BYTES)).decode("utf-8", "replace")

    def git_oid(self, info: FileInfo) -> str | None:
        """The git blob id of an LFS-stored file's bytes, streamed from the store."""
        if info.size > GIT_OID_MAX_BYTES:
            return None
        h = blob_hasher(info.size)
        with self.ctx.hub.blobs.open(info.sha256) as f:
            while chunk := f.read(1024 * 1024):
                h.update(chunk)
        return h.hexdigest()


def _answer(rev: _Revision, path: str, size: int, lfs: bool, ignore: list[str]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "path": path,
        "uploadMode": "lfs" if lfs else "regular",
        "shouldIgnore": ignored(ignore, path),
    }
    current = rev.file(path)
    # No oid for bytes the store lost (quarantined): the client uploads them again.
    if current is None or not rev.ctx.hub.blobs.exists(current.sha256):
        return item
    if lfs:
        item["oid"] = current.sha256
    elif not current.lfs:
        item["oid"] = current.oid
    else:
        oid = rev.git_oid(current)
        if oid is not None:
            item["oid"] = oid
    return item


async def preupload(ctx: Ctx) -> Response:
    body = await read_json(ctx)
    files = body.get("files")
    if not isinstance(files, list):
        raise BadRequest("The body must list 'files'.")
    sent_ignore = body.get("gitIgnore")
    settings = ctx.hub.settings
    create_pr = flag(ctx.request.query_params.get("create_pr"))

    def work() -> Response:
        with ctx.hub.db.read() as session:
            # Writers, and readers opening or updating their own pull request.
            allowed = discussions.commit_access(session, ctx, ctx.params["rev"], create_pr)
            repo = session.get(Repo, allowed.repo_id)
            assert repo is not None
            try:
                sha: str | None = repos.resolve(session, repo, ctx.params["rev"])
            except HubError:
                sha = None  # a branch the commit will need first; answer modes anyway
            commit = session.get(Commit, (repo.id, sha)) if sha else None
            tree = commit.tree_oid if commit else None
            rev = _Revision(ctx, TreeReader(session, ctx.hub.tree_cache), tree)
            ignore = ignore_patterns(
                str(sent_ignore) if sent_ignore is not None else rev.text(".gitignore")
            )
            patterns = (
                gitattributes.lfs_patterns(rev.text(".gitattributes"))
                if settings.lfs_by_pattern
                else []
            )
            out = []
            for f in files:
                if not isinstance(f, dict) or not isinstance(f.get("path"), str):
                    raise BadRequest("Each file needs a 'path'.")
                try:
                    path = check_path(f["path"], settings.max_path_length)
                except BadRequest as exc:  # the Hub's status for a path it refuses here
                    raise Unprocessable(exc.message) from None
                size = json_int(f.get("size", 0), f"The 'size' of {path!r}")
                if size > settings.max_file_bytes:
                    raise PayloadTooLarge(
                        f"{path!r} is {size} bytes; the limit is {settings.max_file_bytes}."
                    )
                lfs = size > settings.regular_upload_max_bytes
                if settings.lfs_by_pattern and size > 0 and not lfs:
                    stored = rev.file(path)
                    lfs = gitattributes.matches(patterns, path) or bool(stored and stored.lfs)
                out.append(_answer(rev, path, size, lfs, ignore))
            return json_response({"files": out, "commitOid": sha})

    return await ctx.run(work)
