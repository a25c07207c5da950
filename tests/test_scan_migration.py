"""Migrations 0015 (pipeline steps, blob scans, scan policies) and 0025 (file_blobs by
sha256) up, down (with every migration after 0014) and up again, on SQLite and
PostgreSQL, and the tables work as the scanner's store uses them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect

from modelcommons.scanning import FileReport, store

from .test_identity_migrations import OldDatabase


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OldDatabase]:
    database = OldDatabase(request.param, tmp_path)
    yield database
    database.close()


def test_up_down_up(db: OldDatabase) -> None:
    db.alembic("upgrade", "head")
    tables = set(inspect(db.db.engine).get_table_names())
    assert {"pipeline_steps", "blob_scans", "scan_policies"} <= tables
    indexes = {i["name"] for i in inspect(db.db.engine).get_indexes("file_blobs")}
    assert "ix_file_blobs_sha256" in indexes
    db.alembic("downgrade", "0014")
    tables = set(inspect(db.db.engine).get_table_names())
    assert not {"pipeline_steps", "blob_scans", "scan_policies"} & tables
    db.alembic("upgrade", "head")

    report = FileReport(kind="pickle")
    report.add("unsafe", "first")
    with db.db.write() as session:
        store.record(session, "a" * 64, "x.pkl", 10, report, 0.5)
    report.findings[0] = report.findings[0].__class__("unsafe", "second")
    with db.db.write() as session:  # a rescan replaces the row (upsert)
        store.record(session, "a" * 64, "y.pkl", 10, report, 0.5)
    with db.db.read() as session:
        rows = store.lookup(session, [("a" * 64, "pkl"), ("a" * 64, "bin")])
    assert list(rows) == [("a" * 64, "pkl")]
    row = rows[("a" * 64, "pkl")]
    assert row.name == "x.pkl" and "second" in row.report and row.status == "unsafe"
