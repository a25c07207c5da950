"""Contributor role and fine-grained tokens

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("repos") as batch:
        batch.add_column(sa.Column("created_by", sa.Integer(), nullable=True))
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("scopes", sa.Text(), nullable=True))
        batch.alter_column("role", type_=sa.String(length=16), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.alter_column("role", type_=sa.String(length=8), existing_nullable=False)
        batch.drop_column("scopes")
    with op.batch_alter_table("repos") as batch:
        batch.drop_column("created_by")
