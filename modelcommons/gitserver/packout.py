"""Packs for fetches, made from stored objects as they are sent.

Which objects: the commits the wants reach that the client does not have (up to
the asked depth), and the trees and files those commits reach that the trees of
the commits the client has do not. Objects go out whole (no deltas): trees and
commits from the ``git_objects`` table a batch at a time, files from the blob
store, compressed as they are read, and LFS files as their pointers (the bytes
come through the LFS batch API). Memory holds the object ids and one batch,
never a whole repository or a whole file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import zlib
from collections.abc import Iterator

from dulwich.object_format import DEFAULT_OBJECT_FORMAT
from dulwich.pack import pack_header_chunks, pack_object_header
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.schema import FileBlob, GitObject
from ..errors import ContentUnavailable
from ..storage.blobs import BlobStore
from ..storage.gitobjects import lfs_pointer
from ..storage.trees import TreeReader
from .negotiate import FetchRequest, Graph

COMMIT, TREE, BLOB = 1, 2, 3
_BATCH = 500
_READ = 1024 * 1024


@dataclasses.dataclass
class PackPlan:
    commits: list[str]
    trees: list[str]
    blobs: list[str]
    #: Commits whose parents the client will not have (``deepen``), and client
    #: boundaries whose parents it now gets.
    shallow: list[str]
    unshallow: list[str]

    @property
    def count(self) -> int:
        return len(self.commits) + len(self.trees) + len(self.blobs)


def _within_depth(graph: Graph, wants: list[str], depth: int) -> dict[str, int]:
    """Each commit no deeper than ``depth`` from a want (a want is at depth 1)."""
    found: dict[str, int] = {}
    frontier, level = list(dict.fromkeys(wants)), 1
    while frontier and level <= depth:
        nxt: list[str] = []
        for commit in frontier:
            if commit in found:
                continue
            found[commit] = level
            nxt.extend(p for p in graph.parents.get(commit, ()) if p in graph.parents)
        frontier, level = nxt, level + 1
    return found


@dataclasses.dataclass(frozen=True)
class Depth:
    """What a ``deepen`` request sends: the commits within the depth, and the
    client's new shallow boundaries and those it loses."""

    within: dict[str, int]
    shallow: list[str]
    unshallow: list[str]


def depth_of(graph: Graph, req: FetchRequest) -> Depth | None:
    """Counted from the wants, or (``deepen-relative``) from the client's shallow
    commits, whose parents are then at depth 1."""
    if req.depth is None:
        return None
    if req.relative:
        boundary = [s for s in req.shallows if s in graph.fetchable]
        starts = [p for s in boundary for p in graph.parents[s] if p in graph.parents]
        within = _within_depth(graph, starts, req.depth)
        edge = {c for c, d in within.items() if d == req.depth and graph.parents[c]}
        unshallow = sorted(s for s in boundary if graph.parents[s])
    else:
        within = _within_depth(graph, req.wants, req.depth)
        edge = {c for c, d in within.items() if d == req.depth and graph.parents[c]}
        unshallow = sorted(s for s in req.shallows if s in within and s not in edge)
    return Depth(within, sorted(edge - req.shallows), unshallow)


def plan(reader: TreeReader, graph: Graph, req: FetchRequest, common: list[str]) -> PackPlan:
    """What to send for ``req``, given the haves found in common."""
    have = graph.ancestors(common, stop=req.shallows)
    depth = depth_of(graph, req)
    commits: list[str] = []
    if depth is not None:
        commits = [c for c in depth.within if c not in have]
    if depth is None or req.relative:  # what the wants add above what the client has
        seen = have | set(commits)
        todo = [w for w in req.wants if w not in seen]
        while todo:
            commit = todo.pop()
            if commit in seen:
                continue
            seen.add(commit)
            commits.append(commit)
            todo.extend(p for p in graph.parents[commit] if p in graph.parents and p not in seen)
    sent = set(commits)
    bases = {p for c in commits for p in graph.parents[c] if p in have and p not in sent}
    known: set[str] = set()
    for base in bases:
        _mark(reader, graph.trees[base], known)
    trees: list[str] = []
    blobs: list[str] = []
    for commit in commits:
        _collect(reader, graph.trees[commit], known, trees, blobs)
    shallow, unshallow = (depth.shallow, depth.unshallow) if depth else ([], [])
    return PackPlan(commits, trees, blobs, shallow, unshallow)


def _mark(reader: TreeReader, tree: str, known: set[str]) -> None:
    """Every tree and file under ``tree``: what the client has already."""
    todo = [tree]
    while todo:
        oid = todo.pop()
        if oid in known:
            continue
        known.add(oid)
        for entry in reader.entries(oid):
            if entry.is_dir:
                todo.append(entry.oid)
            else:
                known.add(entry.oid)


def _collect(
    reader: TreeReader, tree: str, known: set[str], trees: list[str], blobs: list[str]
) -> None:
    todo = [tree]
    while todo:
        oid = todo.pop()
        if oid in known:
            continue
        known.add(oid)
        trees.append(oid)
        for entry in reader.entries(oid):
            if entry.is_dir:
                todo.append(entry.oid)
            elif entry.oid not in known:
                known.add(entry.oid)
                blobs.append(entry.oid)


def check_available(session: Session, blobs: BlobStore, pack: PackPlan) -> None:
    """Refuse before the first byte goes out when a file's bytes are gone
    (quarantined by ``commons fsck --repair``): a pack cannot leave one out."""
    for start in range(0, len(pack.blobs), _BATCH):
        batch = pack.blobs[start : start + _BATCH]
        rows = session.execute(
            select(FileBlob.oid, FileBlob.sha256).where(
                FileBlob.oid.in_(batch), FileBlob.lfs.is_(False)
            )
        )
        for oid, sha256 in rows:
            if not blobs.exists(sha256):
                raise ContentUnavailable(f"git object {oid}")


class PackWriter:
    """The bytes of one pack, produced as they are read."""

    def __init__(self, session: Session, blobs: BlobStore, pack: PackPlan) -> None:
        self.session = session
        self.blobs = blobs
        self.pack = pack
        self._sha = hashlib.sha1(usedforsecurity=False)

    def _out(self, data: bytes) -> bytes:
        self._sha.update(data)
        return data

    def __iter__(self) -> Iterator[bytes]:
        yield self._out(b"".join(pack_header_chunks(self.pack.count)))
        for kind, oids in ((COMMIT, self.pack.commits), (TREE, self.pack.trees)):
            for start in range(0, len(oids), _BATCH):
                batch = oids[start : start + _BATCH]
                rows = dict(
                    self.session.execute(
                        select(GitObject.oid, GitObject.data).where(GitObject.oid.in_(batch))
                    ).all()
                )
                for oid in batch:
                    data = rows[oid]
                    yield self._out(self._header(kind, len(data)) + zlib.compress(data))
        for start in range(0, len(self.pack.blobs), _BATCH):
            batch = self.pack.blobs[start : start + _BATCH]
            infos = {
                b.oid: b
                for b in self.session.scalars(select(FileBlob).where(FileBlob.oid.in_(batch)))
            }
            for oid in batch:
                info = infos[oid]
                if info.lfs:
                    data = lfs_pointer(info.sha256, info.size)
                    yield self._out(self._header(BLOB, len(data)) + zlib.compress(data))
                else:
                    yield from self._file(info.sha256, info.size)
        yield self._sha.digest()

    def _header(self, kind: int, size: int) -> bytes:
        return bytes(pack_object_header(kind, None, size, DEFAULT_OBJECT_FORMAT))

    def _file(self, sha256: str, size: int) -> Iterator[bytes]:
        yield self._out(self._header(BLOB, size))
        deflate = zlib.compressobj()
        with self.blobs.open(sha256) as f:
            while chunk := f.read(_READ):
                if out := deflate.compress(chunk):
                    yield self._out(out)
        yield self._out(deflate.flush())
