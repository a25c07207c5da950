"""Post-commit pipeline steps, blob scans and scan policies

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_steps",
        sa.Column(
            "repo_id",
            sa.Integer(),
            sa.ForeignKey("repos.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("commit_oid", sa.String(40), primary_key=True),
        sa.Column("step", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("queued_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_pipeline_steps_status", "pipeline_steps", ["status"])
    op.create_table(
        "blob_scans",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("profile", sa.String(16), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False, server_default=""),
        sa.Column("scanner_version", sa.String(32), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False, server_default=""),
        sa.Column("report", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("size", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("seconds", sa.Float(), nullable=False, server_default="0"),
        sa.Column("scanned_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_blob_scans_status", "blob_scans", ["status"])
    op.create_table(
        "scan_policies",
        sa.Column("namespace", sa.String(96), primary_key=True),
        sa.Column("policy", sa.String(12), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("scan_policies")
    op.drop_index("ix_blob_scans_status", table_name="blob_scans")
    op.drop_table("blob_scans")
    op.drop_index("ix_pipeline_steps_status", table_name="pipeline_steps")
    op.drop_table("pipeline_steps")
