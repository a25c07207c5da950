"""The commit engine: operations in, one new git commit out, all or nothing.

File bytes are already in the blob store when a commit starts (staged content
is promoted first), so a commit that becomes visible never points at missing
bytes. Everything else (trees, commit, branch move) happens in one database
transaction; the branch moves by compare-and-swap, so concurrent writers
either apply in turn (no ``parent_commit``) or get a clean conflict.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import utcnow
from ..db import outbox
from ..db.schema import Commit, FileBlob, GitObject, LfsObject, Repo, RepoLfsObject
from ..db.sqlutil import insert_ignore
from ..errors import (
    BadRequest,
    EntryNotFound,
    PreconditionFailed,
    RepoNotFound,
    RevisionNotFound,
    Unprocessable,
)
from . import gitattributes, repos
from .gitobjects import Signature, TreeEntry, encode_commit, encode_tree, lfs_pointer, object_id
from .trees import TreeReader

if TYPE_CHECKING:
    from ..hub import Hub


@dataclasses.dataclass(frozen=True)
class StoredContent:
    """Bytes already in the blob store, uploaded inline with the commit."""

    sha256: str
    size: int
    git_oid: str | None  # sha1 of the content, computed for small files only


@dataclasses.dataclass(frozen=True)
class AddFile:
    path: str
    content: StoredContent | None = None  # inline ("file") upload
    lfs_oid: str | None = None  # "lfsFile": an object uploaded through the LFS API
    lfs_size: int | None = None


@dataclasses.dataclass(frozen=True)
class DeleteFile:
    path: str


@dataclasses.dataclass(frozen=True)
class DeleteFolder:
    path: str


Operation = AddFile | DeleteFile | DeleteFolder


@dataclasses.dataclass(frozen=True)
class CommitRequest:
    summary: str
    description: str
    operations: Sequence[Operation]
    parent_commit: str | None = None


#: Run at the start of a commit's transaction: returns the revision to commit to
#: instead (a pull request opened for this commit: ``refs/pr/N``).
Prepare = Callable[[Session, Repo], str]
#: Run in the commit's transaction once the ref has moved: (session, repo, ref kind,
#: ref name, new commit id).
Follow = Callable[[Session, Repo, str, str, str], None]


class _Dir:
    """A directory being edited; children load lazily from the stored tree."""

    def __init__(self, reader: TreeReader, oid: str | None) -> None:
        self.reader = reader
        self.oid = oid
        self._children: dict[str, TreeEntry | _Dir] | None = None
        self.dirty = False

    @property
    def children(self) -> dict[str, TreeEntry | _Dir]:
        if self._children is None:
            entries = self.reader.entries(self.oid) if self.oid else ()
            self._children = {e.name: e for e in entries}
        return self._children

    def subdir(self, name: str, path: str, *, create: bool) -> _Dir | None:
        child = self.children.get(name)
        if isinstance(child, _Dir):
            return child
        if child is None:
            if not create:
                return None
            new = _Dir(self.reader, None)
            new._children = {}
            self.children[name] = new
            return new
        if not child.is_dir:
            raise BadRequest(f"Cannot use {path!r} as a folder: a file with that name exists.")
        loaded = _Dir(self.reader, child.oid)
        self.children[name] = loaded
        return loaded


@dataclasses.dataclass
class _Plan:
    """What a commit writes besides its trees."""

    files: dict[str, dict[str, object]] = dataclasses.field(default_factory=dict)
    lfs: dict[str, int] = dataclasses.field(default_factory=dict)
    #: Paths this commit stores as LFS that no .gitattributes pattern covers.
    untracked_lfs: list[str] = dataclasses.field(default_factory=list)
    readme_changed: bool = False


class _BranchMoved(Exception):
    pass


class CommitObserver(Protocol):
    """What the commit engine tells the rest of the hub, in the commit's transaction
    (the post-commit pipeline, :mod:`modelcommons.pipeline`)."""

    def commit_landed(
        self,
        session: Session,
        repo: Repo,
        branch: str,
        commit_oid: str,
        tree_oid: str,
        author: str,
        readme_changed: bool,
    ) -> None:
        """A branch head moved to ``commit_oid`` (made here or pushed): the
        post-commit pipeline's entry point."""
        ...


class Committer:
    def __init__(self, hub: Hub, observer: CommitObserver) -> None:
        self.hub = hub
        self.observer = observer

    def commit(
        self,
        repo_id: int,
        branch: str,
        author: str,
        request: CommitRequest,
        *,
        prepare: Prepare | None = None,
        follow: Follow | None = None,
    ) -> str:
        """Apply ``request`` to ``branch`` (or a pull request's ``refs/pr/N``); returns
        the new commit id. ``prepare`` and ``follow`` run in the same transaction,
        before and after the change (see :data:`Prepare`, :data:`Follow`)."""
        if len(request.operations) > self.hub.settings.max_operations_per_commit:
            raise BadRequest(
                f"Too many operations in one commit ({len(request.operations)}); "
                f"the limit is {self.hub.settings.max_operations_per_commit}."
            )
        for attempt in range(200):
            try:
                with self.hub.db.write() as session:
                    repo = session.get(Repo, repo_id)
                    if repo is None:
                        raise RepoNotFound()
                    target = prepare(session, repo) if prepare else branch
                    kind, name = repos.commit_target(target)
                    oid = self._try(session, repo, kind, name, author, request)
                    if oid is None:
                        raise _BranchMoved
                    if follow is not None:
                        follow(session, repo, kind, name, oid)
                    return oid
            except _BranchMoved:
                # Someone moved the branch between our read and our swap: rebase.
                time.sleep(min(0.002 * (attempt + 1), 0.05))
        raise PreconditionFailed("The branch kept moving under concurrent commits; try again.")

    def _try(
        self,
        session: Session,
        repo: Repo,
        kind: str,
        branch: str,
        author: str,
        request: CommitRequest,
    ) -> str | None:
        ref = repos.get_ref(session, repo, kind, branch)
        if ref is None:
            raise RevisionNotFound(
                f"Invalid rev id: {repos.full_ref(kind, branch) if kind == 'pr' else branch} "
                "(commits go to existing branches)"
            )
        head = ref.target
        if request.parent_commit and not head.startswith(request.parent_commit.lower()):
            raise PreconditionFailed(
                # The Hub's words (its clients' users match on them), then ours.
                "The branch was updated since you opened this page. Please refresh and try "
                f"again. ({branch} is at {head}, not at {request.parent_commit}.)"
            )
        head_commit = session.get(Commit, (repo.id, head))
        assert head_commit is not None
        reader = TreeReader(session, self.hub.tree_cache)
        root = _Dir(reader, head_commit.tree_oid)
        plan = _Plan()
        patterns = self._lfs_patterns(reader, head_commit.tree_oid, request.operations)
        for op in request.operations:
            self._apply(session, repo, root, op, plan, patterns)
        if plan.untracked_lfs:
            self._track_lfs(session, root, plan)
        objects: list[dict[str, object]] = []
        tree_oid = _serialize(root, objects)
        signature = Signature(author, f"{author}@users.noreply.modelcommons", int(time.time()))
        message = request.summary.strip() or "Update files"
        if request.description.strip():
            message += "\n\n" + request.description.strip()
        raw = encode_commit(tree_oid, [head], signature, message)
        commit_oid = object_id("commit", raw)
        objects.append({"oid": commit_oid, "kind": "commit", "data": raw})
        insert_ignore(session, GitObject, objects)
        insert_ignore(session, FileBlob, list(plan.files.values()))
        insert_ignore(session, LfsObject, [{"oid": o, "size": s} for o, s in plan.lfs.items()])
        insert_ignore(session, RepoLfsObject, [{"repo_id": repo.id, "oid": o} for o in plan.lfs])
        self._chunk_later(session, plan)
        insert_ignore(
            session,
            Commit,
            [
                {
                    "repo_id": repo.id,
                    "oid": commit_oid,
                    "tree_oid": tree_oid,
                    "parents": head,
                    "author": author,
                    "title": message.split("\n", 1)[0],
                    "message": message,
                    "created_at": utcnow(),
                }
            ],
        )
        if not repos.move_ref(session, repo, kind, branch, head, commit_oid):
            if request.parent_commit:
                raise PreconditionFailed(
                    # The Hub's words (its clients' users match on them), then ours.
                    "The branch was updated since you opened this page. Please refresh "
                    f"and try again. ({branch} has moved on from {request.parent_commit}.)"
                )
            return None
        if kind == "branch":
            self.branch_moved(
                session, reader, repo, branch, commit_oid, tree_oid, author, plan.readme_changed
            )
        else:
            self.pull_request_moved(session, repo, branch, commit_oid, tree_oid, author)
        return commit_oid

    def pull_request_moved(
        self, session: Session, repo: Repo, number: str, commit_oid: str, tree_oid: str, author: str
    ) -> None:
        """What follows a pull request's ref (``refs/pr/N``) moving to a commit made
        here or pushed over git: its files are downloaded too, so the pipeline scans
        them (the card steps follow the default branch only)."""
        repo.updated_at = utcnow()
        self.observer.commit_landed(
            session, repo, repos.full_ref("pr", number), commit_oid, tree_oid, author, False
        )

    def branch_moved(
        self,
        session: Session,
        reader: TreeReader,
        repo: Repo,
        branch: str,
        commit_oid: str,
        tree_oid: str,
        author: str,
        readme_changed: bool,
    ) -> None:
        """What follows a branch head's move, in the same transaction: for a commit
        made here and for one pushed over git alike (the rest of the hub hears of
        both the same way)."""
        repo.updated_at = utcnow()
        outbox.note(session, "branch.moved", repo=repo.id, branch=branch, commit=commit_oid)
        self.observer.commit_landed(
            session, repo, branch, commit_oid, tree_oid, author, readme_changed
        )

    def commit_stored(
        self, session: Session, repo: Repo, commit_oid: str, tree_oid: str, author: str
    ) -> None:
        """A new commit that no branch or pull request moved to (one of a push's
        earlier commits, or a tag's): its files can be downloaded by commit id, so
        the pipeline's steps for any commit (the scan) follow it."""
        self.observer.commit_landed(session, repo, "", commit_oid, tree_oid, author, False)

    def _track_lfs(self, session: Session, root: _Dir, plan: _Plan) -> None:
        """Add a .gitattributes line for each file stored as LFS that no pattern
        covers, so that a ``git lfs`` checkout turns its pointer into the file."""
        current = root.children.get(".gitattributes")
        text = ""
        if isinstance(current, _Dir) or (isinstance(current, TreeEntry) and current.is_dir):
            return  # a folder named .gitattributes: nothing git would read
        if isinstance(current, TreeEntry):
            row = plan.files.get(current.oid)
            if row is None:
                blob = session.get(FileBlob, current.oid)
                if blob is None:
                    return
                row = {"sha256": blob.sha256, "size": blob.size, "lfs": blob.lfs}
            size = int(str(row["size"]))
            if row["lfs"] or size > 1024 * 1024:
                return  # not a file the hub rewrites
            text = self._read_small(str(row["sha256"]), size)
        data = gitattributes.track(text, sorted(set(plan.untracked_lfs))).encode()
        sha256 = self.hub.store_bytes(data)
        oid = object_id("blob", data)
        plan.files[oid] = {"oid": oid, "size": len(data), "sha256": sha256, "lfs": False}
        root.children[".gitattributes"] = TreeEntry(".gitattributes", oid, is_dir=False)
        root.dirty = True

    def _lfs_patterns(
        self, reader: TreeReader, tree: str, operations: Sequence[Operation]
    ) -> list[str]:
        text = ""
        for op in operations:
            if isinstance(op, AddFile) and op.path == ".gitattributes" and op.content:
                text = self._read_small(op.content.sha256, op.content.size)
        if not text:
            info = reader.file(tree, ".gitattributes")
            if info is not None and not info.lfs:
                text = self._read_small(info.sha256, info.size)
        return gitattributes.lfs_patterns(text)

    def _read_small(self, sha256: str, size: int) -> str:
        if size > 1024 * 1024:
            return ""
        with self.hub.blobs.open(sha256) as f:
            return f.read().decode("utf-8", "replace")

    def _apply(
        self,
        session: Session,
        repo: Repo,
        root: _Dir,
        op: Operation,
        plan: _Plan,
        patterns: list[str],
    ) -> None:
        *parents, leaf = op.path.strip("/").split("/")
        node: _Dir | None = root
        trail: list[_Dir] = [root]
        for part in parents:
            assert node is not None
            node = node.subdir(part, op.path, create=isinstance(op, AddFile))
            if node is None:
                raise EntryNotFound(f"A file with this name doesn't exist: {op.path}")
            trail.append(node)
        assert node is not None
        if op.path == "README.md":
            plan.readme_changed = True
        if isinstance(op, AddFile):
            if isinstance(node.children.get(leaf), _Dir) or (
                isinstance(node.children.get(leaf), TreeEntry) and node.children[leaf].is_dir  # type: ignore[union-attr]
            ):
                raise BadRequest(f"Cannot write file {op.path!r}: a folder with that name exists.")
            old = node.children.get(leaf)
            node.children[leaf] = TreeEntry(
                leaf,
                self._blob_for(session, repo, op, plan, patterns),
                is_dir=False,
                executable=isinstance(old, TreeEntry) and old.executable,
            )
        else:
            existing = node.children.get(leaf)
            want_dir = isinstance(op, DeleteFolder)
            is_dir = isinstance(existing, _Dir) or (
                isinstance(existing, TreeEntry) and existing.is_dir
            )
            # A file deletion naming a folder deletes the folder, as on the Hub (the
            # client sends a folder without its trailing "/" as a file deletion).
            if existing is None or (want_dir and not is_dir):
                kind = "folder" if want_dir else "file"
                raise EntryNotFound(f"A {kind} with this name doesn't exist: {op.path}")
            del node.children[leaf]
        for d in trail:
            d.dirty = True

    def _chunk_later(self, session: Session, plan: _Plan) -> None:
        """Large files sent inline go to the Xet chunk store once the commit is in, as
        LFS uploads do (``xet_chunk_uploads``)."""
        settings = self.hub.settings
        if not settings.xet_chunk_uploads:
            return
        jobs = self.hub.jobs
        for sha256, size in plan.lfs.items():
            if size >= settings.lfs_threshold_bytes:
                jobs.after_commit(session, functools.partial(jobs.chunk, sha256))

    def _blob_for(
        self, session: Session, repo: Repo, op: AddFile, plan: _Plan, patterns: list[str]
    ) -> str:
        threshold = self.hub.settings.lfs_threshold_bytes
        if op.content is not None:
            c = op.content
            lfs = (
                c.size >= threshold
                or c.git_oid is None
                or (c.size > 0 and gitattributes.matches(patterns, op.path))
            )
            if lfs:
                plan.lfs[c.sha256] = c.size
                if not gitattributes.matches(patterns, op.path):
                    plan.untracked_lfs.append(op.path)
                oid = object_id("blob", lfs_pointer(c.sha256, c.size))
            else:
                assert c.git_oid is not None
                oid = c.git_oid
            plan.files[oid] = {"oid": oid, "size": c.size, "sha256": c.sha256, "lfs": lfs}
            return oid
        assert op.lfs_oid is not None
        size = session.scalar(
            select(LfsObject.size)
            .join(RepoLfsObject, RepoLfsObject.oid == LfsObject.oid)
            .where(RepoLfsObject.repo_id == repo.id, LfsObject.oid == op.lfs_oid)
        )
        if size is None:
            raise Unprocessable(
                f"LFS object {op.lfs_oid} for {op.path!r} has not been uploaded to this "
                "repository (or its upload was not verified). Upload it first."
            )
        if op.lfs_size is not None and op.lfs_size != size:
            raise BadRequest(
                f"LFS object {op.lfs_oid} for {op.path!r} is {size} bytes, not {op.lfs_size}."
            )
        oid = object_id("blob", lfs_pointer(op.lfs_oid, size))
        plan.files[oid] = {"oid": oid, "size": size, "sha256": op.lfs_oid, "lfs": True}
        if not gitattributes.matches(patterns, op.path):
            plan.untracked_lfs.append(op.path)
        return oid


def _serialize(node: _Dir, objects: list[dict[str, object]]) -> str:
    """Encode dirty directories bottom-up; empty directories vanish, as in git."""
    if not node.dirty and node.oid is not None:
        return node.oid
    entries: list[TreeEntry] = []
    for name, child in node.children.items():
        if isinstance(child, _Dir):
            oid = _serialize(child, objects)
            if child.children:
                entries.append(TreeEntry(name, oid, is_dir=True))
        else:
            entries.append(child)
    raw = encode_tree(entries)
    oid = object_id("tree", raw)
    objects.append({"oid": oid, "kind": "tree", "data": raw})
    return oid


def initial_commit(session: Session, hub: Hub, repo: Repo, author: str) -> str:
    """The first commit of a new repository: a .gitattributes with the usual LFS patterns."""
    content = gitattributes.DEFAULT.encode()
    sha256 = hub.store_bytes(content)
    blob_oid = object_id("blob", content)
    tree_raw = encode_tree([TreeEntry(".gitattributes", blob_oid, is_dir=False)])
    tree_oid = object_id("tree", tree_raw)
    signature = Signature(author, f"{author}@users.noreply.modelcommons", int(time.time()))
    raw = encode_commit(tree_oid, [], signature, "initial commit")
    commit_oid = object_id("commit", raw)
    insert_ignore(
        session,
        GitObject,
        [
            {"oid": tree_oid, "kind": "tree", "data": tree_raw},
            {"oid": commit_oid, "kind": "commit", "data": raw},
        ],
    )
    insert_ignore(
        session, FileBlob, [{"oid": blob_oid, "size": len(content), "sha256": sha256, "lfs": False}]
    )
    session.add(
        Commit(
            repo_id=repo.id,
            oid=commit_oid,
            tree_oid=tree_oid,
            parents="",
            author=author,
            title="initial commit",
            message="initial commit",
        )
    )
    repos.create_ref(session, repo, "branch", repos.DEFAULT_BRANCH, commit_oid)
    return commit_oid
