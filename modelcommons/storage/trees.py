"""Reading git trees out of the database: lookups, listings and walks.

Trees are immutable and content-addressed, so parsed trees are cached by id
in memory and the cache is safe to share across repositories and processes.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.schema import FileBlob, GitObject
from .gitobjects import EMPTY_TREE_ID, TreeEntry, decode_tree, lfs_pointer


@dataclasses.dataclass(frozen=True)
class FileInfo:
    path: str
    oid: str  # git blob id (of the LFS pointer for LFS files)
    size: int  # content size
    sha256: str
    lfs: bool

    @property
    def pointer_size(self) -> int:
        return len(lfs_pointer(self.sha256, self.size))

    @property
    def etag(self) -> str:
        """Stable per content; the sha256 for LFS files, as the client expects."""
        return self.sha256 if self.lfs else self.oid


@dataclasses.dataclass(frozen=True)
class DirInfo:
    path: str
    oid: str


Entry = FileInfo | DirInfo


@dataclasses.dataclass(frozen=True)
class Tree:
    entries: tuple[TreeEntry, ...]
    by_name: dict[str, TreeEntry]


EMPTY = Tree((), {})


class TreeCache:
    def __init__(self, capacity: int = 20_000) -> None:
        self._items: OrderedDict[str, Tree] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, oid: str) -> Tree | None:
        with self._lock:
            entries = self._items.get(oid)
            if entries is not None:
                self._items.move_to_end(oid)
            return entries

    def put(self, oid: str, tree: Tree) -> None:
        with self._lock:
            self._items[oid] = tree
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)


class TreeReader:
    def __init__(self, session: Session, cache: TreeCache) -> None:
        self.session = session
        self.cache = cache

    def tree(self, oid: str) -> Tree:
        if oid == EMPTY_TREE_ID:
            return EMPTY
        cached = self.cache.get(oid)
        if cached is not None:
            return cached
        data = self.session.scalar(select(GitObject.data).where(GitObject.oid == oid))
        if data is None:
            raise LookupError(f"tree {oid} is missing")
        entries = tuple(decode_tree(data))
        tree = Tree(entries, {e.name: e for e in entries})
        self.cache.put(oid, tree)
        return tree

    def entries(self, oid: str) -> tuple[TreeEntry, ...]:
        return self.tree(oid).entries

    def find(self, root: str, path: str) -> TreeEntry | None:
        """The entry at ``path`` (no leading slash), or None. ``""`` is the root."""
        if path == "":
            return TreeEntry(name="", oid=root, is_dir=True)
        current = root
        parts = path.split("/")
        for i, part in enumerate(parts):
            match = self.tree(current).by_name.get(part)
            if match is None:
                return None
            if i == len(parts) - 1:
                return match
            if not match.is_dir:
                return None
            current = match.oid
        return None

    def walk(self, tree: str, prefix: str, *, recursive: bool) -> Iterator[tuple[str, TreeEntry]]:
        """(path, entry) pairs under a tree, depth first, directories before contents."""
        for entry in self.entries(tree):
            path = f"{prefix}{entry.name}"
            yield path, entry
            if recursive and entry.is_dir:
                yield from self.walk(entry.oid, path + "/", recursive=True)

    def describe(self, items: Iterable[tuple[str, TreeEntry]]) -> list[Entry]:
        """Attach sizes and LFS data to file entries, a batch at a time."""
        items = list(items)
        blobs: dict[str, FileBlob] = {}
        oids = sorted({e.oid for _, e in items if not e.is_dir})
        for start in range(0, len(oids), 500):
            batch = oids[start : start + 500]
            for blob in self.session.scalars(select(FileBlob).where(FileBlob.oid.in_(batch))):
                blobs[blob.oid] = blob
        out: list[Entry] = []
        for path, e in items:
            if e.is_dir:
                out.append(DirInfo(path=path, oid=e.oid))
            else:
                b = blobs[e.oid]
                out.append(FileInfo(path=path, oid=e.oid, size=b.size, sha256=b.sha256, lfs=b.lfs))
        return out

    def file(self, root: str, path: str) -> FileInfo | None:
        entry = self.find(root, path)
        if entry is None or entry.is_dir:
            return None
        described = self.describe([(path, entry)])[0]
        assert isinstance(described, FileInfo)
        return described
