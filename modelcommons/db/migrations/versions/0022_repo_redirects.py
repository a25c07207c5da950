"""Old names of moved repositories, which redirect to their new names

Revision ID: 0022
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "repo_redirects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("namespace", sa.String(length=96), nullable=False),
        sa.Column("name", sa.String(length=96), nullable=False),
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["repo_id"], ["repos.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_repo_redirects_repo_id", "repo_redirects", ["repo_id"])
    op.create_index(
        "uq_repo_redirects_name",
        "repo_redirects",
        ["kind", sa.text("lower(namespace)"), sa.text("lower(name)")],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_repo_redirects_name", table_name="repo_redirects")
    op.drop_index("ix_repo_redirects_repo_id", table_name="repo_redirects")
    op.drop_table("repo_redirects")
