"""file_blobs indexed by sha256: the quarantine finds the git blob ids of unsafe blobs

Revision ID: 0025
Revises: 0024
"""

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_file_blobs_sha256", "file_blobs", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_file_blobs_sha256", table_name="file_blobs")
