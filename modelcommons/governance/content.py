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

   A pull request's ref (``refs/pr/N``) is open as a commit id is: only when an
   open line of history leads to it (so under a plan with closed refs, a pull
   request with new commits is for owners only).

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
   - *quarantined*: under a scan policy of ``quarantine`` (``quarantine.py``), a
     file the scanners found ``unsafe`` is neither listed nor downloadable for anyone
     but the repository's admins; asked for by path it answers ``403 UnsafeFile``
     naming the finding, and downloads by hash (LFS, Xet) are refused while the
     repository's LFS store holds such a file, git fetch while a commit a ref
     reaches holds one (LFS or not).

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
from ..storage.trees import TreeCache, TreeReader
from . import gating
from .quarantine import Quarantine, UnsafeFile
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
    #: Set when the scan policy quarantines unsafe files for this caller.
    quarantine: Quarantine | None = None
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
        if self.quarantine is not None and self.quarantine.repo_holds_unsafe():
            return False
        return self.passes_gate()

    def _refuse_quarantined_objects(self, *, in_git: bool = False) -> None:
        if self.quarantine is not None and self.quarantine.repo_holds_unsafe(in_git=in_git):
            how = "with git" if in_git else "by hash"
            raise UnsafeFile(
                f"{self.repo.repo_id} holds files the scanners found unsafe, quarantined "
                f"for all but its admins: download files by name, not {how}."
            )

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
        self._refuse_quarantined_objects(in_git=True)

    def require_download_all(self) -> None:
        if self.plan is not None and not self.plan.all_open:
            raise self._staged("part of it")
        if not self.passes_gate():
            raise self._gated()
        self._refuse_quarantined_objects()


@dataclasses.dataclass
class RevisionContent:
    """The content of an open revision, as one caller may see it."""

    repo_content: RepoContent
    revision: repos.Revision
    commit: Commit
    _dirs: dict[str, bool] = dataclasses.field(default_factory=dict)
    _reader: TreeReader | None = None

    @property
    def sha(self) -> str:
        return self.revision.commit

    @property
    def lists_everything(self) -> bool:
        plan = self.repo_content.plan
        quarantine = self.repo_content.quarantine
        if quarantine is not None and quarantine.any_unsafe():
            return False
        return plan is None or set(plan.controlled_files) <= set(plan.open_files)

    def _plan_listable(self, path: str) -> bool:
        plan = self.repo_content.plan
        return plan is None or plan.file_open(path)

    def quarantined(self, path: str, blob_oid: str | None = None) -> str | None:
        """The finding that quarantines the file at ``path`` for this caller, if any."""
        quarantine = self.repo_content.quarantine
        if quarantine is None or not quarantine.any_unsafe():
            return None
        if blob_oid is None:
            if self._reader is None:
                self._reader = TreeReader(self.repo_content.session, TreeCache(256))
            entry = self._reader.find(self.commit.tree_oid, path)
            if entry is None or entry.is_dir:
                return None
            blob_oid = entry.oid
        return quarantine.finding(path, blob_oid)

    def listable(self, path: str, blob_oid: str | None = None) -> bool:
        """Whether the file's name, size and hashes may show in listings and diffs."""
        return self._plan_listable(path) and self.quarantined(path, blob_oid) is None

    def downloadable(self, path: str) -> bool:
        """Whether the file's bytes may be downloaded, previewed or shown in a diff."""
        content = self.repo_content
        return self.listable(path) and (path in content.open_files or content.passes_gate())

    def require_download(self, path: str) -> bool:
        """Refuse the file unless downloadable. Returns True when the caller got through
        only by an accepted request or a released stage: such downloads are audited."""
        content = self.repo_content
        if not self._plan_listable(path):
            raise content._staged(repr(path))
        why = self.quarantined(path)
        if why is not None:
            assert content.quarantine is not None
            raise content.quarantine.refuse(path, why)
        if path not in content.open_files and not content.passes_gate():
            raise content._gated()
        if content.is_owner:
            return False
        plan = content.plan
        staged = plan is not None and (
            plan.file_controlled(path)
            or (self.revision.kind in ("branch", "tag") and plan.ref_controlled(self.revision.name))
        )
        return staged or (content.gate != "off" and path not in content.open_files)

    def listable_dir(self, reader: TreeReader, path: str, tree_oid: str) -> bool:
        """A folder is listed when some file inside it is."""
        if self.lists_everything:
            return True
        if path not in self._dirs:
            self._dirs[path] = any(
                not entry.is_dir and self.listable(sub, entry.oid)
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
                self.listable_dir(reader, path, entry.oid)
                if entry.is_dir
                else self.listable(path, entry.oid)
            ):
                yield path, entry
