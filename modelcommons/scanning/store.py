"""One scan result per stored blob and name profile (see ``scan.profile``): a blob
shared by many repositories and commits is scanned once."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from typing import cast

from sqlalchemy import Table, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..clock import utcnow
from ..db.pipeline_tables import BlobScan
from ..storage.blobs import BlobStore
from .report import SCANNER_VERSION, FileReport
from .scan import profile, timed_scan

Key = tuple[str, str]  # (sha256, profile)


def key(sha256: str, path: str) -> Key:
    return sha256, profile(path)


def lookup(session: Session, keys: Iterable[Key]) -> dict[Key, BlobScan]:
    wanted = sorted(set(keys))
    found: dict[Key, BlobScan] = {}
    for start in range(0, len(wanted), 300):
        chunk = wanted[start : start + 300]
        query = select(BlobScan).where(tuple_(BlobScan.sha256, BlobScan.profile).in_(chunk))
        for row in session.scalars(query):
            found[(row.sha256, row.profile)] = row
    return found


def needs_scan(row: BlobScan | None) -> bool:
    return row is None or row.scanner_version != SCANNER_VERSION


def record(
    session: Session, sha256: str, path: str, size: int, report: FileReport, seconds: float
) -> None:
    """Store (or replace) the result for the blob read as ``path``: concurrent
    scanners of one blob write the same answer, so the last one wins."""
    values = {
        "sha256": sha256,
        "profile": profile(path),
        "name": path,
        "scanner_version": SCANNER_VERSION,
        "status": report.status,
        "kind": report.kind,
        "report": report.to_json(),
        "size": size,
        "seconds": seconds,
        "scanned_at": utcnow(),
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(cast(Table, BlobScan.__table__)).values(**values)
    update = {k: stmt.excluded[k] for k in values if k not in ("sha256", "profile", "name")}
    session.execute(stmt.on_conflict_do_update(index_elements=["sha256", "profile"], set_=update))


def scan_blob(blobs: BlobStore, sha256: str, path: str, size: int) -> tuple[FileReport, float]:
    """Scan the stored blob (read from the store, never whole into memory). The
    formats' scanners seek; a store whose stream cannot (S3: one GET) is copied to a
    temporary file first."""
    with blobs.open(sha256) as f:
        if f.seekable():
            return timed_scan(f, path, size)
        with tempfile.TemporaryFile(prefix="commons-scan-") as copy:
            shutil.copyfileobj(f, copy, 4 * 1024 * 1024)
            copy.seek(0)
            return timed_scan(copy, path, size)
