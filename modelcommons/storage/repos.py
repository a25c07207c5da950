"""Repositories: lifecycle, refs, revisions and history."""

from __future__ import annotations

import dataclasses
import heapq
import json
import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ..clock import utcnow
from ..db.schema import Commit, Ref, Repo, RepoLfsObject, RepoRedirect
from ..errors import Conflict, RepoNotFound, RevisionNotFound
from ..validation.names import check_name, check_ref_name
from .trees import TreeReader

_SHA1 = re.compile(r"^[0-9a-f]{40}$")
DEFAULT_BRANCH = "main"
#: A pull request's ref: ``refs/pr/<n>`` is the ``refs`` row of kind "pr" named ``n``.
PR_PREFIX = "refs/pr/"
_PR_REF = re.compile(r"^refs/pr/([1-9][0-9]{0,8})$")
_REF_PREFIXES = {"branch": "refs/heads/", "tag": "refs/tags/", "pr": PR_PREFIX}


def full_ref(kind: str, name: str) -> str:
    """A ref as git names it: ``refs/heads/main``, ``refs/tags/v1``, ``refs/pr/3``."""
    return _REF_PREFIXES[kind] + name


def pr_number(revision: str) -> int | None:
    """N for ``refs/pr/N``, else None."""
    match = _PR_REF.match(revision)
    return int(match.group(1)) if match else None


def commit_target(revision: str) -> tuple[str, str]:
    """The ref a commit to ``revision`` moves, as (kind, name): ``refs/pr/N`` is a pull
    request's ref, ``refs/heads/X`` and anything else a branch."""
    number = pr_number(revision)
    if number is not None:
        return "pr", str(number)
    return "branch", revision.removeprefix("refs/heads/")


def get_repo(session: Session, kind: str, namespace: str, name: str) -> Repo:
    """The repository with this id, whatever its letter case (as on the Hugging Face
    Hub: ``Alice/Model`` is ``alice/model``). An id the repository had before it was
    moved raises :class:`RepoMoved`, a :class:`RepoNotFound` that names the repository
    now: only a caller who may see it is told (``api.common.load_repo``)."""
    repo = session.scalar(
        select(Repo).where(Repo.kind == kind, Repo.namespace == namespace, Repo.name == name)
    )
    if repo is None:
        repo = find_clash(session, kind, namespace, name)
    if repo is None:
        target = session.scalar(
            select(Repo)
            .join(RepoRedirect, RepoRedirect.repo_id == Repo.id)
            .where(
                RepoRedirect.kind == kind,
                func.lower(RepoRedirect.namespace) == namespace.lower(),
                func.lower(RepoRedirect.name) == name.lower(),
            )
        )
        if target is not None:
            raise RepoMoved(f"{namespace}/{name}", target)
        raise RepoNotFound(f"{namespace}/{name}")
    return repo


class RepoMoved(RepoNotFound):
    """An old id of a moved repository: not found, unless the caller may see ``target``."""

    def __init__(self, asked: str, target: Repo) -> None:
        super().__init__(asked)
        self.target = target


def find_clash(
    session: Session, kind: str, namespace: str, name: str, *, moving: Repo | None = None
) -> Repo | None:
    """The repository that holds this name, ignoring letter case (but ``moving``)."""
    query = select(Repo).where(
        Repo.kind == kind,
        func.lower(Repo.namespace) == namespace.lower(),
        func.lower(Repo.name) == name.lower(),
    )
    if moving is not None:
        query = query.where(Repo.id != moving.id)
    return session.scalars(query.limit(1)).first()


def _taken(kind: str, namespace: str, name: str) -> Conflict:
    # Only what the caller asked for: lifecycle._name_free has already told a caller
    # who may read the holder which repository it is.
    return Conflict(f"The {kind} repository name {namespace}/{name} is taken (ignoring case).")


def new_repo(
    session: Session, kind: str, namespace: str, name: str, owner_id: int, *, private: bool
) -> Repo:
    check_name(name, "repository name")
    if find_clash(session, kind, namespace, name) is not None:
        raise _taken(kind, namespace, name)
    repo = Repo(kind=kind, namespace=namespace, name=name, owner_id=owner_id, private=private)
    session.add(repo)
    session.flush()
    return repo


def delete_repo(session: Session, repo: Repo) -> None:
    # Blobs stay in the store: they are content-addressed and may be shared.
    session.execute(delete(Ref).where(Ref.repo_id == repo.id))
    session.execute(delete(Commit).where(Commit.repo_id == repo.id))
    session.execute(delete(RepoLfsObject).where(RepoLfsObject.repo_id == repo.id))
    session.execute(delete(RepoRedirect).where(RepoRedirect.repo_id == repo.id))
    session.delete(repo)


def move_repo(session: Session, repo: Repo, namespace: str, name: str) -> None:
    check_name(namespace, "namespace")
    check_name(name, "repository name")
    if find_clash(session, repo.kind, namespace, name, moving=repo) is not None:
        raise _taken(repo.kind, namespace, name)
    # The old id redirects here from now on; the new one no longer redirects anywhere.
    for ns, n in ((repo.namespace, repo.name), (namespace, name)):
        session.execute(
            delete(RepoRedirect).where(
                RepoRedirect.kind == repo.kind,
                func.lower(RepoRedirect.namespace) == ns.lower(),
                func.lower(RepoRedirect.name) == n.lower(),
            )
        )
    if (repo.namespace.lower(), repo.name.lower()) != (namespace.lower(), name.lower()):
        session.add(
            RepoRedirect(kind=repo.kind, namespace=repo.namespace, name=repo.name, repo_id=repo.id)
        )
    repo.namespace, repo.name = namespace, name
    repo.updated_at = utcnow()


def get_ref(session: Session, repo: Repo, kind: str, name: str) -> Ref | None:
    return session.scalar(
        select(Ref).where(Ref.repo_id == repo.id, Ref.kind == kind, Ref.name == name)
    )


@dataclasses.dataclass(frozen=True)
class Revision:
    """A revision as the caller named it, resolved once to what it is.

    ``kind`` is "branch" or "tag" (``name`` is the ref's name, whichever way it
    was asked: ``main``, ``refs/heads/main``) or "commit" (``name`` is the full
    id, asked whole or as a unique prefix of 7+ hex digits). ``commit`` is
    always the full commit id. Access decisions are made on this, never on the
    string the caller sent, so that no other spelling of a revision gets around them.
    """

    kind: str  # "branch" | "tag" | "pr" | "commit"
    name: str
    commit: str
    asked: str

    @property
    def is_ref(self) -> bool:
        return self.kind != "commit"


def canonical(session: Session, repo: Repo, revision: str) -> Revision:
    """A branch, tag or commit id (full, or a unique prefix of 7+), as a :class:`Revision`.

    Plain names are branches first, then tags, then commit ids; ``refs/heads/X``
    and ``refs/tags/X`` name only that kind, ``refs/pr/N`` a pull request's ref.
    """
    rev = revision
    number = pr_number(rev)
    if number is not None:
        ref = get_ref(session, repo, "pr", str(number))
        if ref is not None:
            return Revision("pr", ref.name, ref.target, revision)
        raise RevisionNotFound(f"Invalid rev id: {revision}")
    for prefix, kind in (("refs/heads/", "branch"), ("refs/tags/", "tag")):
        if rev.startswith(prefix):
            ref = get_ref(session, repo, kind, rev[len(prefix) :])
            if ref is not None:
                return Revision(kind, ref.name, ref.target, revision)
            raise RevisionNotFound(f"Invalid rev id: {revision}")
    for kind in ("branch", "tag"):
        ref = get_ref(session, repo, kind, rev)
        if ref is not None:
            return Revision(kind, ref.name, ref.target, revision)
    if _SHA1.match(rev):
        if session.get(Commit, (repo.id, rev)) is not None:
            return Revision("commit", rev, rev, revision)
    elif 7 <= len(rev) < 40 and all(c in "0123456789abcdef" for c in rev):
        found = session.scalars(
            select(Commit.oid).where(Commit.repo_id == repo.id, Commit.oid.startswith(rev)).limit(2)
        ).all()
        if len(found) == 1:
            return Revision("commit", found[0], found[0], revision)
    raise RevisionNotFound(f"Invalid rev id: {revision}")


def resolve(session: Session, repo: Repo, revision: str) -> str:
    """A branch, tag or commit id (full, or a unique prefix of 7+) to a commit id.

    Only for writers and internal use: routes that show content use
    :func:`modelcommons.governance.access.content`, which also decides what the caller may see.
    """
    return canonical(session, repo, revision).commit


def list_refs(session: Session, repo: Repo) -> list[Ref]:
    return list(
        session.scalars(select(Ref).where(Ref.repo_id == repo.id).order_by(Ref.kind, Ref.name))
    )


def create_ref(session: Session, repo: Repo, kind: str, name: str, target: str) -> None:
    if kind != "pr":
        check_ref_name(name)
    if get_ref(session, repo, kind, name) is not None:
        raise Conflict(f"Reference {full_ref(kind, name)} already exists.")
    session.add(Ref(repo_id=repo.id, kind=kind, name=name, target=target))


def delete_ref(session: Session, repo: Repo, kind: str, name: str) -> None:
    ref = get_ref(session, repo, kind, name)
    if ref is None:
        raise RevisionNotFound(f"Invalid rev id: {full_ref(kind, name)}")
    session.delete(ref)


def move_branch(session: Session, repo: Repo, branch: str, old: str, new: str) -> bool:
    """Compare-and-swap a branch head; False when someone else moved it first."""
    return move_ref(session, repo, "branch", branch, old, new)


def move_ref(session: Session, repo: Repo, kind: str, name: str, old: str, new: str) -> bool:
    """Compare-and-swap a branch or tag; False when it is not at ``old`` (any more)."""
    result = session.execute(
        update(Ref)
        .where(Ref.repo_id == repo.id, Ref.kind == kind, Ref.name == name, Ref.target == old)
        .values(target=new)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def delete_ref_at(session: Session, repo: Repo, kind: str, name: str, old: str) -> bool:
    """Delete a branch or tag only while it is at ``old``; False otherwise."""
    result = session.execute(
        delete(Ref).where(
            Ref.repo_id == repo.id, Ref.kind == kind, Ref.name == name, Ref.target == old
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def history(session: Session, repo: Repo, start: str) -> Iterator[Commit]:
    """Commits reachable from ``start``, newest first (git log order).

    The repository's commits are loaded in one query and walked in memory.
    """
    rows = {c.oid: c for c in session.scalars(select(Commit).where(Commit.repo_id == repo.id))}
    first = rows.get(start)
    if first is None:
        return
    seen = {start}
    heap: list[tuple[float, str, Commit]] = [(-first.created_at.timestamp(), start, first)]
    while heap:
        _, _, commit = heapq.heappop(heap)
        yield commit
        for parent in commit.parents.split():
            if parent in seen or parent not in rows:
                continue
            seen.add(parent)
            row = rows[parent]
            heapq.heappush(heap, (-row.created_at.timestamp(), parent, row))


def reachable(session: Session, repo: Repo, starts: list[str]) -> set[str]:
    """Every commit id reachable from any of ``starts``, with one query."""
    rows = session.execute(select(Commit.oid, Commit.parents).where(Commit.repo_id == repo.id))
    parents = {oid: parent_ids for oid, parent_ids in rows}
    seen: set[str] = set()
    stack = [s for s in starts if s in parents]
    while stack:
        oid = stack.pop()
        if oid in seen:
            continue
        seen.add(oid)
        stack.extend(p for p in parents[oid].split() if p in parents)
    return seen


def last_changes(
    session: Session,
    reader: TreeReader,
    repo: Repo,
    start: str,
    paths: dict[str, str],
    *,
    limit: int | None = None,
) -> dict[str, Commit]:
    """For each path (mapped to its current object id), the newest commit that changed
    it, walking history from ``start``; at most ``limit`` commits are examined."""
    wanted = dict(paths)
    found: dict[str, Commit] = {}
    walk = history(session, repo, start)
    commit = next(walk, None)
    examined = 0
    while commit is not None and wanted and (limit is None or examined < limit):
        parent = next(walk, None)
        for path in list(wanted):
            before = reader.find(parent.tree_oid, path) if parent else None
            if before is None or before.oid != wanted[path]:
                found[path] = commit
                del wanted[path]
        commit, examined = parent, examined + 1
    return found


def card_of(repo: Repo) -> dict[str, Any]:
    data = json.loads(repo.card_data or "{}")
    return data if isinstance(data, dict) else {}
