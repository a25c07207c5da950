"""Account names unique whatever their letter case

Revision ID: 0011
Revises: 0010

Until now ``alice`` and ``ALICE`` could both sign up, while repository names
already clashed case-insensitively. A unique index on ``lower(name)`` makes them
one name. Existing accounts whose names differ only in case stop the upgrade,
which changes nothing and names them with the statements that rename the newer
ones; run them, then upgrade again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from modelcommons.db.database import MigrationRefused

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _free_name(taken: set[str], name: str, account_id: int) -> str:
    """A suggestion for a renamed account: the name and its id, unused so far."""
    candidate, n = f"{name}-{account_id}"[:96], 1
    while candidate.lower() in taken:
        candidate, n = f"{name}-{account_id}-{n}"[:96], n + 1
    taken.add(candidate.lower())
    return candidate


def duplicates_report(conn: sa.Connection) -> str | None:
    """What blocks the index, and how to resolve it; None when nothing does."""
    rows = conn.execute(
        sa.text(
            "SELECT a.id, a.name, a.kind, "
            "(SELECT count(*) FROM repos r WHERE r.owner_id = a.id) "
            "FROM accounts a WHERE lower(a.name) IN "
            "(SELECT lower(name) FROM accounts GROUP BY lower(name) HAVING count(*) > 1) "
            "ORDER BY lower(a.name), a.id"
        )
    ).all()
    if not rows:
        return None
    taken = {name.lower() for (name,) in conn.execute(sa.text("SELECT name FROM accounts"))}
    groups: dict[str, list[tuple[int, str, str, int]]] = {}
    for account_id, name, kind, repos in rows:
        groups.setdefault(name.lower(), []).append((account_id, name, kind, int(repos)))
    lines = [
        "Account names are now unique whatever their letter case, and these accounts "
        "have names that differ only in case:",
    ]
    statements = []
    for group in groups.values():
        described = ", ".join(
            f"{name!r} (id {i}, {kind}, {repos} repositories)" for i, name, kind, repos in group
        )
        lines.append(f"  - {described}")
        for account_id, name, _kind, _repos in group[1:]:  # the oldest keeps its name
            new = _free_name(taken, name, account_id)
            statements += [
                f"UPDATE accounts SET name = {_sql_string(new)} WHERE id = {account_id};",
                f"UPDATE repos SET namespace = {_sql_string(new)} WHERE owner_id = {account_id};",
                f"UPDATE licence_policies SET namespace = {_sql_string(new)} "
                f"WHERE namespace = {_sql_string(name)};",
            ]
    lines += [
        "Nothing was changed. Rename all but one account of each group (their owners "
        "sign in and are addressed by the new name; their repositories move with them), "
        "for instance keeping the oldest and renaming the others with these statements, "
        "run in one transaction while the hub is stopped:",
        "",
        "BEGIN;",
        *statements,
        "COMMIT;",
        "",
        "Then run the upgrade again (start the hub, or any `commons` command), and "
        "`commons search reindex` so that search finds the moved repositories.",
    ]
    return "\n".join(lines)


def upgrade() -> None:
    report = duplicates_report(op.get_bind())
    if report is not None:
        raise MigrationRefused(report)
    op.create_index("uq_accounts_name_lower", "accounts", [sa.text("lower(name)")], unique=True)


def downgrade() -> None:
    op.drop_index("uq_accounts_name_lower", table_name="accounts")
