"""What a push brings, checked against the repository before any ref moves.

Every commit a pushed ref reaches must be in the pack or already in this
repository, and so must every tree and file those commits reach: objects of other
repositories are never linked, whoever knows their ids (the ``git_objects`` table
is shared by content). Objects outside the pack are looked for first where git
would have left them out, at the same path in a parent commit, and only then among
everything the repository's history reaches. Each entry is the kind its mode says;
the longest path under each new tree stays within ``max_path_length`` (each name
was checked as a path segment when the pack was read); files of
``lfs_threshold_bytes`` and more must be LFS pointers, and every pointer must name
an LFS object uploaded to this repository (``git lfs`` uploads before it pushes).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.schema import LfsObject, Repo, RepoLfsObject
from ..errors import HubError
from ..storage.trees import TreeReader
from .negotiate import Graph
from .packin import Received
from .packout import _mark

if TYPE_CHECKING:
    from ..hub import Hub

#: What the ``commits.parents`` column holds.
MAX_PARENTS = 10


class Refused(HubError):
    """The push is refused whole; the message goes to every ref's ``ng`` line."""

    status = 422
    code = "PushRefused"


@dataclasses.dataclass
class NewHistory:
    """What the push adds: commits parents first, and the trees and files they reach."""

    commits: list[str]
    trees: set[str]
    blobs: set[str]


class Checker:
    def __init__(self, session: Session, hub: Hub, repo: Repo, received: Received) -> None:
        self.session = session
        self.hub = hub
        self.repo = repo
        self.received = received
        self.graph = Graph.load(session, repo, ())
        self.reader = TreeReader(session, hub.tree_cache)
        self._external_ok: set[str] = set()
        self._repo_objects: set[str] | None = None
        self._longest: dict[str, int] = {}
        self.new = NewHistory([], set(), set())

    # ------------------------------------------------------------ commits

    def parents_of(self, commit: str) -> tuple[str, ...]:
        pushed = self.received.commits.get(commit)
        return pushed.parents if pushed else self.graph.parents.get(commit, ())

    def is_commit(self, oid: str) -> bool:
        return oid in self.received.commits or oid in self.graph.parents

    def descends(self, new: str, old: str) -> bool:
        """Whether ``old`` is ``new`` or one of its ancestors (a fast-forward)."""
        seen: set[str] = set()
        todo = [new]
        while todo:
            commit = todo.pop()
            if commit == old:
                return True
            if commit not in seen:
                seen.add(commit)
                todo.extend(self.parents_of(commit))
        return False

    def target(self, oid: str, ref: str) -> None:
        """A ref may point only at a commit the pack or the repository holds."""
        if self.is_commit(oid):
            return
        kind = self.received.kind(oid)
        if kind == "tag":
            raise Refused(
                f"{ref}: annotated tags are not supported; push a lightweight tag "
                "(git tag NAME, without -a, -s or -m)."
            )
        if kind is not None:
            raise Refused(f"{ref}: {oid} is a {kind}, not a commit.")
        raise Refused(f"{ref}: commit {oid} is neither in the pack nor in this repository.")

    def check(self, targets: list[str]) -> NewHistory:
        """Check everything ``targets`` reach that the repository does not have."""
        order: list[str] = []
        state: dict[str, bool] = {}  # False: being walked, True: done
        for target in targets:
            if target not in self.received.commits or target in state:
                continue
            stack: list[tuple[str, bool]] = [(target, False)]
            while stack:
                commit, expanded = stack.pop()
                if expanded:
                    state[commit] = True
                    order.append(commit)
                    continue
                if commit in state:
                    continue
                state[commit] = False
                stack.append((commit, True))
                pushed = self.received.commits[commit]
                if len(pushed.parents) > MAX_PARENTS:
                    raise Refused(f"Commit {commit} has more than {MAX_PARENTS} parents.")
                for parent in pushed.parents:
                    if parent in self.received.commits:
                        if parent not in state:
                            stack.append((parent, False))
                    elif parent not in self.graph.parents:
                        raise Refused(
                            f"Commit {commit} names parent {parent}, which is neither in the "
                            "pack nor in this repository."
                        )
        for commit in order:
            self._commit_tree(commit)
        self._check_lfs()
        self.new.commits = order
        return self.new

    # ------------------------------------------------------------ trees

    def _commit_tree(self, commit: str) -> None:
        tree = self.received.commits[commit].tree
        if tree not in self.received.trees:
            self._external(tree, "", True, commit)
            return
        longest = self._walk(tree, commit)
        if longest > self.hub.settings.max_path_length:
            raise Refused(
                f"Commit {commit} has a path of {longest} bytes; the limit is "
                f"{self.hub.settings.max_path_length}."
            )

    def _walk(self, root: str, commit: str) -> int:
        """Check a pushed tree and what it reaches; returns its longest path's length."""
        if root in self._longest:
            return self._longest[root]
        stack: list[tuple[str, str, bool]] = [(root, "", False)]
        while stack:
            tree, path, expanded = stack.pop()
            _, entries = self.received.trees[tree]
            if expanded:
                lengths = [
                    len(e.name.encode())
                    + (1 + self._longest[e.oid] if e.oid in self._longest else 0)
                    for e in entries
                ]
                self._longest[tree] = max(lengths, default=0)
                continue
            if tree in self._longest:
                continue
            self.new.trees.add(tree)
            stack.append((tree, path, True))
            for entry in entries:
                where = f"{path}{entry.name}"
                if entry.is_dir:
                    self._folder(entry.oid, where, commit, stack)
                else:
                    self._file(entry.oid, where, commit)
        return self._longest[root]

    def _folder(self, oid: str, path: str, commit: str, stack: list[tuple[str, str, bool]]) -> None:
        if oid in self.received.trees:
            if oid not in self._longest:
                stack.append((oid, path + "/", False))
            return
        kind = self.received.kind(oid)
        if kind is not None:
            raise Refused(f"{path!r} in commit {commit} is a folder, but {oid} is a {kind}.")
        self._external(oid, path, True, commit)

    def _file(self, oid: str, path: str, commit: str) -> None:
        if oid in self.received.blobs:
            self.new.blobs.add(oid)
            return
        if oid in self.received.too_large:
            raise Refused(
                f"{path!r} is {self.received.too_large[oid]} bytes: files of "
                f"{self.hub.settings.lfs_threshold_bytes} bytes and more must be pushed with "
                f"git lfs (git lfs track {path!r}, then commit again)."
            )
        kind = self.received.kind(oid)
        if kind is not None:
            raise Refused(f"{path!r} in commit {commit} is a file, but {oid} is a {kind}.")
        self._external(oid, path, False, commit)

    def _external(self, oid: str, path: str, is_dir: bool, commit: str) -> None:
        """An object the pack left out: the repository must already have it."""
        if oid in self._external_ok:
            return
        for parent in self.received.commits[commit].parents:
            tree = self.graph.trees.get(parent)
            if tree is None:
                continue
            entry = self.reader.find(tree, path)
            if entry is not None and entry.oid == oid and entry.is_dir == is_dir:
                self._external_ok.add(oid)
                return
        if self._repo_objects is None:
            self._repo_objects = set()
            for tree in set(self.graph.trees.values()):
                _mark(self.reader, tree, self._repo_objects)
        if oid not in self._repo_objects:
            where = repr(path) if path else "The root folder"
            raise Refused(
                f"{where} in commit {commit}: object {oid} is neither in the pack nor in "
                "this repository."
            )
        self._external_ok.add(oid)

    # ------------------------------------------------------------ LFS

    def _check_lfs(self) -> None:
        wanted = {
            str(row["sha256"]): int(str(row["size"]))
            for oid in self.new.blobs
            if (row := self.received.blobs[oid])["lfs"]
        }
        held: dict[str, int] = {}
        oids = sorted(wanted)
        for start in range(0, len(oids), 500):
            batch = oids[start : start + 500]
            held.update(
                self.session.execute(
                    select(LfsObject.oid, LfsObject.size)
                    .join(RepoLfsObject, RepoLfsObject.oid == LfsObject.oid)
                    .where(RepoLfsObject.repo_id == self.repo.id, LfsObject.oid.in_(batch))
                ).all()
            )
        for sha256, size in sorted(wanted.items()):
            if held.get(sha256) != size or not self.hub.blobs.exists(sha256):
                raise Refused(
                    f"LFS object {sha256} ({size} bytes) has not been uploaded to this "
                    "repository: install git-lfs and push again (git lfs push --all)."
                )
