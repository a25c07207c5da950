"""What a commit changed: tree comparison and text diffs.

A commit page costs the server a bounded amount whatever the commit holds:
at most :data:`MAX_FILES` files are compared, text diffs are made only of files
up to :data:`MAX_DIFF_BYTES` and :data:`MAX_FILE_LINES` lines (difflib's work
grows with the product of the two sides' lines), at most
:data:`MAX_PAGE_BYTES` and :data:`MAX_PAGE_LINES` of text are compared per page,
and each shown line is cut to :data:`MAX_LINE_CHARS` characters.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
from collections.abc import Callable

from ...storage.blobs import BlobStore
from ...storage.gitobjects import EMPTY_TREE_ID, TreeEntry
from ...storage.trees import FileInfo, TreeReader

MAX_DIFF_BYTES = 256 * 1024
MAX_DIFF_LINES = 2000
MAX_FILES = 300
MAX_FILE_LINES = 5000
MAX_PAGE_BYTES = 2 * 1024 * 1024
MAX_PAGE_LINES = 20_000
MAX_LINE_CHARS = 1000


@dataclasses.dataclass
class Change:
    path: str
    status: str  # added | modified | deleted
    lines: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    note: str = ""


def changed_paths(
    reader: TreeReader, old: str | None, new: str, prefix: str = ""
) -> list[tuple[str, TreeEntry | None, TreeEntry | None]]:
    """(path, old entry, new entry) for files that differ; equal subtrees are skipped."""
    before = {e.name: e for e in reader.entries(old)} if old else {}
    after = {e.name: e for e in reader.entries(new)}
    out: list[tuple[str, TreeEntry | None, TreeEntry | None]] = []
    for name in sorted(before.keys() | after.keys()):
        a, b = before.get(name), after.get(name)
        if a is not None and b is not None and a.oid == b.oid:
            continue
        path = prefix + name
        a_dir = a is not None and a.is_dir
        b_dir = b is not None and b.is_dir
        if a_dir or b_dir:
            out += changed_paths(
                reader,
                a.oid if a_dir and a else None,
                b.oid if b_dir and b else EMPTY_TREE_ID,
                path + "/",
            )
            if a is not None and not a_dir:
                out.append((path, a, None))
            if b is not None and not b_dir:
                out.append((path, None, b))
        else:
            out.append((path, a, b))
        if len(out) >= MAX_FILES:
            break
    return out


def _text(blobs: BlobStore, info: FileInfo | None) -> list[str] | None:
    if info is None:
        return []
    if info.lfs or info.size > MAX_DIFF_BYTES:
        return None
    with blobs.open(info.sha256) as f:
        data = f.read()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return None


@dataclasses.dataclass
class _Budget:
    """What is left of a page's text comparison."""

    bytes: int = MAX_PAGE_BYTES
    lines: int = MAX_PAGE_LINES

    def take(self, *files: FileInfo | None) -> bool:
        size = sum(f.size for f in files if f is not None and not f.lfs)
        if size > self.bytes:
            return False
        self.bytes -= size
        return True


def describe(
    reader: TreeReader,
    blobs: BlobStore,
    old_tree: str | None,
    new_tree: str,
    *,
    listed: Callable[[str], bool],
    readable: Callable[[str], bool],
) -> list[Change]:
    """The changes between two trees, as a caller sees them: paths that ``listed``
    refuses are left out, and the contents of those ``readable`` refuses are never read.
    The route gets both from ``access.content``."""
    changes: list[Change] = []
    budget = _Budget()
    for path, a, b in changed_paths(reader, old_tree, new_tree):
        if not listed(path):
            continue
        status = "added" if a is None else "deleted" if b is None else "modified"
        old = reader.describe([(path, a)])[0] if a else None
        new = reader.describe([(path, b)])[0] if b else None
        assert old is None or isinstance(old, FileInfo)
        assert new is None or isinstance(new, FileInfo)
        change = Change(path, status)
        changes.append(change)
        sizes = " → ".join(str(x.size) + " bytes" for x in (old, new) if x is not None)
        if not readable(path):
            change.note = f"Contents not shown: you may not download this file ({sizes})."
            continue
        if not budget.take(old, new):
            change.note = f"Not compared: this commit's diff is too large to show ({sizes})."
            continue
        before, after = _text(blobs, old), _text(blobs, new)
        if before is None or after is None:
            change.note = f"Binary or large file ({sizes}); no text diff."
            continue
        if max(len(before), len(after)) > MAX_FILE_LINES:
            change.note = f"Not compared: more than {MAX_FILE_LINES} lines ({sizes})."
            continue
        if len(before) + len(after) > budget.lines:
            change.note = f"Not compared: this commit's diff is too large to show ({sizes})."
            continue
        budget.lines -= len(before) + len(after)
        diff = difflib.unified_diff(before, after, lineterm="", n=3)
        for line in itertools.islice(diff, 2, None):  # past the ---/+++ lines
            kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "ctx")
            if len(line) > MAX_LINE_CHARS:
                line = line[:MAX_LINE_CHARS] + " … (line cut)"
            change.lines.append((kind, line))
            if len(change.lines) >= MAX_DIFF_LINES:
                change.lines.append(("hunk", "… diff truncated"))
                break
    return changes
