"""One scan result per stored blob: looked up by sha256, written once per scanner
version (a blob shared by many repositories and commits is scanned once)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..clock import utcnow
from ..db.pipeline_tables import BlobScan
from ..storage.blobs import BlobStore
from .report import SCANNER_VERSION, FileReport
from .scan import timed_scan


def lookup(session: Session, sha256s: Iterable[str]) -> dict[str, BlobScan]:
    wanted = sorted(set(sha256s))
    found: dict[str, BlobScan] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for row in session.scalars(select(BlobScan).where(BlobScan.sha256.in_(chunk))):
            found[row.sha256] = row
    return found


def needs_scan(row: BlobScan | None) -> bool:
    return row is None or row.scanner_version != SCANNER_VERSION


def record(session: Session, sha256: str, size: int, report: FileReport, seconds: float) -> None:
    """Store (or replace) the result for ``sha256``: concurrent scanners of one blob
    write the same answer, so the last one wins."""
    values = {
        "sha256": sha256,
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
    update = {k: stmt.excluded[k] for k in values if k != "sha256"}
    session.execute(stmt.on_conflict_do_update(index_elements=["sha256"], set_=update))


def scan_blob(blobs: BlobStore, sha256: str, path: str, size: int) -> tuple[FileReport, float]:
    """Scan the stored blob (read from the store, never whole into memory)."""
    with blobs.open(sha256) as f:
        return timed_scan(f, path, size)
