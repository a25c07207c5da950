"""The scan policy: whether files the scanners found ``unsafe`` are quarantined.

``warn`` (the default) flags them; ``quarantine`` hides them from everyone but the
repository's admins: they are left out of listings and answer ``403 UnsafeFile``
naming the finding (``content.RevisionContent`` asks :class:`Quarantine`). The hub's
policy is ``Settings.scan_policy``, which the hub puts in each database session's
``info`` (so that ``access.content``, called with a session, knows it); a user or
organisation may override it (``scan_policies``, ``commons scan policy``).
"""

from __future__ import annotations

import dataclasses
import json
import posixpath

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.pipeline_tables import BlobScan, ScanPolicy
from ..db.schema import Commit, FileBlob, Repo, RepoLfsObject
from ..errors import BadRequest, HubError
from ..scanning.scan import profile
from ..storage import repos
from ..storage.trees import TreeCache, TreeReader

POLICIES = ("warn", "quarantine")
SESSION_KEY = "scan_policy"


class UnsafeFile(HubError):
    status = 403
    code = "UnsafeFile"


def policy_for(session: Session, namespace: str) -> str:
    row = session.get(ScanPolicy, namespace)
    if row is not None:
        return row.policy
    return str(session.info.get(SESSION_KEY, "warn"))


def set_policy(session: Session, namespace: str, policy: str | None) -> None:
    """Set a namespace's override; None goes back to the hub's policy."""
    if policy is not None and policy not in POLICIES:
        raise BadRequest(f"A scan policy is one of {', '.join(POLICIES)}, not {policy!r}.")
    row = session.get(ScanPolicy, namespace)
    if policy is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(ScanPolicy(namespace=namespace, policy=policy))
    else:
        row.policy = policy


@dataclasses.dataclass
class Quarantine:
    """Unsafe files, for one caller the policy applies to (not an admin)."""

    session: Session
    repo: Repo
    _by_oid: dict[str, list[tuple[str, str]]] | None = None
    #: The git blob ids among those of files stored in git (not LFS).
    _inline: set[str] = dataclasses.field(default_factory=set)
    _holds: dict[bool, bool] = dataclasses.field(default_factory=dict)

    def _unsafe(self) -> dict[str, list[tuple[str, str]]]:
        """git blob id -> [(profile, finding)] of every blob found unsafe (few)."""
        if self._by_oid is None:
            self._by_oid = {}
            rows = self.session.execute(
                select(FileBlob.oid, FileBlob.lfs, BlobScan.profile, BlobScan.report)
                .join(BlobScan, BlobScan.sha256 == FileBlob.sha256)
                .where(BlobScan.status == "unsafe")
            )
            for oid, lfs, prof, report in rows:
                self._by_oid.setdefault(oid, []).append((prof, _first_finding(report)))
                if not lfs:
                    self._inline.add(oid)
        return self._by_oid

    def any_unsafe(self) -> bool:
        return bool(self._unsafe())

    def finding(self, path: str, blob_oid: str) -> str | None:
        """Why the file at ``path`` (with git blob id ``blob_oid``) is quarantined."""
        for prof, why in self._unsafe().get(blob_oid, ()):
            if prof == profile(path):
                return why
        return None

    def refuse(self, path: str, why: str) -> UnsafeFile:
        name = posixpath.basename(path)
        return UnsafeFile(
            f"{name} in {self.repo.repo_id} is quarantined: the scanners found it unsafe "
            f"({why}). Only the repository's admins may download it."
        )

    def repo_holds_unsafe(self, *, in_git: bool = False) -> bool:
        """Whether an object of this repository's LFS store was found unsafe: what
        refuses downloads by hash (LFS batch, Xet) to callers in quarantine. With
        ``in_git`` (git fetch, which carries files stored in git, not LFS, in its
        packs), also whether such a file is in a commit that a ref reaches."""
        if in_git not in self._holds:
            self._holds[in_git] = (
                self.session.scalar(
                    select(RepoLfsObject.oid)
                    .join(BlobScan, BlobScan.sha256 == RepoLfsObject.oid)
                    .where(RepoLfsObject.repo_id == self.repo.id, BlobScan.status == "unsafe")
                    .limit(1)
                )
                is not None
            ) or (in_git and self._in_history())
        return self._holds[in_git]

    def _in_history(self) -> bool:
        """Whether a file stored in git whose blob was found unsafe (under its name's
        profile) is in a tree of a commit some ref reaches. Walks each distinct tree
        once, and only when such a blob exists anywhere on the hub."""
        unsafe = self._unsafe()
        if not self._inline:
            return False
        heads = [ref.target for ref in repos.list_refs(self.session, self.repo)]
        commits = repos.reachable(self.session, self.repo, heads)
        rows = self.session.execute(
            select(Commit.oid, Commit.tree_oid).where(Commit.repo_id == self.repo.id)
        )
        trees = [tree for oid, tree in rows if oid in commits]
        reader = TreeReader(self.session, TreeCache(1024))
        seen: set[str] = set()
        while trees:
            tree = trees.pop()
            if tree in seen:
                continue
            seen.add(tree)
            for entry in reader.entries(tree):
                if entry.is_dir:
                    trees.append(entry.oid)
                elif entry.oid in self._inline and any(
                    prof == profile(entry.name) for prof, _ in unsafe[entry.oid]
                ):
                    return True
        return False


def _first_finding(report: str) -> str:
    data = json.loads(report or "{}")
    for i in data.get("imports", []):
        if i.get("safety") == "dangerous":
            return f"it imports {i.get('module')}.{i.get('name')}"
    for f in data.get("findings", []):
        if f.get("severity") == "unsafe":
            return str(f.get("message", ""))
    return "unsafe"
