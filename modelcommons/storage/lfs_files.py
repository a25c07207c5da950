"""A repository's LFS files: listed, and deleted for good (``list_lfs_files``,
``permanently_delete_lfs_files``).

Listing: every LFS object linked to the repository (``repo_lfs_objects``), named by
the path and ref where a branch or tag head holds it (``main`` first), else unnamed.

Deleting respects what the store promises other repositories: the link goes (the
repository no longer lists, offers or accepts the object without its bytes), and the
bytes go only when nothing else holds them: no other repository links the object and
no regular file anywhere has the same bytes. Shared bytes stay, and with them the
files of this repository's commits that point at them. Unshared, the repository's
pointers to them answer 410 from then on. Each deletion is recorded
(``purged_lfs_objects``) so that ``commons fsck`` does not report the bytes missing.
Commits are never rewritten: with ``rewriteHistory`` (the client's default) each
branch whose head holds such a file gets a new commit that deletes it, so the files
leave the branches; older commits keep their pointers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from ..db.schema import Commit, FileBlob, LfsObject, PurgedLfsObject, Repo, RepoLfsObject
from ..db.sqlutil import insert_ignore
from . import repos
from .trees import FileInfo, TreeReader

if TYPE_CHECKING:
    from .blobs import BlobStore


def _named(session: Session, reader: TreeReader, repo: Repo) -> dict[str, tuple[str, str, str]]:
    """sha256 -> (path, ref, pointer blob id) of LFS files at the heads of refs."""
    refs = sorted(
        repos.list_refs(session, repo),
        key=lambda r: (r.name != repos.DEFAULT_BRANCH, r.kind != "branch", r.name),
    )
    found: dict[str, tuple[str, str, str]] = {}
    for ref in refs:
        head = session.get(Commit, (repo.id, ref.target))
        if head is None:
            continue
        files = [(p, e) for p, e in reader.walk(head.tree_oid, "", recursive=True) if not e.is_dir]
        name = ref.name if ref.kind == "branch" else f"refs/tags/{ref.name}"
        for info in reader.describe(files):
            if isinstance(info, FileInfo) and info.lfs:
                found.setdefault(info.sha256, (info.path, name, info.oid))
    return found


def held_by_branches(
    session: Session, reader: TreeReader, repo: Repo, oids: set[str]
) -> dict[str, list[str]]:
    """branch -> paths of its head's LFS files whose object is one of ``oids``."""
    out: dict[str, list[str]] = {}
    for ref in repos.list_refs(session, repo):
        head = session.get(Commit, (repo.id, ref.target)) if ref.kind == "branch" else None
        if head is None:
            continue
        files = [(p, e) for p, e in reader.walk(head.tree_oid, "", recursive=True) if not e.is_dir]
        paths = [
            info.path
            for info in reader.describe(files)
            if isinstance(info, FileInfo) and info.lfs and info.sha256 in oids
        ]
        if paths:
            out[ref.name] = paths
    return out


def list_files(session: Session, reader: TreeReader, repo: Repo) -> list[dict[str, Any]]:
    rows = session.execute(
        select(LfsObject)
        .join(RepoLfsObject, RepoLfsObject.oid == LfsObject.oid)
        .where(RepoLfsObject.repo_id == repo.id)
        .order_by(LfsObject.created_at, LfsObject.oid)
    ).scalars()
    named = _named(session, reader, repo)
    out = []
    for obj in rows:
        path, ref, pointer = named.get(obj.oid, ("", None, ""))
        out.append(
            {
                "fileOid": obj.oid,
                "filename": path,
                "oid": pointer,
                "ref": ref,
                "size": obj.size,
                "pushedAt": obj.created_at.isoformat() + "Z",
            }
        )
    return out


def _shared(session: Session, repo: Repo, oid: str) -> bool:
    linked_elsewhere = exists().where(RepoLfsObject.oid == oid, RepoLfsObject.repo_id != repo.id)
    regular_copy = exists().where(FileBlob.sha256 == oid, FileBlob.lfs.is_(False))
    return bool(session.scalar(select(linked_elsewhere | regular_copy)))


def purge(session: Session, repo: Repo, oids: list[str], actor: str) -> tuple[list[str], list[str]]:
    """Unlink these LFS objects from the repository and record it; returns (bytes to
    remove, bytes kept because shared), for :func:`remove_bytes` once committed.
    Objects not linked to the repository are left alone."""
    linked = set(
        session.scalars(
            select(RepoLfsObject.oid).where(
                RepoLfsObject.repo_id == repo.id, RepoLfsObject.oid.in_(oids)
            )
        )
    )
    removed, kept = [], []
    for oid in sorted(linked):
        session.execute(
            delete(RepoLfsObject).where(RepoLfsObject.repo_id == repo.id, RepoLfsObject.oid == oid)
        )
        insert_ignore(
            session, PurgedLfsObject, [{"repo_id": repo.id, "oid": oid, "purged_by": actor}]
        )
        if _shared(session, repo, oid):
            kept.append(oid)
        else:
            removed.append(oid)
    return removed, kept


def remove_bytes(blobs: BlobStore, oids: list[str], since: float) -> None:
    """After the transaction of :func:`purge` committed: the unshared bytes go. An
    upload of the same bytes since ``since`` refreshed the blob and keeps it."""
    for oid in oids:
        blobs.remove_if_older(oid, since)
