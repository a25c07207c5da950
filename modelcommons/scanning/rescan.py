"""``commons scan --all``: scan every stored blob once, after a scanner changed.

The blobs: every file at every branch and tag head of every repository, plus every
blob scanned before (under the name it was scanned as). Each (blob, name profile)
is scanned once however many repositories and revisions hold it; by default only
those without a result from this scanner version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sqlalchemy import select

from ..db.database import Database
from ..db.pipeline_tables import BlobScan
from ..db.schema import Commit, Ref
from ..storage.blobs import BlobStore
from ..storage.trees import FileInfo, TreeCache, TreeReader
from . import store
from .report import SCANNER_VERSION

Target = tuple[str, str, int]  # sha256, a path it is stored under, size


def targets(db: Database, *, everything: bool = False) -> list[Target]:
    """What to scan: one (blob, profile), the first path seen; ``everything``
    includes blobs already scanned by this version."""
    found: dict[store.Key, Target] = {}
    cache = TreeCache()
    with db.read() as session:
        for row in session.scalars(select(BlobScan)):
            if everything or row.scanner_version != SCANNER_VERSION:
                found.setdefault((row.sha256, row.profile), (row.sha256, row.name, row.size))
        done = {
            (sha, prof)
            for sha, prof, version in session.execute(
                select(BlobScan.sha256, BlobScan.profile, BlobScan.scanner_version)
            )
            if version == SCANNER_VERSION and not everything
        }
        reader = TreeReader(session, cache)
        trees = session.execute(
            select(Commit.tree_oid)
            .join(Ref, (Ref.repo_id == Commit.repo_id) & (Ref.target == Commit.oid))
            .distinct()
        ).scalars()
        for tree in trees:
            for info in _files(reader, tree):
                k = store.key(info.sha256, info.path)
                if k not in done:
                    found.setdefault(k, (info.sha256, info.path, info.size))
    return list(found.values())


def _files(reader: TreeReader, tree: str) -> Iterator[FileInfo]:
    batch = []
    for path, entry in reader.walk(tree, "", recursive=True):
        if not entry.is_dir:
            batch.append((path, entry))
        if len(batch) >= 500:
            yield from (i for i in reader.describe(batch) if isinstance(i, FileInfo))
            batch = []
    yield from (i for i in reader.describe(batch) if isinstance(i, FileInfo))


def rescan(
    db: Database,
    blobs: BlobStore,
    work: list[Target],
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Scan each target, one transaction per result; returns counts by status."""
    counts: dict[str, int] = {}
    for sha256, path, size in work:
        if blobs.exists(sha256):
            report, seconds = store.scan_blob(blobs, sha256, path, size)
            with db.write() as session:
                store.record(session, sha256, path, size, report, seconds)
            counts[report.status] = counts.get(report.status, 0) + 1
        else:
            counts["missing"] = counts.get("missing", 0) + 1
        if progress:
            progress(size or 1)
    return counts
