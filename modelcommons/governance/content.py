"""May this caller see this content at this revision: the answers behind ``access.content``.

Every route that reveals bytes, names, sizes, hashes or history of a path at a
revision (API, pages, LFS, previews, diffs) asks :func:`modelcommons.governance.access.content`
for a :class:`RepoContent`, then ``.at(revision)`` for a :class:`RevisionContent`,
and asks that about each path. The rules, in order:

1. **Read access** (checked by ``access.content``): a private repository the caller
   cannot read is ``RepoNotFound``, exactly like a missing one.
2. **The revision**, resolved once to its canonical form (branch, tag or commit,
   whatever spelling was asked: ``NAME``, ``refs/heads/NAME``, ``refs/tags/NAME``,
   a full or 7+ hex commit id). Under a staged release plan, for a caller who is not
   an owner:

   - a branch, or a tag the plan names, is closed while the plan has not opened
     its name to the caller;
   - a commit id, or a tag the plan does not name (a tag is a name for a commit,
     not a line of history), is open only when an open line of history leads to
     it: it is reachable from an open branch or from a tag the plan opened to the
     caller. So a closed branch is closed by every name, and a commit that only
     closed refs reach, or that no ref reaches any more, is closed.

   A closed revision answers ``GatedRepo`` (401 anonymous, 403 signed in), on every
   route, listings and history included.
3. **Each path** at an open revision:

   - *listed* (name, size, hashes in trees, paths-info, siblings, diffs): unless a
     file glob the plan controls covers it and no stage promoted for the caller
     opens it. A folder is listed when something listed is inside it. Gating does
     not hide names: listings of gated repositories stay visible, as on the
     Hugging Face Hub.
   - *downloadable* (bytes: resolve, raw, previews, diff contents, LFS): listed, and
     on a gated repository either one of the open files (the card, the licence; not
     ``.gitattributes``, as on the Hub) or the caller is an owner or holds a current
     acceptance.
     A refusal is ``GatedRepo`` whether or not the file exists, so a refusal never
     tells whether a hidden path is there.

Owners (anyone with a role over the repository) see everything. Everything is
computed once per request: the role, the gating mode, the plan's openings, and,
only when some ref is closed to the caller, the refs and their history.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

from sqlalchemy.orm import Session

from ..accounts import Principal
from ..db.schema import Commit, Ref, Repo
from ..errors import GatedRepo, NotReleased
from ..storage import repos
from ..storage.gitobjects import TreeEntry
from ..storage.trees import TreeReader
from . import gating
from .releases import Openings


@dataclasses.dataclass
class RepoContent:
    """One caller's view of one repository; build it with ``access.content``."""

    session: Session
    principal: Principal | None
    repo: Repo
    is_owner: bool
    gate: str  # gating mode: off, auto or manual
    plan: Openings | None  # None: no plan restricts this caller (or an owner)
    open_files: frozenset[str]
    _accepted: bool | None = None
    _refs: list[Ref] | None = None
    _open_commits: set[str] | None = None

    # ------------------------------------------------------------ errors

    def _status(self) -> int:
        return 401 if self.principal is None else 403

    def _staged(self, what: str) -> NotReleased:
        assert self.plan is not None
        return NotReleased(
            f"{self.repo.repo_id} is in a staged release: {what} is not released to you "
            f"({self.plan.where}).",
            status=self._status(),
        )

    def _gated(self) -> GatedRepo:
        if self.principal is None:
            return GatedRepo(
                f"Access to {self.repo.kind} {self.repo.repo_id} is restricted: you must be "
                "signed in and "
                "have an accepted access request to download its files.",
                status=401,
            )
        return GatedRepo(
            f"Access to {self.repo.kind} {self.repo.repo_id} is restricted and you are not in "
            "the authorized "
            "list. Request access on its page and wait for it to be accepted.",
            status=403,
        )

    # ------------------------------------------------------------ the gate

    def passes_gate(self) -> bool:
        """Whether gating lets the caller download files other than the open ones."""
        if self.gate == "off" or self.is_owner:
            return True
        if self.principal is None:
            return False
        if self._accepted is None:
            self._accepted = gating.has_access(self.session, self.repo, self.principal.user_id)
        return self._accepted

    # ------------------------------------------------------------ revisions

    def refs(self) -> list[Ref]:
        if self._refs is None:
            self._refs = repos.list_refs(self.session, self.repo)
        return self._refs

    def _commits_open(self) -> set[str]:
        """Commits an open line of history leads to: from open branches and from
        tags the plan opened by name."""
        if self._open_commits is None:
            plan = self.plan
            assert plan is not None
            heads = [
                ref.target
                for ref in self.refs()
                if (ref.kind == "branch" and not plan.ref_closed(ref.name))
                or (ref.kind == "tag" and ref.name in plan.open_refs)
            ]
            self._open_commits = repos.reachable(self.session, self.repo, heads)
        return self._open_commits

    def revision_open(self, revision: repos.Revision) -> bool:
        plan = self.plan
        if plan is None or not plan.closed_refs:
            return True
        if revision.kind == "branch" or (
            revision.kind == "tag" and plan.ref_controlled(revision.name)
        ):
            return not plan.ref_closed(revision.name)
        return revision.commit in self._commits_open()

    def ref_visible(self, ref: Ref) -> bool:
        """Whether a branch or tag shows in listings (refs, the revision picker)."""
        return self.revision_open(repos.Revision(ref.kind, ref.name, ref.target, ref.name))

    def visible_refs(self) -> list[Ref]:
        return [ref for ref in self.refs() if self.ref_visible(ref)]

    def at(self, revision: str) -> RevisionContent:
        """The content at a revision; ``RevisionNotFound`` when there is no such
        revision, ``GatedRepo`` when it is closed to the caller."""
        canonical = repos.canonical(self.session, self.repo, revision)
        if not self.revision_open(canonical):
            raise self._staged(f"revision {revision!r}")
        commit = self.session.get(Commit, (self.repo.id, canonical.commit))
        assert commit is not None
        return RevisionContent(self, canonical, commit)

    # ------------------------------------------------------------ everything

    def may_download_all(self) -> bool:
        """Whether every file at every revision is downloadable by the caller: what
        LFS downloads by hash and ``auth-check`` need, since they name no path."""
        if self.plan is not None and not self.plan.all_open:
            return False
        return self.passes_gate()

    def require_fetch(self) -> None:
        """What fetching with git needs: every file at every open revision downloadable.
        Unlike ``require_download_all``, a closed branch or tag does not refuse: it is
        not advertised, and nothing only it reaches can be fetched (``revision_open``)."""
        if self.plan is not None and not set(self.plan.controlled_files) <= set(
            self.plan.open_files
        ):
            raise self._staged("part of it")
        if not self.passes_gate():
            raise self._gated()

    def require_download_all(self) -> None:
        if self.plan is not None and not self.plan.all_open:
            raise self._staged("part of it")
        if not self.passes_gate():
            raise self._gated()


@dataclasses.dataclass
class RevisionContent:
    """The content of an open revision, as one caller may see it."""

    repo_content: RepoContent
    revision: repos.Revision
    commit: Commit
    _dirs: dict[str, bool] = dataclasses.field(default_factory=dict)

    @property
    def sha(self) -> str:
        return self.revision.commit

    @property
    def lists_everything(self) -> bool:
        plan = self.repo_content.plan
        return plan is None or set(plan.controlled_files) <= set(plan.open_files)

    def listable(self, path: str) -> bool:
        """Whether the file's name, size and hashes may show in listings and diffs."""
        plan = self.repo_content.plan
        return plan is None or plan.file_open(path)

    def downloadable(self, path: str) -> bool:
        """Whether the file's bytes may be downloaded, previewed or shown in a diff."""
        content = self.repo_content
        return self.listable(path) and (path in content.open_files or content.passes_gate())

    def require_download(self, path: str) -> bool:
        """Refuse the file unless downloadable. Returns True when the caller got through
        only by an accepted request or a released stage: such downloads are audited."""
        content = self.repo_content
        if not self.listable(path):
            raise content._staged(repr(path))
        if path not in content.open_files and not content.passes_gate():
            raise content._gated()
        if content.is_owner:
            return False
        plan = content.plan
        staged = plan is not None and (
            plan.file_controlled(path)
            or (self.revision.is_ref and plan.ref_controlled(self.revision.name))
        )
        return staged or (content.gate != "off" and path not in content.open_files)

    def listable_dir(self, reader: TreeReader, path: str, tree_oid: str) -> bool:
        """A folder is listed when some file inside it is."""
        if self.lists_everything:
            return True
        if path not in self._dirs:
            self._dirs[path] = any(
                not entry.is_dir and self.listable(sub)
                for sub, entry in reader.walk(tree_oid, path + "/", recursive=True)
            )
        return self._dirs[path]

    def folder(self, reader: TreeReader, path: str) -> TreeEntry | None:
        """The folder at ``path`` ("" for the root) when it exists and is listed."""
        node = reader.find(self.commit.tree_oid, path)
        if node is None or not node.is_dir:
            return None
        if path and not self.listable_dir(reader, path, node.oid):
            return None
        return node

    def listed(
        self, reader: TreeReader, items: Iterable[tuple[str, TreeEntry]]
    ) -> Iterator[tuple[str, TreeEntry]]:
        """The (path, entry) pairs of a listing that the caller may see."""
        for path, entry in items:
            if self.lists_everything or (
                self.listable_dir(reader, path, entry.oid) if entry.is_dir else self.listable(path)
            ):
                yield path, entry
