"""Xet: verified xorbs, their repositories, dedup index and registered files

Revision ID: 0017
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "xet_xorbs",
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("blob", sa.String(length=64), nullable=False),
        sa.Column("num_chunks", sa.Integer(), nullable=False),
        sa.Column("data_end", sa.BigInteger(), nullable=False),
        sa.Column("unpacked", sa.BigInteger(), nullable=False),
        sa.Column("chunks", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("hash"),
    )
    op.create_index("ix_xet_xorbs_blob", "xet_xorbs", ["blob"])
    op.create_table(
        "xet_xorb_repos",
        sa.Column("xorb", sa.String(length=64), nullable=False),
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["repo_id"], ["repos.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("xorb", "repo_id"),
    )
    op.create_index("ix_xet_xorb_repos_repo_id", "xet_xorb_repos", ["repo_id"])
    op.create_table(
        "xet_dedup",
        sa.Column("chunk", sa.String(length=64), nullable=False),
        sa.Column("xorb", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chunk", "xorb"),
    )
    op.create_table(
        "xet_files",
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("terms", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("hash"),
    )
    op.create_index("ix_xet_files_sha256", "xet_files", ["sha256"])


def downgrade() -> None:
    op.drop_table("xet_files")
    op.drop_table("xet_dedup")
    op.drop_table("xet_xorb_repos")
    op.drop_table("xet_xorbs")
