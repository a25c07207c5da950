"""Organisations (and users) whose new repositories are private unless asked otherwise

Revision ID: 0027
Revises: 0026
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not a batch: SQLite's batch mode copies the table and drops the
# old one, which every table that references accounts forbids.
def upgrade() -> None:
    op.add_column(
        "accounts",
        sa.Column("private_by_default", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.execute("ALTER TABLE accounts DROP COLUMN private_by_default")
