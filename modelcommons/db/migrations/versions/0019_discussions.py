"""Discussions and pull requests

Revision ID: 0019
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "community_settings",
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("next_num", sa.Integer(), nullable=False),
        sa.Column("discussions_disabled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["repo_id"], ["repos.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("repo_id"),
    )
    op.create_table(
        "discussions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("num", sa.Integer(), nullable=False),
        sa.Column("is_pr", sa.Boolean(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("author", sa.String(length=96), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("merge_commit", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["repo_id"], ["repos.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("repo_id", "num"),
    )
    op.create_index(
        "ix_discussions_repo_status", "discussions", ["repo_id", "status", "num"], unique=False
    )
    op.create_table(
        "discussion_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("discussion_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("author", sa.String(length=96), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("history", sa.Text(), nullable=False),
        sa.Column("edited_by", sa.String(length=96), nullable=True),
        sa.Column("edited_at", sa.DateTime(), nullable=True),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("hidden_by", sa.String(length=96), nullable=True),
        sa.ForeignKeyConstraint(["discussion_id"], ["discussions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_discussion_events_discussion",
        "discussion_events",
        ["discussion_id", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_discussion_events_discussion", table_name="discussion_events")
    op.drop_table("discussion_events")
    op.drop_index("ix_discussions_repo_status", table_name="discussions")
    op.drop_table("discussions")
    op.drop_table("community_settings")
