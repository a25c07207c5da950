"""Lineage edges, licence checks and per-namespace licence policies

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lineage_edges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("child_commit", sa.String(length=40), nullable=False),
        sa.Column("parent_kind", sa.String(length=16), nullable=False),
        sa.Column("parent_ref", sa.String(length=200), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("parent_commit", sa.String(length=40), nullable=True),
        sa.Column("relation", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["child_id"], ["repos.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["parent_id"], ["repos.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_lineage_edges_child_id", "lineage_edges", ["child_id"])
    op.create_index("ix_lineage_edges_parent_id", "lineage_edges", ["parent_id"])
    op.create_table(
        "licence_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("commit_oid", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("policy", sa.String(length=8), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["repo_id"], ["repos.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_licence_checks_repo_id", "licence_checks", ["repo_id"])
    op.create_table(
        "licence_policies",
        sa.Column("namespace", sa.String(length=96), nullable=False),
        sa.Column("policy", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("namespace"),
    )


def downgrade() -> None:
    op.drop_table("licence_policies")
    op.drop_index("ix_licence_checks_repo_id", table_name="licence_checks")
    op.drop_table("licence_checks")
    op.drop_index("ix_lineage_edges_parent_id", table_name="lineage_edges")
    op.drop_index("ix_lineage_edges_child_id", table_name="lineage_edges")
    op.drop_table("lineage_edges")
