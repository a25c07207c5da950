"""Upgrading a database made before account names ignored case (0011) and before
plans held account ids (0012), on SQLite and PostgreSQL.

Each test builds a database at revision 0010 with Alembic, writes rows as the hub
of that time did, and upgrades it the way an operator would: by running a
``commons`` command (or in-process, to read the migration's log).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import insert, select, text

from modelcommons.db.database import MIGRATIONS, Database
from modelcommons.db.schema import Account, ReleasePlan, Repo
from modelcommons.governance import releases

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


def _old_stage(name: str, audience: dict[str, Any], approvals: Any = None) -> dict[str, Any]:
    """A stage as revision 0009's validate_stages stored it."""
    return {
        "name": name,
        "description": "",
        "audience": audience,
        "opens": {"branches": [], "tags": [], "files": ["large/*"]},
        "not_before": None,
        "conditions": {"approvals": approvals, "card_sections": [], "checks": []},
        "auto": False,
    }


def test_plans_keep_who_they_matched_as_account_ids(
    old: OldDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    alice = old.account("alice")
    pat = old.account("pat")
    lab = old.account("lab", "org")
    partners = old.account("partners", "org")
    with old.db.write() as session:
        repo = session.execute(
            insert(Repo)
            .values(kind="model", namespace="lab", name="model", owner_id=lab)
            .returning(Repo.id)
        ).scalar_one()
        stages = [
            _old_stage(
                "partners",
                {
                    "kind": "members",
                    # "Partners" never matched "partners": names were compared exactly.
                    "orgs": ["partners", "ghost-org", "pat", "Partners"],
                    "users": ["pat", "ghost", "lab"],
                },
            ),
            _old_stage(
                "public",
                {"kind": "public", "orgs": [], "users": []},
                {"count": 2, "role": "admin", "org": "reviewers"},
            ),
            _old_stage(
                "again",
                {"kind": "public", "orgs": [], "users": []},
                {"count": 1, "role": "write", "org": "partners"},
            ),
            _old_stage(
                "default",
                {"kind": "owners", "orgs": [], "users": []},
                {"count": 1, "role": "admin", "org": None},
            ),
        ]
        session.execute(
            insert(ReleasePlan).values(
                repo_id=repo, stages=json.dumps(stages), current=-1, status="active"
            )
        )

    caplog.set_level(logging.WARNING, logger="modelcommons.migrations")
    old.db.migrate()
    logged = caplog.text
    for dropped in (
        "dropped org 'ghost-org' from the audience (no account has that name)",
        "dropped org 'pat' from the audience (it is not an organisation)",
        "dropped org 'Partners' from the audience (no account has that name)",
        "dropped user 'ghost' from the audience (no account has that name)",
        "dropped user 'lab' from the audience (it is not a user)",
        "stage 2: the approvals organisation 'reviewers' does not exist",
    ):
        assert "release plan of lab/model" in logged and dropped in logged, logged

    with old.db.read() as session:
        stored = json.loads(session.scalar(select(ReleasePlan.stages)) or "[]")
    assert stored[0]["audience"] == {"kind": "members", "user_ids": [pat], "org_ids": [partners]}
    assert stored[1]["conditions"]["approvals"] == {"count": 2, "role": "admin", "org_id": 0}
    assert stored[2]["conditions"]["approvals"]["org_id"] == partners
    assert stored[3]["conditions"]["approvals"]["org_id"] is None

    # Shown with names again; the missing approvals account as missing.
    with old.db.read() as session:
        plan = session.scalars(select(ReleasePlan)).one()
        shown = releases.shown_stages(session, plan)
    assert shown[0]["audience"] == {"kind": "members", "orgs": ["partners"], "users": ["pat"]}
    assert shown[1]["conditions"]["approvals"]["org"] == "(deleted account)"
    assert shown[2]["conditions"]["approvals"]["org"] == "partners"
    assert alice not in (pat, partners)

    # Downgrading gives names back, the missing account as a name nobody can take.
    old.alembic("downgrade", "0011")
    with old.db.read() as session:
        reverted = json.loads(session.scalar(select(ReleasePlan.stages)) or "[]")
    assert reverted[0]["audience"] == {"kind": "members", "users": ["pat"], "orgs": ["partners"]}
    assert reverted[1]["conditions"]["approvals"]["org"] == "-"
