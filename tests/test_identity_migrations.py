"""Upgrading a database made before account names ignored case (0011), on SQLite and
PostgreSQL.

Each test builds a database at revision 0010 with Alembic, writes rows as the hub
of that time did, and upgrades it the way an operator would: by running a
``commons`` command (or in-process, to read the migration's log).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import insert, select, text

from modelcommons.database import MIGRATIONS, Database
from modelcommons.schema import Account, Repo

from .conftest import ROOT, PostgresDatabase


class OldDatabase:
    """A database at revision 0010, in a data dir of its own."""

    def __init__(self, backend: str, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.pg = PostgresDatabase() if backend == "postgresql" else None
        self.url = self.pg.url if self.pg else f"sqlite:///{data_dir / 'commons.db'}"
        self.db = Database(self.url)
        self.alembic("upgrade", "0010")

    def alembic(self, action: str, revision: str) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            getattr(command, action)(cfg, revision)

    def revision(self) -> str:
        with self.db.read() as session:
            return str(session.scalar(text("SELECT version_num FROM alembic_version")))

    def account(self, name: str, kind: str = "user") -> int:
        with self.db.write() as session:
            row = session.execute(
                insert(Account).values(name=name, kind=kind, fullname=name).returning(Account.id)
            )
            return int(row.scalar_one())

    def commons(self, *args: str) -> subprocess.CompletedProcess[str]:
        extra = ["--database-url", self.url] if self.pg else []
        return subprocess.run(
            [sys.executable, "-m", "modelcommons", *args, "--data-dir", str(self.data_dir), *extra],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )

    def close(self) -> None:
        self.db.dispose()
        if self.pg:
            self.pg.drop()


@pytest.fixture(params=["sqlite", "postgresql"])
def old(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OldDatabase]:
    database = OldDatabase(request.param, tmp_path)
    yield database
    database.close()


def test_names_that_differ_only_in_case_stop_the_upgrade(old: OldDatabase) -> None:
    alice = old.account("alice")
    impostor = old.account("ALICE")
    old.account("Lab", "org")
    lab = old.account("lab", "org")
    with old.db.write() as session:
        session.execute(
            insert(Repo).values(kind="model", namespace="ALICE", name="m", owner_id=impostor)
        )

    refused = old.commons("token", "list", "alice")
    assert refused.returncode == 1, refused.stderr
    message = refused.stderr
    assert "Error: the database was not upgraded." in message
    assert "Traceback" not in message
    assert (
        f"'alice' (id {alice}, user, 0 repositories), 'ALICE' (id {impostor}, user, 1 repositories)"
        in message
    )
    assert "'Lab'" in message and f"'lab' (id {lab}, org" in message
    assert old.revision() == "0010"  # nothing changed, not even the later migrations

    # The statements it suggests resolve it: the newer account of each pair is renamed,
    # with its repositories.
    statements = [line for line in message.splitlines() if line.startswith("UPDATE ")]
    assert f"UPDATE accounts SET name = 'ALICE-{impostor}' WHERE id = {impostor};" in statements
    with old.db.write() as session:
        for statement in statements:
            session.execute(text(statement))
    upgraded = old.commons("token", "list", "alice")
    assert upgraded.returncode == 0, upgraded.stderr
    with old.db.read() as session:
        assert session.scalar(select(Repo.namespace).where(Repo.owner_id == impostor)) == (
            f"ALICE-{impostor}"
        )
    # And from now on the index keeps it so.
    made = old.commons("user", "create", "Alice")
    assert made.returncode == 1 and "already taken" in made.stderr
