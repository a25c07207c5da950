"""Hash-chained audit log

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=96), nullable=True),
        sa.Column("repo_id", sa.Integer(), nullable=True),
        sa.Column("namespace", sa.String(length=96), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_audit_events_repo_id", "audit_events", ["repo_id"])
    op.create_index("ix_audit_events_namespace", "audit_events", ["namespace"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_namespace", table_name="audit_events")
    op.drop_index("ix_audit_events_repo_id", table_name="audit_events")
    op.drop_table("audit_events")
