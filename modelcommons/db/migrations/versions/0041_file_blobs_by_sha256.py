"""file_blobs indexed by sha256: the quarantine finds the git blob ids of unsafe blobs

Revision ID: 0041
Revises: 0017
"""

from alembic import op

revision = "0041"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_file_blobs_sha256", "file_blobs", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_file_blobs_sha256", table_name="file_blobs")
