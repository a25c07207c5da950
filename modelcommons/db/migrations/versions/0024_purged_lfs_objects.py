"""LFS objects deleted for good from a repository (permanently_delete_lfs_files)

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "purged_lfs_objects",
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("oid", sa.String(length=64), nullable=False),
        sa.Column("purged_by", sa.String(length=96), nullable=False),
        sa.Column("purged_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["repo_id"], ["repos.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("repo_id", "oid"),
    )
    op.create_index("ix_purged_lfs_objects_oid", "purged_lfs_objects", ["oid"])


def downgrade() -> None:
    op.drop_index("ix_purged_lfs_objects_oid", table_name="purged_lfs_objects")
    op.drop_table("purged_lfs_objects")
