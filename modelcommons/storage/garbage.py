"""Garbage collection: what deleted repositories leave behind, found and removed.

Deleting a repository drops its refs, commits and LFS links (``repos.delete_repo``)
but nothing it may share by content with other repositories: git trees and commit
objects (``git_objects``), file entries (``file_blobs``), LFS objects
(``lfs_objects``) and the bytes in the blob store. :func:`collect` removes what no
repository needs any more.

**What is live.** Every commit of every repository, not only branch heads, so that
all history stays downloadable, and everything its tree reaches: subtrees, file
entries and the blobs they name (``file_blobs.sha256``, inline and LFS files alike).
Besides, every LFS object still linked to a repository (``repo_lfs_objects``: uploaded
there and perhaps not committed yet). An ``lfs_objects`` row is kept when its object
is live. Nothing else reads the blob store: trees are parsed from ``git_objects``
(the tree cache only holds parsed copies of live ones), the search index keeps its
own text, and the audit anchors are a file in the data dir. Scan results
(``blob_scans``) of blobs that are not live go with the other rows.

**How, and memory.** Marks live in temporary tables of one database connection, so
the process holds one batch at a time whatever the size of the hub: trees are walked
breadth first, a batch of tree ids at a time, and a tree already marked is skipped
with everything below it (trees are content-addressed). The blob store is listed a
fan-out folder at a time and each batch is checked against the live set.

1. Mark, locking nothing: the hub keeps serving and committing.
2. In one transaction holding the write lock (SQLite: ``BEGIN IMMEDIATE``;
   PostgreSQL: ``git_objects``, ``file_blobs`` and ``lfs_objects`` in SHARE ROW
   EXCLUSIVE mode, in the order commits write them, so readers go on and writers
   wait), mark what was committed meanwhile, note the live sha256s, and drop the
   rows that are not live.
3. Remove each blob that is not live and older than the grace period.

**Concurrent uploads.** Bytes reach the store before the transaction that references
them: an inline file before its commit, an LFS object before its link. So only blobs
older than the grace period (24 hours by default, by modification time) are removed,
and ``BlobStore.promote`` of bytes already stored makes the blob young again:
anything referenced after step 2 was promoted during its upload, and
``remove_if_older`` either sees the refreshed time or has already taken the blob
away, in which case the upload stores its own copy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    MetaData,
    String,
    Table,
    delete,
    exists,
    func,
    insert,
    select,
    text,
    union,
)

from ..db.database import Database
from ..db.pipeline_tables import BlobScan
from ..db.schema import (
    Commit,
    FileBlob,
    GitObject,
    LfsObject,
    RepoLfsObject,
    XetDedup,
    XetFile,
    XetXorb,
    XetXorbRepo,
    XetXorbUploader,
    xet_term_xorbs,
)
from .blobs import BlobStore, StoredObject
from .gitobjects import decode_tree

DEFAULT_GRACE_HOURS = 24.0
#: Ids per query (an IN list) and blobs per check against the live set.
BATCH = 500

_temp = MetaData()
#: Reachable git ids: commits, trees and file entries (blob ids).
_marks = Table("gc_marks", _temp, Column("oid", String(40), primary_key=True), prefixes=["TEMP"])
#: Marked trees whose entries are still to be read.
_queue = Table("gc_queue", _temp, Column("oid", String(40), primary_key=True), prefixes=["TEMP"])
#: sha256s of live blobs (step 2 onwards).
_live = Table("gc_live", _temp, Column("sha256", String(64), primary_key=True), prefixes=["TEMP"])


@dataclasses.dataclass
class Report:
    """What a collection removed, or would remove (``dry_run``)."""

    dry_run: bool
    grace_seconds: float
    git_objects: int = 0
    file_blobs: int = 0
    lfs_objects: int = 0
    #: Blobs looked at in the store.
    scanned: int = 0
    removed: int = 0
    removed_bytes: int = 0
    #: Not live, but inside the grace period (or promoted again while we looked).
    young: int = 0
    young_bytes: int = 0
    #: Xet files and xorbs no longer used (their rows; the xorbs' blobs are swept).
    xet_files: int = 0
    xet_xorbs: int = 0
    #: Scan results of blobs no longer live (``blob_scans``).
    blob_scans: int = 0

    @property
    def rows(self) -> int:
        return (
            self.git_objects
            + self.file_blobs
            + self.lfs_objects
            + self.xet_files
            + self.xet_xorbs
            + self.blob_scans
        )


def collect(
    db: Database,
    blobs: BlobStore,
    *,
    grace_seconds: float = DEFAULT_GRACE_HOURS * 3600,
    dry_run: bool = False,
    progress: Callable[[Report], None] | None = None,
) -> Report:
    """Drop unreachable rows and remove unreferenced blobs older than ``grace_seconds``.

    With ``dry_run`` nothing is changed and nothing is locked; the report says what
    would have been removed. ``progress`` is called after each batch of blobs.
    """
    if grace_seconds < 0:
        raise ValueError("The grace period cannot be negative.")
    report = Report(dry_run=dry_run, grace_seconds=grace_seconds)
    cutoff = time.time() - grace_seconds
    with db.engine.connect() as conn:
        with conn.begin():
            _create_temp_tables(conn, db.is_sqlite)
        try:
            with conn.begin():
                _mark(conn)
            if dry_run:
                with conn.begin():
                    _note_live(conn, report, cutoff)
                    _count_dead_rows(conn, report)
            else:
                with _write_lock(conn, db.is_sqlite):
                    _mark(conn)  # what was committed during the first pass
                    _note_live(conn, report, cutoff)
                    _drop_dead_rows(conn, report)
            _sweep(conn, blobs, report, cutoff, progress)
        finally:
            with conn.begin():
                _drop_temp_tables(conn, db.is_sqlite)
    return report


# -- the database ---------------------------------------------------------------


def _create_temp_tables(conn: Connection, sqlite: bool) -> None:
    _drop_temp_tables(conn, sqlite)
    for table in (_marks, _queue, _live):
        table.create(conn)


def _drop_temp_tables(conn: Connection, sqlite: bool) -> None:
    schema = "temp" if sqlite else "pg_temp"  # never a real table of the same name
    for table in (_marks, _queue, _live):
        conn.execute(text(f"DROP TABLE IF EXISTS {schema}.{table.name}"))


@contextlib.contextmanager
def _write_lock(conn: Connection, sqlite: bool) -> Iterator[None]:
    """A transaction that no commit, LFS upload or other collection can overlap."""
    if sqlite:
        conn.execution_options(sqlite_begin="IMMEDIATE")  # see database.py
    try:
        with conn.begin():
            if not sqlite:
                conn.execute(
                    text(
                        "LOCK TABLE git_objects, file_blobs, lfs_objects, xet_xorbs, "
                        "xet_files IN SHARE ROW EXCLUSIVE MODE"
                    )
                )
            yield
    finally:
        if sqlite:
            conn.execution_options(sqlite_begin="DEFERRED")


def _mark(conn: Connection) -> None:
    """Mark every commit not marked yet and everything its tree reaches."""
    conn.execute(
        insert(_marks).from_select(
            ["oid"],
            select(Commit.oid).distinct().where(~exists().where(_marks.c.oid == Commit.oid)),
        )
    )
    roots = (
        select(Commit.tree_oid).distinct().where(~exists().where(_marks.c.oid == Commit.tree_oid))
    )
    conn.execute(insert(_queue).from_select(["oid"], roots))
    conn.execute(insert(_marks).from_select(["oid"], select(_queue.c.oid)))
    while batch := list(conn.scalars(select(_queue.c.oid).limit(BATCH))):
        conn.execute(delete(_queue).where(_queue.c.oid.in_(batch)))
        trees: set[str] = set()
        files: set[str] = set()
        rows = conn.scalars(
            select(GitObject.data).where(GitObject.oid.in_(batch), GitObject.kind == "tree")
        )
        for data in rows:
            for entry in decode_tree(data):
                (trees if entry.is_dir else files).add(entry.oid)
        new = set(trees | files)
        for chunk in _chunks(sorted(new)):
            new.difference_update(conn.scalars(select(_marks.c.oid).where(_marks.c.oid.in_(chunk))))
        _insert(conn, _marks, "oid", new)
        _insert(conn, _queue, "oid", new & trees)


def _note_live(conn: Connection, report: Report | None = None, cutoff: float = 0.0) -> None:
    """Note the live sha256s. With a ``report``, also drop (or, in a dry run, count)
    the Xet files and xorbs that are not live (see ``_xet``)."""
    reached = select(FileBlob.sha256).join(_marks, _marks.c.oid == FileBlob.oid)
    linked = select(RepoLfsObject.oid)
    conn.execute(insert(_live).from_select(["sha256"], union(reached, linked)))
    if report is not None:
        _xet(conn, report, dt.datetime.fromtimestamp(cutoff, dt.UTC).replace(tzinfo=None))
    conn.execute(insert(_live).from_select(["sha256"], select(XetXorb.blob).distinct()))


def _xet(conn: Connection, report: Report, cutoff: dt.datetime) -> None:
    """Xet files and xorbs. A file lives while its sha256 does (an LFS object some
    repository links or some commit reaches) or while it is younger than the grace
    period; a xorb lives while a live file uses it or while it is young. What is not
    live loses its rows here, and its blob then goes with the sweep."""
    used: set[str] = set()
    dead_files: list[str] = []
    last = ""
    while True:
        rows = conn.execute(
            select(XetFile.hash, XetFile.sha256, XetFile.terms, XetFile.created_at)
            .where(XetFile.hash > last)
            .order_by(XetFile.hash)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        last = rows[-1][0]
        shas = sorted({r[1] for r in rows})
        live = set(conn.scalars(select(_live.c.sha256).where(_live.c.sha256.in_(shas))))
        for name, sha256, terms, created in rows:
            if sha256 in live or created > cutoff:
                used |= xet_term_xorbs(terms)
            else:
                dead_files.append(name)
    dead_xorbs = [
        x
        for x in conn.scalars(select(XetXorb.hash).where(XetXorb.created_at <= cutoff))
        if x not in used
    ]
    report.xet_files, report.xet_xorbs = len(dead_files), len(dead_xorbs)
    if report.dry_run:
        return
    for chunk in _chunks(dead_files):
        conn.execute(delete(XetFile).where(XetFile.hash.in_(chunk)))
    for chunk in _chunks(dead_xorbs):
        conn.execute(delete(XetDedup).where(XetDedup.xorb.in_(chunk)))
        conn.execute(delete(XetXorbRepo).where(XetXorbRepo.xorb.in_(chunk)))
        conn.execute(delete(XetXorbUploader).where(XetXorbUploader.xorb.in_(chunk)))
        conn.execute(delete(XetXorb).where(XetXorb.hash.in_(chunk)))


_DEAD_GIT = ~exists().where(_marks.c.oid == GitObject.oid)
_DEAD_FILE = ~exists().where(_marks.c.oid == FileBlob.oid)
_DEAD_LFS = ~exists().where(_live.c.sha256 == LfsObject.oid)
_DEAD_SCAN = ~exists().where(_live.c.sha256 == BlobScan.sha256)


def _count_dead_rows(conn: Connection, report: Report) -> None:
    def count(
        model: type[GitObject | FileBlob | LfsObject | BlobScan], dead: ColumnElement[bool]
    ) -> int:
        return conn.scalar(select(func.count()).select_from(model).where(dead)) or 0

    report.git_objects = count(GitObject, _DEAD_GIT)
    report.file_blobs = count(FileBlob, _DEAD_FILE)
    report.lfs_objects = count(LfsObject, _DEAD_LFS)
    report.blob_scans = count(BlobScan, _DEAD_SCAN)


def _drop_dead_rows(conn: Connection, report: Report) -> None:
    report.git_objects = conn.execute(delete(GitObject).where(_DEAD_GIT)).rowcount
    report.file_blobs = conn.execute(delete(FileBlob).where(_DEAD_FILE)).rowcount
    report.lfs_objects = conn.execute(delete(LfsObject).where(_DEAD_LFS)).rowcount
    # A scan result goes with its blob's last reference, whether the bytes go now or
    # after the grace period: a commit that references them later (made after this
    # transaction, since commits wait for it) finds no result and scans them again.
    report.blob_scans = conn.execute(delete(BlobScan).where(_DEAD_SCAN)).rowcount


def _insert(conn: Connection, table: Table, column: str, values: Iterable[str]) -> None:
    for chunk in _chunks(sorted(values)):
        conn.execute(insert(table), [{column: v} for v in chunk])


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]


# -- the blob store -------------------------------------------------------------


def _sweep(
    conn: Connection,
    blobs: BlobStore,
    report: Report,
    cutoff: float,
    progress: Callable[[Report], None] | None,
) -> None:
    pending: list[StoredObject] = []
    for batch in blobs.list_objects():
        pending += batch
        if len(pending) >= BATCH:
            _sweep_batch(conn, blobs, report, cutoff, pending)
            pending = []
            if progress:
                progress(report)
    if pending:
        _sweep_batch(conn, blobs, report, cutoff, pending)
        if progress:
            progress(report)


def _sweep_batch(
    conn: Connection, blobs: BlobStore, report: Report, cutoff: float, objects: list[StoredObject]
) -> None:
    report.scanned += len(objects)
    live: set[str] = set()
    with conn.begin():
        for chunk in _chunks([o.sha256 for o in objects]):
            live.update(conn.scalars(select(_live.c.sha256).where(_live.c.sha256.in_(chunk))))
    for obj in objects:
        if obj.sha256 in live:
            continue
        freed: int | None = None
        if obj.modified <= cutoff:
            freed = obj.size if report.dry_run else blobs.remove_if_older(obj.sha256, cutoff)
        if freed is None:
            report.young += 1
            report.young_bytes += obj.size
        else:
            report.removed += 1
            report.removed_bytes += freed
